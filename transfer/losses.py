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


@tf.custom_gradient
def gram_matrix(features: tf.Tensor):
    """Return (B, C, C) float32 Gram matrices ``F^T F / (H*W*C)`` of (B, H, W, C) float32 or bfloat16 features.

    The products are accumulated in float32 whatever the features' dtype (a bfloat16 product is exact in float32).
    The gradient is one matrix product in the features' own dtype, ``dF = F (dG + dG^T) / (H*W*C)``: automatic
    differentiation of ``F^T F`` spends two (one per operand) and, for bfloat16 features, a float32 one beside
    them, so this one is a third to a half of the Gram's backward cost (the VGG pass's slowest non-convolution
    part, issue 12). With bfloat16 features ``dG`` is rounded to bfloat16 first, as the convolutions' own gradients
    are.
    """
    shape = tf.shape(features)
    b, c = shape[0], shape[3]
    flat = tf.reshape(features, (b, -1, c))
    n = tf.cast(shape[1] * shape[2] * c, tf.float32)
    flat32 = tf.cast(flat, tf.float32)
    gram = tf.matmul(flat32, flat32, transpose_a=True) / n

    def grad(upstream: tf.Tensor) -> tf.Tensor:
        symmetric = tf.cast((upstream + tf.transpose(upstream, (0, 2, 1))) / n, features.dtype)
        return tf.reshape(tf.matmul(flat, symmetric), shape)

    return gram, grad


def _mean_square(difference: tf.Tensor) -> tf.Tensor:
    """Return ``mean(difference^2)`` as a sum divided once: ``reduce_mean``'s gradient divides the whole broadcast
    tensor by the count, a full-size division per term per pass."""
    return tf.reduce_sum(tf.square(difference)) / tf.cast(tf.size(difference), difference.dtype)


