"""The stylisation objective: Gatys content + style + TV, Ruder's temporal and Li's Laplacian term, and its gradient.

One :class:`StyleObjective` is built per run around one :class:`~transfer.features.FeatureExtractor`.
Per-frame data (content target, style Grams, warped earlier frames, certainties, weights) is passed in as
tensors, so the compiled ``tf.function`` is traced once and reused for every frame and every weight choice.

That one graph has every size unknown (an explicit input signature), so a call's result depends on its inputs only,
never on the sizes evaluated before it. With ``reduce_retracing`` instead, TensorFlow traced a first graph for the
first call's exact shapes and a shape-relaxed one once the shapes changed (a video's first frame has no warped
earlier frame, K = 0; later frames K = 1; the pyramid's coarse level another size), and the two graphs' gradients
differ in the last bits. A video run resumed in a new process starts at a later frame, so it used the exact-shape
graph where the uninterrupted run used the relaxed one, and L-BFGS amplified the last-bit differences into frames
one grey level off (on 2 % of the pixels of a test clip's last frame).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from transfer import losses
from transfer.features import FeatureExtractor

LOSS_PARTS = ("content", "style", "tv", "temporal", "laplacian")
#: The Laplacian term's pool is the content width divided by this (4 px at 256 px wide): twice the blur of
#: :mod:`media.structure`, whose measure it serves.
LAPLACIAN_WIDTH_DIVISOR = 64.0
#: Pixels of mirrored image added on every side before the VGG pass; the features are cropped back to the image's
#: own extent (a multiple of block 5's stride of 16, so every layer crops whole cells). VGG's 'same' convolutions pad
#: with zeros, the mean colour in VGG-preprocessed space; seen against that frame, the optimisation painted a band
#: about 4 px wide along the edges (vtest's first frame at 256x192, 40 iterations: outer 4 px 8.9 grey levels darker
#: than the next 8 on average over the four sides, left 56.7 against 70.7; with the margin 0.6 brighter, left 62.8
#: against 65.6). It costs the pixels it adds: a 384x288 pass took 1.21x as long in float32 under
#: ONEDNN_MAX_CPU_ISA=AVX2 and 1.53x in bfloat16 on AVX-512 BF16 (2 Zen 4 cores, shared). 0 turns it off.
#: Where that goes (process CPU seconds per pass at 384x288, back to back in one process, 2 Zen 4 cores): bfloat16
#: 0.68 s without the margin, 0.97-1.00 s with it, 0.81-0.83 s for a 416x320 frame without it; float32 under
#: ONEDNN_MAX_CPU_ISA=AVX2 1.39, 1.89 and 1.67 s. So the added pixels cost 1.19-1.21x and cropping the six feature
#: maps (with their gradients) the rest. Padding with tf.pad(mode="SYMMETRIC") instead of the gather (1.44x) or
#: casting to float32 before the crop (1.46x) did not change it; leaving the Gram layers uncropped (1.22x) would,
#: but then the margin's mirrored cells count in the style statistics.
DEFAULT_BORDER = 16


def laplacian_pool(width: int) -> int:
    """Return the Laplacian term's cell size in pixels for a content image ``width`` pixels wide (at least 1)."""
    return max(1, round(width / LAPLACIAN_WIDTH_DIVISOR))


@dataclass(frozen=True)
class LossWeights:
    """Weights of the loss terms.

    Style, TV and temporal follow ``artistic-videos`` (TV rescaled to this project's term). ``laplacian`` weights Li
    et al. 2017's Laplacian term (:func:`transfer.losses.laplacian_loss`), which keeps the subject's shapes; with it
    the content term needs only a fifth of ``artistic-videos``' weight of 5. ``content=5, laplacian=0`` are the
    defaults before issue 12.
    """

    content: float = 1.0
    style: float = 100.0
    tv: float = 1e-3
    temporal: float = 0.0
    laplacian: float = 0.3

    def as_tensor(self) -> tf.Tensor:
        return tf.constant([self.content, self.style, self.tv, self.temporal, self.laplacian], tf.float32)


