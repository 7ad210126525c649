"""Loss terms of Gatys et al. and Ruder et al. as small pure functions of tensors.

Conventions (those of ``neural-style`` and ``artistic-videos``, so their default weights carry over):
- features are (B, H, W, C) float32; the Gram matrix is normalised by the number of elements C*H*W;
- content and style terms are mean squared errors; images are VGG-preprocessed (range about [-124, 152]).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import tensorflow as tf

from media.structure import LUMA_BGR  # the structure measure's luminance, which the Laplacian term serves


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


def laplacian_kernel(pool: int) -> np.ndarray:
    """Return the (3p, 3p, 1, 1) float32 kernel of "mean over p x p cells, then the 4-neighbour Laplacian of the cells".

    Applied with stride 1 it gives, at every pixel, the Laplacian of the image averaged in p x p cells (Li et al.
    2017's Laplacian loss pools with stride p; stride 1 keeps one kernel for every size and every offset). ``pool = 1``
    is the plain 3 x 3 Laplacian.
    """
    if pool < 1:
        raise ValueError(f"pool must be at least 1, got {pool}")
    kernel = np.zeros((3 * pool, 3 * pool), np.float32)
    for (dy, dx), weight in {(0, 1): 1.0, (1, 0): 1.0, (1, 1): -4.0, (1, 2): 1.0, (2, 1): 1.0}.items():
        kernel[dy * pool:(dy + 1) * pool, dx * pool:(dx + 1) * pool] += weight / pool**2
    return kernel[:, :, None, None]


def laplacian(image: tf.Tensor, kernel: tf.Tensor) -> tf.Tensor:
    """Return the (B, H', W', 1) pooled Laplacian of the luminance of a (B, H, W, 3) BGR image.

    ``kernel`` is a (k, k, 1, 1) tensor from :func:`laplacian_kernel`; ``H' = H - k + 1``, valid positions only (an
    image smaller than the kernel is zero-padded to one position). Mirroring the border to hold it too cost more
    style loss for the same structure on vtest (0.134 against 0.113 at a structure of 0.945) and did not remove the
    dark bands VGG's zero padding paints along the edges.
    """
    luma = tf.reduce_sum(image * tf.constant(LUMA_BGR, image.dtype), axis=-1, keepdims=True)
    k, size = tf.shape(kernel)[0], tf.shape(luma)
    short_h, short_w = tf.maximum(k - size[1], 0), tf.maximum(k - size[2], 0)  # 0 unless smaller than the kernel
    luma = tf.pad(luma, [[0, 0], [0, short_h], [0, short_w], [0, 0]])
    return tf.nn.conv2d(luma, kernel, strides=1, padding="VALID")


def laplacian_loss(image: tf.Tensor, target: tf.Tensor, kernel: tf.Tensor) -> tf.Tensor:
    """Return the mean squared difference between the pooled luminance Laplacians of ``image`` and of the content.

    ``target`` is :func:`laplacian` of the content image with the same ``kernel``. This is Li et al. 2017's
    Laplacian loss ("Laplacian-steered neural style transfer") on luminance: it keeps the content's edges and fills at
    the scale of the pool, which the edge-leaning bundled backbone's content layer does not (scalar).
    """
    return tf.reduce_mean(tf.square(laplacian(image, kernel) - target))


def blend_grams(grams: Sequence[Mapping[str, tf.Tensor]], weights: Sequence[float]) -> dict[str, tf.Tensor]:
    """Return the weighted average of several styles' Gram matrices (weights normalised to sum 1)."""
    total = float(sum(weights))
    if total <= 0:
        raise ValueError("style blend weights must sum to a positive number")
    return {name: tf.add_n([g[name] * (w / total) for g, w in zip(grams, weights, strict=True)]) for name in grams[0]}
