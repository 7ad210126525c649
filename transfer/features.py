"""Image <-> VGG input conversion and the feature extractor built once per run.

Colour order and range per layer of the code:
- files and OpenCV: ``(H, W, 3) uint8 BGR``;
- everything that touches VGG: ``(1, H, W, 3) float32`` VGG-preprocessed, i.e. BGR in [0, 255] minus
  :data:`VGG_MEAN_BGR`, so values lie in ``[-VGG_MEAN_BGR, 255 - VGG_MEAN_BGR]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

import numpy as np

from foundation.cpu import native_bfloat16
from transfer.backbone import VGG_MEAN_BGR

#: Gatys et al.'s style layers and the default content layer.
STYLE_LAYERS: tuple[str, ...] = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")
CONTENT_LAYER = "block4_conv2"
#: The original project's "layer 5" content option (conv5_2), kept for users who want looser content.
CONTENT_LAYER_DEEP = "block5_conv2"


class Precision(StrEnum):
    """Compute dtype of the VGG pass; losses, Gram matrices, the image and L-BFGS always stay float32 (or wider)."""

    FLOAT32 = "float32"
    BFLOAT16 = "bfloat16"


#: The default of every VGG pass and feed-forward network: bfloat16 where the CPU computes it natively
#: (:func:`foundation.cpu.native_bfloat16`: AVX-512 BF16 or AMX; there it ran the video path 1.86x faster with the
#: same style loss, 10.29 vs 10.39, warping error and look, issue 12), else float32 (on an AVX2-only CPU a bfloat16
#: VGG16 forward + backward pass took 9.8x as long as a float32 one).
DEFAULT_PRECISION = Precision.BFLOAT16 if native_bfloat16() else Precision.FLOAT32


def preprocess(image_bgr: np.ndarray) -> np.ndarray:
    """Return ``(1, H, W, 3) float32`` VGG input from ``(H, W, 3)`` uint8 (or float in [0, 255]) BGR."""
    if image_bgr.ndim != 3 or image_bgr.shape[2] != 3:
        raise ValueError(f"expected (H, W, 3) BGR image, got shape {image_bgr.shape}")
    return (image_bgr.astype(np.float32) - VGG_MEAN_BGR)[None]


def deprocess(x: np.ndarray) -> np.ndarray:
    """Return ``(H, W, 3) uint8 BGR`` from a ``(1, H, W, 3)`` or ``(H, W, 3)`` VGG-preprocessed array."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 4:
        x = x[0]
    return np.clip(np.rint(x + VGG_MEAN_BGR), 0, 255).astype(np.uint8)


def pixel_bounds() -> tuple[np.ndarray, np.ndarray]:
    """Return per-channel (low, high) bounds of a VGG-preprocessed image, shape (3,) each."""
    return -VGG_MEAN_BGR, 255.0 - VGG_MEAN_BGR


class FeatureExtractor:
    """Maps a VGG-preprocessed batch to ``{layer_name: activation}`` for the requested layers.

    Build it once per run (never per frame); calling it is cheap. Truncates VGG16 after the deepest
    requested layer.

    Args:
        backbone: a ``VGG16(include_top=False)`` from :func:`transfer.backbone.load_backbone`.
        layers: layer names such as ``block4_conv2``.
        precision: ``float32`` or ``bfloat16``. With ``bfloat16`` the convolutions run in bfloat16
            (about 1.9x faster on CPUs with AVX-512 BF16) and activations are cast back to float32, so Gram
            matrices and loss sums accumulate in float32 and the gradient reaches the image as float32.

    Call: ``extractor(x)`` with ``x`` of shape (B, H, W, 3) float32 VGG-preprocessed BGR returns a dict of
    (B, h_l, w_l, C_l) float32 tensors.
    """

    def __init__(self, backbone, layers: Sequence[str], precision: Precision | str = Precision.FLOAT32):
        import keras  # deferred: importing this module (its constants, Precision) stays TensorFlow-free

        self.layers = tuple(dict.fromkeys(layers))
        self.precision = Precision(precision)
        model = backbone
        if self.precision is Precision.BFLOAT16:
            model = _bfloat16_copy(backbone)
        unknown = [name for name in self.layers if name not in {layer.name for layer in model.layers}]
        if unknown:
            raise ValueError(f"unknown VGG16 layers: {unknown}")
        self.model = keras.Model(model.input, {name: model.get_layer(name).output for name in self.layers})

    def __call__(self, x):
        import tensorflow as tf  # deferred: see __init__

        return {name: tf.cast(value, tf.float32) for name, value in self.raw(x).items()}

    def raw(self, x):
        """Return ``{layer: (B, h_l, w_l, C_l)}`` in the compute dtype (bfloat16 under ``bfloat16``), for callers
        that cast where they need float32 (:func:`transfer.losses.gram_matrix` accumulates in float32 by itself)."""
        import tensorflow as tf  # deferred: see __init__

        if self.precision is Precision.BFLOAT16:
            x = tf.cast(x, tf.bfloat16)
        return dict(self.model(x, training=False))


def _bfloat16_copy(backbone):
    """Rebuild VGG16 with bfloat16 weights (the ``bfloat16`` policy), the same weights rounded once.

    Under ``mixed_bfloat16`` the weights stay float32 and every layer casts them on every call: 13 casts per pass,
    the same rounding each time (3 % of a 256 px loss pass's op time, issue 12). The backbone is frozen, so
    rounding them once gives the same numbers.
    """
    import keras  # deferred: see FeatureExtractor.__init__

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("bfloat16")
    try:
        model = keras.applications.VGG16(include_top=False, weights=None, input_shape=backbone.input_shape[1:])
    finally:
        keras.config.set_dtype_policy(previous)
    model.set_weights(backbone.get_weights())
    return model
