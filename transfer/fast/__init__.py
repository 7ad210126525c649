"""Fast mode's network and its training: a feed-forward stylisation network (Johnson et al. 2016) trained with
temporal losses. Running it over a video is :mod:`video`'s job (``video.fast_runner``).

Modules, one job each:
- :mod:`transfer.fast.network` — the image transformation network (:class:`StyleNet`, :class:`NetworkSpec`,
  presets ``johnson`` and ``slim``) and its save/load helpers.
- :mod:`transfer.fast.warp_tf` — a differentiable bilinear backward warp in TensorFlow.
- :mod:`transfer.fast.losses` — the training objective (perceptual + temporal terms) as pure functions.
- :mod:`transfer.fast.motion` — synthetic motion (random affine / elastic) with exact flow and occlusion.
- :mod:`transfer.fast.data` — training pairs from image folders and videos, as a ``tf.data`` pipeline.
- :mod:`transfer.fast.train` — ``train_style(TrainConfig) -> TrainResult``: checkpoints, resume, logs, previews,
  export.
"""
