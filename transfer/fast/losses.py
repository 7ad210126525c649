"""The training objective of the fast network: perceptual terms of the optimisation path plus temporal terms.

Pure functions of tensors; the project's :mod:`transfer.losses` supplies every term, this module only wires
them for a batch of network outputs. Images here are ``(B, H, W, 3) float32`` BGR in [0, 255] (network space);
they are shifted to VGG input (minus :data:`~transfer.backbone.VGG_MEAN_BGR`) only to call the extractor.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import tensorflow as tf

from transfer import losses
from transfer.backbone import VGG_MEAN_BGR
from transfer.fast.warp_tf import downscale_flow, warp

PARTS = ("content", "style", "tv", "temporal", "temporal_features")


#: Default weight of the output temporal loss in training. Measured with the ``FAST=1`` recipe (300 steps) and
#: judged by the warping error on ``tree.avi``: 0 -> 0.0037, 10 -> 0.0025, 100 -> 0.0014, the style loss rising by
#: roughly 40-50 % for both non-zero weights; 30 sits between them. (0.1 was far too weak: under 0.1 % of the total.)
TEMPORAL_WEIGHT = 30.0


@dataclass(frozen=True)
class FastLossWeights:
    """Weights of the training terms (content, style and TV as in :class:`transfer.objective.LossWeights`).

    ``temporal`` weighs ``c * (f(I_t) - warp(f(I_{t-1})))^2`` on the output (per element, [0, 255] scale);
    ``temporal_features`` the same on the network's bottleneck features (ReCoNet); 0 switches a term off.
    """

    content: float = 5.0
    style: float = 100.0
    tv: float = 1e-3
    temporal: float = 0.0
    temporal_features: float = 0.0


@dataclass(frozen=True)
class PerceptualTarget:
    """What the perceptual terms compare a batch with: the VGG extractor and the style's targets.

    Attributes:
        extractor: maps VGG input to ``{layer: (B, h, w, C)}`` (a :class:`transfer.features.FeatureExtractor`).
        style_grams: ``{layer: (1, C, C)}`` target Gram matrices of the style.
        content_layer: the layer of the content term; style_layer_weights: ``{layer: weight}`` of the style term.
    """

    extractor: Callable[[tf.Tensor], Mapping[str, tf.Tensor]]
    style_grams: Mapping[str, tf.Tensor]
    content_layer: str
    style_layer_weights: Mapping[str, float]


def to_vgg(images: tf.Tensor) -> tf.Tensor:
    """Return VGG input (BGR minus mean) from ``(B, H, W, 3)`` float32 BGR in [0, 255]."""
    return tf.cast(images, tf.float32) - tf.constant(VGG_MEAN_BGR)


def temporal_output_loss(out_cur: tf.Tensor, out_prev: tf.Tensor, flow: tf.Tensor, certainty: tf.Tensor) -> tf.Tensor:
    """Return ``sum(c * (out_cur - warp(out_prev, flow))^2) / size(out_cur)`` (scalar float32).

    Args:
        out_cur, out_prev: (B, H, W, C) outputs (or features) of frames t and t-1.
        flow: (B, H, W, 2) float32 flow t -> t-1 in pixels, x then y.
        certainty: (B, H, W, 1) weights in [0, 1]; samples leaving the image get weight 0 as well.
    """
    warped, inside = warp(tf.cast(out_prev, tf.float32), flow)
    return losses.temporal_loss(tf.cast(out_cur, tf.float32), warped, certainty * inside)


def perceptual_losses(outputs: tf.Tensor, contents: tf.Tensor, target: PerceptualTarget) -> dict[str, tf.Tensor]:
    """Return unweighted ``{"content", "style", "tv"}`` scalars for a batch of outputs and their content inputs.

    Args:
        outputs, contents: (B, H, W, 3) float32 BGR in [0, 255].
        target: the extractor and the style's targets (:class:`PerceptualTarget`).
    """
    b = tf.shape(outputs)[0]
    feats = target.extractor(tf.concat([to_vgg(outputs), to_vgg(contents)], axis=0))
    out_feats = {name: f[:b] for name, f in feats.items()}
    content = tf.stop_gradient(feats[target.content_layer][b:])
    grams = {name: losses.gram_matrix(out_feats[name]) for name in target.style_layer_weights}
    return {
        "content": losses.content_loss(out_feats[target.content_layer], content),
        "style": losses.style_loss(grams, target.style_grams, target.style_layer_weights),
        "tv": losses.total_variation(outputs),
    }


def pair_losses(net, prev: tf.Tensor, cur: tf.Tensor, flow: tf.Tensor, certainty: tf.Tensor, target: PerceptualTarget,
                weights: FastLossWeights) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """Return ``(total, {part: weighted scalar})`` of the network on a batch of frame pairs.

    Args:
        net: a :class:`transfer.fast.network.StyleNet` (anything with ``features(x) -> (output, feats)``).
        prev, cur: (B, H, W, 3) float32 BGR [0, 255] frames t-1 and t; H, W multiples of the net's stride.
        flow: (B, H, W, 2) float32 exact or estimated flow t -> t-1; certainty: (B, H, W, 1) in [0, 1].
        target: what the perceptual terms compare with; weights: the terms' weights.

    The perceptual terms are averaged over both frames of the pair; with both temporal weights 0 the pair
    is simply two independent training images.
    """
    both = tf.concat([prev, cur], axis=0)
    out, feats = net.features(both)
    b = tf.shape(prev)[0]
    parts = perceptual_losses(out, both, target)
    parts["temporal"] = temporal_output_loss(out[b:], out[:b], flow, certainty)
    if weights.temporal_features > 0:
        factor = _feature_factor(both, feats)
        small_flow, small_cert = downscale_flow(flow, certainty, factor)
        parts["temporal_features"] = temporal_output_loss(feats[b:], feats[:b], small_flow, small_cert)
    else:
        parts["temporal_features"] = tf.constant(0.0)
    w = {"content": weights.content, "style": weights.style, "tv": weights.tv, "temporal": weights.temporal,
         "temporal_features": weights.temporal_features}
    weighted = {name: w[name] * parts[name] for name in PARTS}
    return tf.add_n(list(weighted.values())), weighted


def _feature_factor(images: tf.Tensor, feats: tf.Tensor) -> int:
    """Return how many image pixels one feature cell spans (static shapes: training crops are fixed-size)."""
    return int(images.shape[1]) // int(feats.shape[1])
