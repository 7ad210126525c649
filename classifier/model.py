"""The painting-vs-photo network: a frozen VGG16 trunk (blocks 1-4), block 5 and a linear texture head.

Split in two Keras models so that the frozen part can be cached (:mod:`classifier.cache`):

- ``trunk``: ``(B, S, S, 3)`` VGG input -> ``block4_pool`` ``(B, S/16, S/16, 512)`` and ``texture``
  ``(B, TEXTURE_DIM)``: log1p of per-channel mean and standard deviation of every conv layer of blocks 1-4, then
  the correlations between the channels of each block's first conv (:data:`CORRELATION_LAYERS`; Gatys et al.'s Gram
  matrix with each channel's scale divided out): how "painted" strokes and surfaces look, largely independent of
  what is shown and, for the correlations, of how bright or saturated it is;
- ``top``: ``(block4_pool, texture)`` -> block 5 (``block5_conv1..3``) -> channel statistics of the three block-5
  convs (and, optionally, global average pooling of ``block5_pool``) beside the texture vector ->
  ``features`` -> normalisation -> dropout -> dense -> sigmoid.

Statistics of all conv layers beat pooled block-5 features by a wide margin on grouped cross-validation
(``benchmarks/classifier.py``), and pooled block 5 is the most subject-bound cue, so it is off by default.

``build_classifier`` chains them into one model from VGG input to P(painting) (optionally averaging the image and
its mirror image; the default recipe averages views outside the model instead, :mod:`classifier.predict`); its
``block{b}_conv{c}`` layers are what :func:`transfer.backbone.load_backbone` finds in a saved ``.keras`` file.
:class:`L2SP` is the training-time penalty that keeps fine-tuned block-5 weights near their start.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from keras import ops

from foundation.atomic import atomic_write
from foundation.cpu import native_bfloat16
from foundation.errors import UserError

TRUNK_OUTPUT = "block4_pool"
BLOCK5_LAYERS: tuple[str, ...] = ("block5_conv1", "block5_conv2", "block5_conv3")
FROZEN_LAYERS: tuple[str, ...] = tuple(
    f"block{b}_conv{c}" for b, n in ((1, 2), (2, 2), (3, 3), (4, 3)) for c in range(1, n + 1)
)
#: Layers whose channel statistics form the trunk's texture vector: every conv of blocks 1-4.
TEXTURE_LAYERS: tuple[str, ...] = FROZEN_LAYERS
#: Layers whose channel correlations join the texture vector, each with the number of channels it is projected
#: onto first (a fixed random orthonormal basis; None keeps every channel): 64, 128, 96 and 96 channels. The first
#: conv of each block: on the shared images' grouped CV (head only) they scored 94.0 % / AUC 0.978, the last conv
#: of each block 92.7 % / 0.972, both sets together 94.0 % / 0.978 (README, classifier section).
CORRELATION_LAYERS: dict[str, int | None] = {"block1_conv1": None, "block2_conv1": None, "block3_conv1": 96,
                                             "block4_conv1": 96}
_BLOCK_CHANNELS = {"block1": 64, "block2": 128, "block3": 256, "block4": 512}


def _channels(layer: str) -> int:
    """Return the number of channels of VGG16 conv ``layer`` (``block{b}_conv{c}``, blocks 1-4)."""
    return _BLOCK_CHANNELS[layer.split("_")[0]]


#: The texture vector: channel statistics (mean and deviation of every texture layer), then the correlations
#: (each pair of projected channels once).
STATS_DIM = 2 * sum(_channels(name) for name in TEXTURE_LAYERS)
_CORRELATED = [k or _channels(name) for name, k in CORRELATION_LAYERS.items()]
TEXTURE_DIM = STATS_DIM + sum(k * (k - 1) // 2 for k in _CORRELATED)


def _flat(x):
    """``(B, H, W, C)`` -> float32 ``(B, N, C)`` pixels, ``N = H W``."""
    return ops.reshape(ops.cast(x, "float32"), (ops.shape(x)[0], -1, ops.shape(x)[-1]))


def _spatial_mean(flat):
    """``(B, N, C)`` -> ``(B, C)``: the mean over ``N``.

    A matrix product with a ``1/N`` row rather than a reduction: TensorFlow's CPU reductions over the spatial
    axes of the large block-1/2 maps were the trunk's bottleneck; the product runs about twice as fast and agrees
    to float32 rounding.
    """
    n = ops.shape(flat)[1]
    row = ops.ones((ops.shape(flat)[0], 1, n), "float32") / ops.cast(n, "float32")
    return ops.squeeze(ops.matmul(row, flat), 1)


@keras.saving.register_keras_serializable(package="paintvid")
class ChannelStats(keras.layers.Layer):
    """``(B, H, W, C)`` -> ``(B, 2C)``: ``log1p`` of each channel's spatial mean, then of its standard deviation.

    The log compresses the heavy tail of ReLU activations so that a linear head sees comparable scales. Mean and
    mean square come from one pass each (``var = E[x^2] - E[x]^2``, clipped at 0): ReLU responses have a
    deviation comparable to their mean, so the difference loses nothing visible in float32.
    """

    def call(self, x):
        mean, var = self.moments(x)
        return ops.concatenate([ops.log1p(mean), ops.log1p(ops.sqrt(var + 1e-6))], axis=-1)

    def moments(self, x):
        """``(B, H, W, C)`` -> float32 ``(B, C)`` spatial mean and variance of each channel."""
        flat = _flat(x)
        mean = _spatial_mean(flat)
        return mean, ops.maximum(_spatial_mean(ops.square(flat)) - ops.square(mean), 0.0)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 2 * input_shape[-1])


@keras.saving.register_keras_serializable(package="paintvid")
class ChannelCorrelation(keras.layers.Layer):
    """``(B, H, W, C)`` -> ``(B, K (K - 1) / 2)``: the spatial correlation of every pair of channels, in [-1, 1].

    The channels are first projected onto ``projection`` directions (a fixed random orthonormal ``(C, K)`` basis
    drawn from ``seed``, stored with the model; ``None``: the identity, every channel kept). A correlation is the Gram
    matrix of the centred features with each channel's deviation divided out, so it keeps how responses co-occur
    (the texture) and drops their scale, which brightness, contrast and saturation move.
    """

    def __init__(self, projection: int | None = None, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.projection, self.seed = projection, int(seed)

    def build(self, input_shape):
        channels = int(input_shape[-1])
        k = self.projection or channels
        if self.projection is None:
            basis = np.eye(channels)
        else:
            basis = np.linalg.qr(np.random.default_rng(self.seed).standard_normal((channels, k)))[0]
        self.basis = self.add_weight(name="basis", shape=(channels, k), trainable=False,
                                     initializer=keras.initializers.Constant(basis.astype(np.float32)))
        self.pairs = np.stack(np.triu_indices(k, 1), axis=1)

    def call(self, x):
        gram = self.covariance(x)
        scale = ops.sqrt(ops.diagonal(gram, axis1=1, axis2=2) + 1e-6)
        corr = gram / (scale[:, :, None] * scale[:, None, :])
        k = corr.shape[-1]
        return ops.take(ops.reshape(corr, (-1, k * k)), self.pairs[:, 0] * k + self.pairs[:, 1], axis=1)

    def covariance(self, x):
        """``(B, H, W, C)`` -> float32 ``(B, K, K)``: the spatial covariance of the projected channels, as
        ``E[x x^T] - E[x] E[x]^T`` (no centred copy of the map)."""
        flat = _flat(x)
        if self.projection is not None:  # the identity basis (kept for saved models) would only copy the map
            flat = flat @ self.basis
        mean = _spatial_mean(flat)
        n = ops.cast(ops.shape(flat)[1], "float32")
        return ops.matmul(ops.transpose(flat, (0, 2, 1)), flat) / n - mean[:, :, None] * mean[:, None, :]

    def compute_output_shape(self, input_shape):
        k = self.projection or int(input_shape[-1])
        return (input_shape[0], k * (k - 1) // 2)

    def get_config(self) -> dict:
        return {**super().get_config(), "projection": self.projection, "seed": self.seed}


@dataclass(frozen=True)
class HeadConfig:
    """Head options.

    Attributes:
        dropout: dropout rate on the normalised features.
        l2: L2 weight of the dense layer (with mean cross-entropy, ``1 / (2 C n)`` of a logistic regression).
        texture: the head sees the blocks 1-4 texture statistics (besides block 5's).
        pooled: the head also sees global average pooling of ``block5_pool`` (subject-bound; off by default).
    """

    dropout: float = 0.2
    l2: float = 1e-3
    texture: bool = True
    pooled: bool = False


def trunk_precision() -> str:
    """Return the frozen trunk's Keras dtype policy on this CPU: ``mixed_bfloat16`` (bfloat16 convolutions, float32
    weights and statistics) where oneDNN computes bfloat16 natively (:func:`foundation.cpu.native_bfloat16`), where
    it ran 3.7x faster than float32 on 2 AVX-512 BF16 cores with block-4 activations within 0.8 % on average;
    ``float32`` elsewhere, since emulated bfloat16 is several times slower than float32 on an AVX2-only CPU."""
    return "mixed_bfloat16" if native_bfloat16() else "float32"


def build_trunk(backbone, image_size: int, precision: str | None = None) -> keras.Model:
    """Return the frozen trunk for ``(image_size, image_size, 3)`` inputs, weights copied from ``backbone``.

    ``precision`` is the Keras dtype policy of its layers (``mixed_bfloat16`` or ``float32``; default
    :func:`trunk_precision`); its outputs are cast to float32.
    """
    precision = precision or trunk_precision()
    with _global_policy(precision):
        vgg = keras.applications.VGG16(include_top=False, weights=None, input_shape=(image_size, image_size, 3))
    for name in FROZEN_LAYERS:
        vgg.get_layer(name).set_weights(backbone.get_layer(name).get_weights())
    # the statistics, their concatenation and the block-4 output are float32 layers (inputs cast up)
    stats = [ChannelStats(name=f"{name}_stats", dtype="float32")(vgg.get_layer(name).output)
             for name in TEXTURE_LAYERS]
    stats += [ChannelCorrelation(k, name=f"{name}_correlation", dtype="float32")(vgg.get_layer(name).output)
              for name, k in CORRELATION_LAYERS.items()]
    texture = keras.layers.Concatenate(name="texture", dtype="float32")(stats)
    block4 = keras.layers.Activation("linear", name="block4_out", dtype="float32")(vgg.get_layer(TRUNK_OUTPUT).output)
    trunk = keras.Model(vgg.input, [block4, texture], name="trunk")
    trunk.trainable = False
    return trunk


@contextlib.contextmanager
def _global_policy(name: str):
    """Set Keras's global dtype policy to ``name`` inside the block (layers built there keep it)."""
    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(before)


