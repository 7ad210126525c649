"""Loss terms of Gatys et al. and Ruder et al. as small pure functions of tensors.

Conventions (those of ``neural-style`` and ``artistic-videos``, so their default weights carry over):
- features are (B, H, W, C) float32; the Gram matrix is normalised by the number of elements C*H*W;
- content and style terms are mean squared errors; images are VGG-preprocessed (range about [-124, 152]).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import tensorflow as tf


def gram_matrix(features: tf.Tensor) -> tf.Tensor:
    """Return (B, C, C) Gram matrices ``F^T F / (H*W*C)`` of (B, H, W, C) features."""
    shape = tf.shape(features)
    b, c = shape[0], shape[3]
    flat = tf.reshape(features, (b, -1, c))
    n = tf.cast(shape[1] * shape[2] * c, features.dtype)
    return tf.matmul(flat, flat, transpose_a=True) / n


def content_loss(features: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """Return the scalar mean squared error between (B, H, W, C) features and their content target."""
    return tf.reduce_mean(tf.square(features - target))


def style_loss(
    grams: Mapping[str, tf.Tensor], target_grams: Mapping[str, tf.Tensor], layer_weights: Mapping[str, float]
) -> tf.Tensor:
    """Return ``sum_l w_l * mean((G_l - A_l)^2)`` over the layers in ``layer_weights`` (scalar)."""
    terms = [w * tf.reduce_mean(tf.square(grams[name] - target_grams[name])) for name, w in layer_weights.items()]
    return tf.add_n(terms)


def total_variation(image: tf.Tensor) -> tf.Tensor:
    """Return the mean squared difference between neighbouring pixels of a (B, H, W, 3) image (scalar)."""
    dy = image[:, 1:, :, :] - image[:, :-1, :, :]
    dx = image[:, :, 1:, :] - image[:, :, :-1, :]
    return tf.reduce_mean(tf.square(dy)) + tf.reduce_mean(tf.square(dx))


def temporal_loss(image: tf.Tensor, warped: tf.Tensor, certainty: tf.Tensor) -> tf.Tensor:
    """Return Ruder et al.'s temporal loss ``sum_k sum(c_k * (x - w_k)^2) / D`` (scalar).

    Args:
        image: (1, H, W, 3) current stylised frame, VGG-preprocessed.
        warped: (K, H, W, 3) earlier stylised frames warped into this frame (K = 1 for the short-term loss).
        certainty: (K, H, W, 1) per-pixel weights in [0, 1], 0 where occluded or unreliable; for K > 1
            already made "closest first" (see :func:`media.consistency.long_term_weights`).

    ``D = H * W * 3`` is the number of elements of one frame, as in the paper.
    """
    d = tf.cast(tf.size(image), image.dtype)
    return tf.reduce_sum(certainty * tf.square(image - warped)) / d


def blend_grams(grams: Sequence[Mapping[str, tf.Tensor]], weights: Sequence[float]) -> dict[str, tf.Tensor]:
    """Return the weighted average of several styles' Gram matrices (weights normalised to sum 1)."""
    total = float(sum(weights))
    if total <= 0:
        raise ValueError("style blend weights must sum to a positive number")
    return {name: tf.add_n([g[name] * (w / total) for g, w in zip(grams, weights, strict=True)]) for name in grams[0]}