def content_loss(features: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """Return the scalar mean squared error between (B, H, W, C) features and their content target."""
    return _mean_square(features - target)


def style_loss(
    grams: Mapping[str, tf.Tensor], target_grams: Mapping[str, tf.Tensor], layer_weights: Mapping[str, float]
) -> tf.Tensor:
    """Return ``sum_l w_l * mean((G_l - A_l)^2)`` over the layers in ``layer_weights`` (scalar)."""
    terms = [w * _mean_square(grams[name] - target_grams[name]) for name, w in layer_weights.items()]
    return tf.add_n(terms)


@tf.custom_gradient
def total_variation(image: tf.Tensor):
    """Return the mean squared difference between neighbouring pixels of a (B, H, W, 3) image (scalar).

    Its gradient is written out, ``2 (d_{i-1} - d_i) / N`` per axis from the differences ``d`` padded by one: the
    automatic one went through four strided-slice gradients, 8 % of a 256 px loss pass's op time (issue 12).
    """
    dy = image[:, 1:, :, :] - image[:, :-1, :, :]
    dx = image[:, :, 1:, :] - image[:, :, :-1, :]
    value = _mean_square(dy) + _mean_square(dx)

    def grad(upstream: tf.Tensor) -> tf.Tensor:
        ny, nx = tf.cast(tf.size(dy), image.dtype), tf.cast(tf.size(dx), image.dtype)
        gy, gx = (2 * upstream / ny) * dy, (2 * upstream / nx) * dx
        none = [0, 0]
        return (tf.pad(gy, [none, [1, 0], none, none]) - tf.pad(gy, [none, [0, 1], none, none])
                + tf.pad(gx, [none, none, [1, 0], none]) - tf.pad(gx, [none, none, [0, 1], none]))

    return value, grad


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


#: The 4-neighbour Laplacian's taps as (row, column) offsets in cells: up, left, centre, right, down.
LAPLACIAN_TAPS = {(0, 1): 1.0, (1, 0): 1.0, (1, 1): -4.0, (1, 2): 1.0, (2, 1): 1.0}


def laplacian_kernel(pool: int) -> np.ndarray:
    """Return the (3p, 3p, 1, 1) float32 kernel of "mean over p x p cells, then the 4-neighbour Laplacian of the cells".

    Applied with stride 1 it gives, at every pixel, the Laplacian of the image averaged in p x p cells (Li et al.
    2017's Laplacian loss pools with stride p; stride 1 keeps one graph for every size and every offset). ``pool = 1``
    is the plain 3 x 3 Laplacian. :func:`laplacian` computes the same in separable steps; this dense form is its
    definition (and the tests' reference).
    """
    if pool < 1:
        raise ValueError(f"pool must be at least 1, got {pool}")
    kernel = np.zeros((3 * pool, 3 * pool), np.float32)
    for (dy, dx), weight in LAPLACIAN_TAPS.items():
        kernel[dy * pool:(dy + 1) * pool, dx * pool:(dx + 1) * pool] += weight / pool**2
    return kernel[:, :, None, None]


def laplacian(image: tf.Tensor, pool) -> tf.Tensor:
    """Return the (B, H', W', 1) pooled Laplacian of the luminance of a (B, H, W, 3) BGR image.

    ``pool`` (an int or an int32 scalar tensor, from :func:`transfer.objective.laplacian_pool`) is the cell size p;
    the result equals the (3p, 3p) kernel of :func:`laplacian_kernel` at every valid position, ``H' = H - 3p + 1``
    (an image smaller than 3p is zero-padded to one position). It is computed as a p-pixel box mean along rows,
    then along columns, and the Laplacian's five taps as shifted slices p apart: 2p + 5 operations per pixel
    instead of the dense kernel's 9p^2 (at 512 px, p = 8, the term cost 28 ms of a 0.45 s loss pass; issue 12).
    Mirroring the border to hold it too cost more style loss for the same structure on vtest (0.134 against 0.113
    at a structure of 0.945) and did not remove the dark bands VGG's zero padding painted along the edges (the
    objective's mirrored margin does, :func:`transfer.objective.framed_features`).
    """
    p = tf.cast(pool, tf.int32)
    luma = tf.reduce_sum(image * tf.constant(LUMA_BGR, image.dtype), axis=-1, keepdims=True)
    size = tf.shape(luma)
    short_h, short_w = tf.maximum(3 * p - size[1], 0), tf.maximum(3 * p - size[2], 0)  # 0 unless too small
    luma = tf.pad(luma, [[0, 0], [0, short_h], [0, short_w], [0, 0]])
    box = tf.ones(tf.stack([1, p, 1, 1]), image.dtype) / tf.cast(p, image.dtype)
    cells = tf.nn.conv2d(luma, box, strides=1, padding="VALID")
    cells = tf.nn.conv2d(cells, tf.transpose(box, (1, 0, 2, 3)), strides=1, padding="VALID")
    h, w = size[1] + short_h - 3 * p + 1, size[2] + short_w - 3 * p + 1
    return tf.add_n([weight * tf.slice(cells, tf.stack([0, dy * p, dx * p, 0]), tf.stack([-1, h, w, -1]))
                     for (dy, dx), weight in LAPLACIAN_TAPS.items()])


def laplacian_loss(image: tf.Tensor, target: tf.Tensor, pool) -> tf.Tensor:
    """Return the mean squared difference between the pooled luminance Laplacians of ``image`` and of the content.

    ``target`` is :func:`laplacian` of the content image with the same ``pool``. This is Li et al. 2017's
    Laplacian loss ("Laplacian-steered neural style transfer") on luminance: it keeps the content's edges and fills at
    the scale of the pool, which the edge-leaning bundled backbone's content layer does not (scalar).
    """
    return _mean_square(laplacian(image, pool) - target)


def blend_grams(grams: Sequence[Mapping[str, tf.Tensor]], weights: Sequence[float]) -> dict[str, tf.Tensor]:
    """Return the weighted average of several styles' Gram matrices (weights normalised to sum 1)."""
    total = float(sum(weights))
    if total <= 0:
        raise ValueError("style blend weights must sum to a positive number")
    return {name: tf.add_n([g[name] * (w / total) for g, w in zip(grams, weights, strict=True)]) for name in grams[0]}