def build_top(backbone, trunk_shape: tuple[int, int, int], head: HeadConfig = HeadConfig()) -> keras.Model:
    """Return block 5 plus the head, mapping ``[block4_pool, texture]`` to ``(B, 1)`` P(painting).

    Block 5 starts from ``backbone``'s weights. The ``Normalization`` layer ``feature_norm`` starts as identity;
    call :func:`adapt_normalization` before training. The layer ``features`` is the head's input vector.
    """
    block4 = keras.Input(trunk_shape, name="block4_pool")
    texture = keras.Input((TEXTURE_DIM,), name="texture")
    x = block4
    parts = [texture] if head.texture else []
    for name in BLOCK5_LAYERS:
        source = backbone.get_layer(name)
        layer = keras.layers.Conv2D(source.filters, 3, padding="same", activation="relu", name=name)
        x = layer(x)
        layer.set_weights(source.get_weights())
        parts.append(ChannelStats(name=f"{name}_stats")(x))
    if head.pooled:
        x = keras.layers.MaxPooling2D(2, 2, name="block5_pool")(x)
        parts.append(keras.layers.GlobalAveragePooling2D(name="gap")(x))
    features = keras.layers.Concatenate(name="features")(parts)
    prob = head_layers(head)(features)
    return keras.Model([block4, texture], prob, name="top")


