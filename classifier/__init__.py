"""Painting-vs-photo classifier on VGG16: train it, evaluate it, classify images, export its backbone.

Entry points (each takes a frozen config and returns a frozen result):

- :func:`classifier.finetune.finetune` (``FinetuneConfig``) -> ``FinetuneResult``; writes ``classifier.keras``,
  ``backbone.weights.h5``, ``finetune.json``;
- :func:`classifier.evaluate.evaluate` (``EvaluateConfig``) -> ``EvaluateResult``; writes ``metrics.json``,
  ``predictions.csv``, PNGs;
- :func:`classifier.predict.classify` (``ClassifyConfig``) -> ``[(path, P(painting))]``.

Modules: ``data`` (manifest / folder tree -> checked, split table), ``pipeline`` (tf.data), ``model`` (trunk,
block 5 + head, export), ``cache`` (frozen-trunk features on disk), ``metrics`` and ``plots`` (no TensorFlow:
the notebook uses them).
"""
