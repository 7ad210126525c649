"""Painting-vs-photo classifier: fine-tune VGG16 block 5, evaluate, export the backbone for stylisation.

Entry points (each takes a frozen config):

- :func:`classifier.finetune.finetune` (``FinetuneConfig``) -> ``classifier.keras``, ``backbone.weights.h5``,
  ``finetune.json``;
- :func:`classifier.evaluate.evaluate` (``EvaluateConfig``) -> ``metrics.json``, ``predictions.csv``, PNGs;
- :func:`classifier.predict.classify` (``ClassifyConfig``) -> ``[(path, P(painting))]``.

Modules: ``data`` (manifest / folder tree -> checked, split table), ``pipeline`` (tf.data), ``model`` (trunk,
block 5 + head, export), ``cache`` (frozen-trunk features on disk), ``metrics`` and ``plots``.
"""