def head_layers(head: HeadConfig):
    """Return a callable ``features -> P(painting)`` made of the named layers ``feature_norm``, ``dropout``,
    ``painting`` (created once, so that a model over cached feature vectors shares their weights)."""
    norm = keras.layers.Normalization(name="feature_norm")
    drop = keras.layers.Dropout(head.dropout, name="dropout")
    dense = keras.layers.Dense(1, activation="sigmoid", name="painting",
                               kernel_regularizer=keras.regularizers.L2(head.l2))
    return lambda features: dense(drop(norm(features)))


def feature_model(top: keras.Model) -> keras.Model:
    """Return ``[block4_pool, texture] -> features`` (the head's input) sharing ``top``'s layers."""
    return keras.Model(top.inputs, top.get_layer("features").output, name="features")


def head_model(top: keras.Model) -> keras.Model:
    """Return ``features (B, D) -> P(painting)`` built from ``top``'s own head layers (weights shared).

    Training it on cached feature vectors trains ``top``'s head without running block 5 at every step.
    """
    dim = int(top.get_layer("features").output.shape[-1])
    features = keras.Input((dim,), name="features_in")
    x = features
    for name in ("feature_norm", "dropout", "painting"):
        x = top.get_layer(name)(x)
    return keras.Model(features, x, name="head")


#: Smallest variance a normalised feature may have: a channel that happens to be silent on the adaptation
#: sample would otherwise be divided by ~0 and blow up the logits of images where it fires.
VARIANCE_FLOOR = 1e-2


def adapt_normalization(top: keras.Model, block4: np.ndarray | None = None, texture: np.ndarray | None = None,
                        batch_size: int = 32, features: np.ndarray | None = None) -> None:
    """Set the head's normalisation to the mean/variance of training features (given, or computed from the
    trunk outputs ``block4``, ``texture``)."""
    if features is None:
        features = feature_model(top).predict([block4, texture], batch_size=batch_size, verbose=0)
    _adapt(top.get_layer("feature_norm"), np.asarray(features, np.float32))