@dataclass(frozen=True)
class Targets:
    """What one image is optimised towards.

    Attributes:
        content: (1, h, w, C) features of the content image at the content layer.
        grams: ``{layer: (1, C, C)}`` style Gram matrices (already blended across styles).
        warped: (K, H, W, 3) earlier stylised frames warped into this frame, VGG-preprocessed; K may be 0.
        certainty: (K, H, W, 1) their per-pixel weights in [0, 1].
        laplacian: (1, H', W', 1) pooled luminance Laplacian of the content image; laplacian_pool: the int32 scalar
            cell size that made it (:func:`laplacian_pool` of the width).
    """

    content: tf.Tensor
    grams: Mapping[str, tf.Tensor]
    warped: tf.Tensor = field(default=None)  # type: ignore[assignment]
    certainty: tf.Tensor = field(default=None)  # type: ignore[assignment]
    laplacian: tf.Tensor = field(default=None)  # type: ignore[assignment]
    laplacian_pool: tf.Tensor = field(default=None)  # type: ignore[assignment]


def layer_stride(name: str) -> int:
    """Return the stride in pixels of a VGG16 layer named ``blockN_...`` (``2 ** (N - 1)``)."""
    return 2 ** (int(name.split("_")[0].removeprefix("block")) - 1)


def framed_features(extractor: FeatureExtractor, x: tf.Tensor, border: int) -> dict[str, tf.Tensor]:
    """Return ``{layer: (B, h_l, w_l, C_l)}`` features (compute dtype) of a (B, H, W, 3) image that is first mirrored
    ``border`` pixels out on every side (edge pixel repeated, any image size), each cropped back to the image's own
    extent (``border / stride`` cells). ``border`` must be a multiple of every layer's stride (16 for block 5); with
    0 this is ``extractor.raw(x)``.

    The margin is gathered by index rather than ``tf.pad(mode="REFLECT")``, which needs a margin smaller than the
    image and would need a ``tf.cond`` for small ones, inside which the float32 pass's custom-gradient convolutions
    fail to differentiate.
    """
    if border == 0:
        return extractor.raw(x)
    shape = tf.shape(x)
    padded = tf.gather(tf.gather(x, _mirrored(shape[1], border), axis=1), _mirrored(shape[2], border), axis=2)
    out = {}
    for name, value in extractor.raw(padded).items():
        cut = border // layer_stride(name)
        out[name] = value[:, cut:tf.shape(value)[1] - cut, cut:tf.shape(value)[2] - cut, :]
    return out


def _mirrored(n: tf.Tensor, border: int) -> tf.Tensor:
    """Return the int32 indices ``-border .. n + border - 1`` folded back into ``0 .. n - 1`` by mirroring."""
    period = 2 * n
    i = tf.math.floormod(tf.range(-border, n + border), period)
    return tf.where(i >= n, period - 1 - i, i)


