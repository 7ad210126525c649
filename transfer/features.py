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

from foundation.cpu import IsaClass, isa_class, native_bfloat16
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


class Convolutions(StrEnum):
    """Which oneDNN kernel runs the float32 VGG pass's 3x3 convolutions (bfloat16 always takes Keras' layers).

    ``keras``: Keras' ``Conv2D``, oneDNN's forward convolution. TensorFlow hands it the kernel in its plain
    (H, W, in, out) layout; on AVX-512 oneDNN's blocked-GEMM ("brgemm") kernel takes that layout, but on AVX2 it
    does not, and oneDNN falls back to an im2col GEMM that ran VGG16's convolutions at 24-80 GFLOP/s where the
    same machine's GEMM peak is 136 (2 Zen 4 cores under ``ONEDNN_MAX_CPU_ISA=AVX2``).

    ``backward-data``: every convolution, forward and gradient, as a backward-data convolution (a transposed
    convolution), which oneDNN runs with its AVX2 brgemm kernel at 95-114 GFLOP/s on the same cores. The forward
    uses the kernel flipped in space with its channel axes swapped, the gradient the kernel itself: the same
    products summed in another order (within 4e-6 of ``keras``, relative).
    """

    KERAS = "keras"
    BACKWARD_DATA = "backward-data"


def default_convolutions() -> Convolutions:
    """Return the faster :class:`Convolutions` for the kernels oneDNN runs here: ``backward-data`` below
    AVX-512 (:func:`foundation.cpu.isa_class`, ``ONEDNN_MAX_CPU_ISA`` included), ``keras`` otherwise (on AVX-512 both
    ran alike, so the layers as Keras builds them stay; older CPUs have no brgemm kernel either way)."""
    return Convolutions.BACKWARD_DATA if isa_class() is IsaClass.AVX2 else Convolutions.KERAS


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
        convolutions: which kernel runs a float32 pass (:class:`Convolutions`); default
            :func:`default_convolutions`, the faster one for this CPU. ``self.model`` is Keras' either way.

    Call: ``extractor(x)`` with ``x`` of shape (B, H, W, 3) float32 VGG-preprocessed BGR returns a dict of
    (B, h_l, w_l, C_l) float32 tensors.
    """

    def __init__(self, backbone, layers: Sequence[str], precision: Precision | str = Precision.FLOAT32,
                 convolutions: Convolutions | str | None = None):
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
        chosen = default_convolutions() if convolutions is None else Convolutions(convolutions)
        self.convolutions = Convolutions.KERAS if self.precision is Precision.BFLOAT16 else chosen
        backward_data = self.convolutions is Convolutions.BACKWARD_DATA
        self._plan = _backward_data_plan(model, self.layers) if backward_data else None

    def __call__(self, x):
        import tensorflow as tf  # deferred: see __init__

        return {name: tf.cast(value, tf.float32) for name, value in self.raw(x).items()}

    def raw(self, x):
        """Return ``{layer: (B, h_l, w_l, C_l)}`` in the compute dtype (bfloat16 under ``bfloat16``), for callers
        that cast where they need float32 (:func:`transfer.losses.gram_matrix` accumulates in float32 by itself)."""
        import tensorflow as tf  # deferred: see __init__

        if self.precision is Precision.BFLOAT16:
            x = tf.cast(x, tf.bfloat16)
        if self._plan is not None:
            return _run_plan(self._plan, tf.convert_to_tensor(x, tf.float32), self.layers)
        return dict(self.model(x, training=False))


def _backward_data_plan(model, layers: tuple[str, ...]) -> list[tuple]:
    """Return VGG16's layers up to the deepest of ``layers`` as ``("conv", name, kernel, flipped, bias)`` and
    ``("pool", name)`` steps with constant float32 tensors: ``kernel`` (3, 3, in, out) for the gradient, ``flipped``
    (3, 3, out, in), the kernel turned 180 degrees with its channel axes swapped, for the forward pass."""
    import tensorflow as tf  # deferred: see FeatureExtractor.__init__

    plan: list[tuple] = []
    remaining = set(layers)
    for layer in model.layers:
        if not remaining:
            break
        kind = type(layer).__name__
        if kind == "Conv2D":
            if layer.kernel_size != (3, 3) or layer.strides != (1, 1) or layer.padding != "same":
                raise ValueError(f"{layer.name}: only 3x3, stride 1, 'same' convolutions run as backward-data")
            kernel, bias = (np.asarray(w, np.float32) for w in layer.get_weights())
            flipped = np.ascontiguousarray(kernel[::-1, ::-1].transpose(0, 1, 3, 2))
            plan.append(("conv", layer.name, tf.constant(kernel), tf.constant(flipped), tf.constant(bias)))
        elif kind == "MaxPooling2D":
            plan.append(("pool", layer.name))
        remaining.discard(layer.name)
    return plan


def _run_plan(plan: list[tuple], x, layers: tuple[str, ...]) -> dict:
    """Return ``{layer: activation}`` of ``x`` (B, H, W, 3) float32 through a :func:`_backward_data_plan`: ReLU
    after each convolution, 2x2 max pooling (stride 2, 'valid'), as Keras' VGG16."""
    import tensorflow as tf  # deferred: see FeatureExtractor.__init__

    out = {}
    for step in plan:
        if step[0] == "conv":
            _, name, kernel, flipped, bias = step
            x = tf.nn.relu(tf.nn.bias_add(_conv3x3(x, kernel, flipped), bias))
        else:
            name = step[1]
            x = tf.nn.max_pool2d(x, 2, 2, "VALID")
        if name in layers:
            out[name] = x
    return out


def _conv3x3(x, kernel, flipped):
    """Return the 3x3 'same' convolution of ``x`` (B, H, W, in) with ``kernel`` (3, 3, in, out), and its gradient
    with respect to ``x``, both as backward-data convolutions (:class:`Convolutions`); no gradient for the kernel
    (the backbone is frozen)."""
    import tensorflow as tf  # deferred: see FeatureExtractor.__init__

    @tf.custom_gradient
    def conv(inputs):
        shape = tf.concat([tf.shape(inputs)[:3], tf.shape(kernel)[3:]], 0)
        out = tf.nn.conv2d_transpose(inputs, flipped, shape, 1, "SAME")

        def grad(upstream):
            return tf.nn.conv2d_transpose(upstream, kernel, tf.shape(inputs), 1, "SAME")

        return out, grad

    return conv(x)


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