def _adapt(layer, values: np.ndarray) -> None:
    layer.adapt(values)
    layer.adapt_variance.assign(np.maximum(np.asarray(layer.adapt_variance), VARIANCE_FLOOR))
    layer.finalize_state()


class L2SP(keras.regularizers.Regularizer):
    """L2-SP penalty ``alpha * sum((w - w0)^2)``: pulls a weight toward its starting value ``w0`` (not toward 0),
    so that fine-tuning on a few thousand images keeps what ImageNet taught block 5."""

    def __init__(self, alpha: float, reference: np.ndarray):
        self.alpha = float(alpha)
        self.reference = ops.convert_to_tensor(np.asarray(reference, np.float32))

    def __call__(self, x):
        return self.alpha * ops.sum(ops.square(ops.cast(x, "float32") - self.reference))

    def get_config(self) -> dict:
        return {"alpha": self.alpha}


def set_l2sp(top: keras.Model, alpha: float, start: list[np.ndarray] | None = None) -> None:
    """Attach :class:`L2SP` toward ``start`` (block 5's ``[kernel, bias]`` per layer, in :data:`BLOCK5_LAYERS`
    order) to block 5's weights; ``alpha == 0`` removes it (done before export: the saved model carries none)."""
    for i, name in enumerate(BLOCK5_LAYERS):
        layer = top.get_layer(name)
        for j, variable in enumerate((layer.kernel, layer.bias)):
            variable.regularizer = L2SP(alpha, start[2 * i + j]) if alpha > 0 and start is not None else None


def set_block5_trainable(top: keras.Model, trainable: bool) -> None:
    """Freeze or unfreeze block 5 (the head stays trainable); recompile afterwards."""
    for name in BLOCK5_LAYERS:
        top.get_layer(name).trainable = trainable


@keras.saving.register_keras_serializable(package="paintvid")
class FlipLeftRight(keras.layers.Layer):
    """``(B, H, W, C)`` -> the same images mirrored left-right."""

    def call(self, x):
        return ops.flip(x, axis=2)


def build_classifier(trunk: keras.Model, top: keras.Model, tta: bool = True) -> keras.Model:
    """Return the end-to-end model: ``(B, S, S, 3)`` VGG-preprocessed BGR -> ``(B, 1)`` P(painting).

    With ``tta`` the output is the mean of the predictions for the image and its mirror image (so it is exactly
    mirror-invariant, and matches the cached evaluation, which averages views 0 and 1).
    """
    image = keras.Input(trunk.input_shape[1:], name="image")
    prob = top(list(trunk(image)))
    if tta:
        mirrored = top(list(trunk(FlipLeftRight(name="mirror")(image))))
        prob = keras.layers.Average(name="tta")([prob, mirrored])
    return keras.Model(image, prob, name="painting_classifier")


def load_classifier(path: str | Path) -> keras.Model:
    """Return the saved classifier ``.keras`` at ``path`` (this module registers its custom layers).

    Raises:
        UserError: the file is missing or cannot be loaded as a Keras model (one line naming the file).
    """
    if not Path(path).is_file():
        raise UserError(f"{path}: no such model file (run `make finetune` first)")
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:  # noqa: BLE001 - any load failure becomes one line naming the file
        raise UserError(f"{path}: cannot load classifier ({str(exc).splitlines()[0][:120]})") from None


def parts_of(classifier: keras.Model) -> tuple[keras.Model, keras.Model]:
    """Return ``(trunk, top)`` of a model made by :func:`build_classifier`."""
    return classifier.get_layer("trunk"), classifier.get_layer("top")


def backbone_from(trunk: keras.Model, top: keras.Model) -> keras.Model:
    """Return a ``VGG16(include_top=False)`` with blocks 1-4 from ``trunk`` and block 5 from ``top``."""
    vgg = keras.applications.VGG16(include_top=False, weights=None)
    for name in FROZEN_LAYERS:
        vgg.get_layer(name).set_weights(trunk.get_layer(name).get_weights())
    for name in BLOCK5_LAYERS:
        vgg.get_layer(name).set_weights(top.get_layer(name).get_weights())
    return vgg


def save_weights_atomic(model: keras.Model, path: str | Path) -> Path:
    """Write ``model.save_weights`` to ``path`` (must end in ``.weights.h5``) via write-then-rename."""

    def write(tmp: Path) -> None:
        # Keras insists on the '.weights.h5' ending, which atomic_write's temporary name lacks
        staged = tmp.with_name(tmp.name + ".weights.h5")
        try:
            model.save_weights(staged)
            os.replace(staged, tmp)
        finally:
            if staged.exists():
                staged.unlink()

    return atomic_write(path, write)


def save_model_atomic(model: keras.Model, path: str | Path) -> Path:
    """Write ``model.save`` (``.keras``) to ``path`` via write-then-rename."""
    return atomic_write(path, lambda tmp: model.save(tmp))