class StyleObjective:
    """Loss and gradient of an image w.r.t. :class:`Targets`; holds no per-frame state.

    Args:
        extractor: built with (at least) ``content_layer`` and the keys of ``style_layer_weights``.
        content_layer: e.g. ``block4_conv2``.
        style_layer_weights: ``{layer: weight}``, e.g. 1.0 for each of ``block1_conv1..block5_conv1``.
        border: mirrored margin of the VGG pass in pixels (:func:`framed_features`, :data:`DEFAULT_BORDER`), for the
            optimised image and the content target alike; the style image's Grams are taken as they are.
    """

    def __init__(self, extractor: FeatureExtractor, content_layer: str, style_layer_weights: Mapping[str, float],
                 border: int = DEFAULT_BORDER):
        if border < 0 or border % 16:
            raise ValueError(f"border must be a non-negative multiple of 16 pixels, got {border}")
        self.extractor = extractor
        self.border = border
        self.content_layer = content_layer
        self.style_layer_weights = dict(style_layer_weights)
        image = tf.TensorSpec((None, None, None, 3), tf.float32)
        signature = (
            image,
            tf.TensorSpec((None, None, None, None), tf.float32),  # content target
            {name: tf.TensorSpec((None, None, None), tf.float32) for name in self.style_layer_weights},
            image,  # warped, (K, H, W, 3)
            tf.TensorSpec((None, None, None, 1), tf.float32),  # certainty
            tf.TensorSpec((None, None, None, 1), tf.float32),  # content Laplacian
            tf.TensorSpec((), tf.int32),  # its cell size
            tf.TensorSpec((len(LOSS_PARTS),), tf.float32),
        )
        self._value_and_grad = tf.function(self._value_and_grad_eager, input_signature=signature)

    def content_features(self, x: np.ndarray | tf.Tensor) -> tf.Tensor:
        """Return (1, h, w, C) content-layer features of a VGG-preprocessed (1, H, W, 3) image."""
        feats = framed_features(self.extractor, tf.convert_to_tensor(x, tf.float32), self.border)
        return tf.cast(feats[self.content_layer], tf.float32)

    def style_grams(self, x: np.ndarray | tf.Tensor) -> dict[str, tf.Tensor]:
        """Return ``{layer: (1, C, C)}`` Gram matrices of a VGG-preprocessed (1, H, W, 3) style image."""
        feats = self.extractor(tf.convert_to_tensor(x, tf.float32))
        return {name: losses.gram_matrix(feats[name]) for name in self.style_layer_weights}

    def targets(self, content: np.ndarray, grams: Mapping[str, tf.Tensor], warped=None, certainty=None) -> Targets:
        """Bundle targets for a (1, H, W, 3) content image; ``warped``/``certainty`` default to K = 0."""
        h, w = content.shape[1:3]
        if warped is None:
            warped = np.zeros((0, h, w, 3), np.float32)
            certainty = np.zeros((0, h, w, 1), np.float32)
        pool = tf.constant(laplacian_pool(w), tf.int32)
        return Targets(
            content=self.content_features(content),
            grams=dict(grams),
            warped=tf.convert_to_tensor(warped, tf.float32),
            certainty=tf.convert_to_tensor(certainty, tf.float32),
            laplacian=losses.laplacian(tf.convert_to_tensor(content, tf.float32), pool),
            laplacian_pool=pool,
        )

    def value_and_grad(
        self, x: np.ndarray | tf.Tensor, targets: Targets, weights: LossWeights
    ) -> tuple[float, np.ndarray, dict[str, float]]:
        """Return (total loss, gradient (1, H, W, 3) float32, ``{part: weighted loss}``) at image ``x``."""
        x = tf.convert_to_tensor(x, tf.float32)
        grams = {name: tf.convert_to_tensor(targets.grams[name], tf.float32) for name in self.style_layer_weights}
        total, grad, parts = self._value_and_grad(
            x, tf.convert_to_tensor(targets.content, tf.float32), grams, targets.warped, targets.certainty,
            targets.laplacian, targets.laplacian_pool, weights.as_tensor(),
        )
        return float(total), grad.numpy(), {k: float(v) for k, v in zip(LOSS_PARTS, parts.numpy(), strict=True)}

    def _value_and_grad_eager(self, x, content_target, grams, warped, certainty, laplacian, pool, w):
        with tf.GradientTape() as tape:
            tape.watch(x)
            # the Grams take the compute dtype, the content term float32
            feats = framed_features(self.extractor, x, self.border)
            own_grams = {name: losses.gram_matrix(feats[name]) for name in self.style_layer_weights}
            parts = tf.stack(
                [
                    w[0] * losses.content_loss(tf.cast(feats[self.content_layer], tf.float32), content_target),
                    w[1] * losses.style_loss(own_grams, grams, self.style_layer_weights),
                    w[2] * losses.total_variation(x),
                    w[3] * losses.temporal_loss(x, warped, certainty),
                    w[4] * losses.laplacian_loss(x, laplacian, pool),
                ]
            )
            total = tf.reduce_sum(parts)
        return total, tape.gradient(total, x), parts
