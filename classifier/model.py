"""The painting-vs-photo network: a frozen VGG16 trunk (blocks 1-4), a trainable block 5 and a small head.

Split in two Keras models so that the frozen part can be cached (:mod:`classifier.cache`):

- ``trunk``: ``(B, S, S, 3)`` VGG input -> ``block4_pool`` ``(B, S/16, S/16, 512)`` and ``texture``
  ``(B, 1920)``: log1p of per-channel mean and standard deviation of ``block1..4_conv1`` (how "painted" the
  strokes and surfaces look, largely independent of what is shown);
- ``top``: ``(block4_pool, texture)`` -> block 5 (``block5_conv1..3``, ``block5_pool``) -> global average pooling
  and block5_conv1's channel statistics, beside the (normalised) texture vector -> dropout -> dense -> sigmoid.

``build_classifier`` chains them into one model from VGG input to P(painting); its ``block{b}_conv{c}``
layers are what :func:`transfer.backbone.load_backbone` finds in a saved ``.keras`` file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from keras import ops

from paintvid.atomic import atomic_write

TEXTURE_LAYERS: tuple[str, ...] = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1")
TRUNK_OUTPUT = "block4_pool"
BLOCK5_LAYERS: tuple[str, ...] = ("block5_conv1", "block5_conv2", "block5_conv3")
FROZEN_LAYERS: tuple[str, ...] = tuple(
    f"block{b}_conv{c}" for b, n in ((1, 2), (2, 2), (3, 3), (4, 3)) for c in range(1, n + 1)
)
TEXTURE_DIM = 2 * (64 + 128 + 256 + 512)


@keras.saving.register_keras_serializable(package="paintvid")
class ChannelStats(keras.layers.Layer):
    """``(B, H, W, C)`` -> ``(B, 2C)``: ``log1p`` of each channel's spatial mean, then of its standard deviation.

    The log compresses the heavy tail of ReLU activations so that a linear head sees comparable scales.
    """

    def call(self, x):
        x = ops.cast(x, "float32")
        mean = ops.mean(x, axis=(1, 2))
        var = ops.mean(ops.square(x - mean[:, None, None, :]), axis=(1, 2))
        return ops.concatenate([ops.log1p(mean), ops.log1p(ops.sqrt(var + 1e-6))], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 2 * input_shape[-1])


@dataclass(frozen=True)
class HeadConfig:
    """Head options: dropout rate, L2 weight of the dense layer, and whether texture statistics are used."""

    dropout: float = 0.5
    l2: float = 1e-3
    texture: bool = True


def build_trunk(backbone, image_size: int) -> keras.Model:
    """Return the frozen trunk for ``(image_size, image_size, 3)`` inputs, weights copied from ``backbone``."""
    vgg = keras.applications.VGG16(include_top=False, weights=None, input_shape=(image_size, image_size, 3))
    for name in FROZEN_LAYERS:
        vgg.get_layer(name).set_weights(backbone.get_layer(name).get_weights())
    stats = [ChannelStats(name=f"{name}_stats")(vgg.get_layer(name).output) for name in TEXTURE_LAYERS]
    texture = keras.layers.Concatenate(name="texture")(stats)
    trunk = keras.Model(vgg.input, [vgg.get_layer(TRUNK_OUTPUT).output, texture], name="trunk")
    trunk.trainable = False
    return trunk


def build_top(backbone, trunk_shape: tuple[int, int, int], head: HeadConfig = HeadConfig()) -> keras.Model:
    """Return block 5 plus the head, mapping ``[block4_pool, texture]`` to ``(B, 1)`` P(painting).

    Block 5 starts from ``backbone``'s weights. The two ``Normalization`` layers (``deep_norm``,
    ``texture_norm``) start as identity; call :func:`adapt_normalization` before training.
    """
    block4 = keras.Input(trunk_shape, name="block4_pool")
    texture = keras.Input((TEXTURE_DIM,), name="texture")
    x = block4
    conv1 = None
    for name in BLOCK5_LAYERS:
        source = backbone.get_layer(name)
        layer = keras.layers.Conv2D(source.filters, 3, padding="same", activation="relu", name=name)
        x = layer(x)
        layer.set_weights(source.get_weights())
        conv1 = x if conv1 is None else conv1
    x = keras.layers.MaxPooling2D(2, 2, name="block5_pool")(x)
    deep = keras.layers.Concatenate(name="deep")([
        keras.layers.GlobalAveragePooling2D(name="gap")(x),
        ChannelStats(name="block5_conv1_stats")(conv1),
    ])
    parts = [keras.layers.Normalization(name="deep_norm")(deep)]
    if head.texture:
        parts.append(keras.layers.Normalization(name="texture_norm")(texture))
    features = keras.layers.Concatenate(name="features")(parts) if len(parts) > 1 else parts[0]
    features = keras.layers.Dropout(head.dropout, name="dropout")(features)
    prob = keras.layers.Dense(1, activation="sigmoid", name="painting",
                              kernel_regularizer=keras.regularizers.L2(head.l2))(features)
    return keras.Model([block4, texture], prob, name="top")


#: Smallest variance a normalised feature may have: a channel that happens to be silent on the adaptation
#: sample would otherwise be divided by ~0 and blow up the logits of images where it fires.
VARIANCE_FLOOR = 1e-2


def adapt_normalization(top: keras.Model, block4: np.ndarray, texture: np.ndarray, batch_size: int = 32) -> None:
    """Set the head's normalisation layers to the mean/variance of the given training features."""
    deep_model = keras.Model(top.inputs, top.get_layer("deep").output)
    deep = deep_model.predict([block4, texture], batch_size=batch_size, verbose=0)
    _adapt(top.get_layer("deep_norm"), deep)
    if "texture_norm" in {layer.name for layer in top.layers}:
        _adapt(top.get_layer("texture_norm"), np.asarray(texture, np.float32))


def _adapt(layer, values: np.ndarray) -> None:
    layer.adapt(values)
    layer.adapt_variance.assign(np.maximum(np.asarray(layer.adapt_variance), VARIANCE_FLOOR))
    layer.finalize_state()


def set_block5_trainable(top: keras.Model, trainable: bool) -> None:
    """Freeze or unfreeze block 5 (the head stays trainable); recompile afterwards."""
    for name in BLOCK5_LAYERS:
        top.get_layer(name).trainable = trainable


def build_classifier(trunk: keras.Model, top: keras.Model) -> keras.Model:
    """Return the end-to-end model: ``(B, S, S, 3)`` VGG-preprocessed BGR -> ``(B, 1)`` P(painting)."""
    image = keras.Input(trunk.input_shape[1:], name="image")
    block4, texture = trunk(image)
    return keras.Model(image, top([block4, texture]), name="painting_classifier")


def load_classifier(path: str | Path) -> keras.Model:
    """Load a saved classifier ``.keras`` (registers :class:`ChannelStats` by importing this module)."""
    return keras.models.load_model(path, compile=False)


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
