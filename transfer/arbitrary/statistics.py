"""Feature statistics and their transfer — pure functions: AdaIN (Huang & Belongie 2017) moves each channel's
mean and deviation, the whitening-colouring transform (WCT, Li et al. 2017) the whole covariance.

Feature maps are ``(B, h, w, C) float32``. A *style code* is the per-channel mean and standard deviation of a
painting's encoder features, both ``(B, 1, 1, C)``, and for WCT also the covariance of the encoder layer's channels
``(B, C_e, C_e)`` and of the pixels ``(B, 3, 3)``; codes of several paintings blend linearly (weights sum to 1),
and a ``strength`` in [0, 1] moves a frame's own code toward the painting's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import tensorflow as tf

#: Added to the variance before the square root (keeps flat regions finite).
EPSILON = 1e-5
#: Added to the (normalised) covariance's eigenvalues before whitening and colouring.
WCT_EPSILON = 1e-4


@dataclass(frozen=True)
class StyleCode:
    """Per-channel feature statistics: ``mean`` and ``std``, each ``(B, 1, 1, C)`` float32 (``std`` > 0)."""

    mean: tf.Tensor
    std: tf.Tensor
    feature_cov: tf.Tensor | None = None
    pixel_cov: tf.Tensor | None = None

    def fields(self) -> dict[str, tf.Tensor]:
        """Return the code's tensors by field name (the covariances only when present)."""
        out = {"mean": self.mean, "std": self.std, "feature_cov": self.feature_cov, "pixel_cov": self.pixel_cov}
        return {k: v for k, v in out.items() if v is not None}

    def vector(self) -> tf.Tensor:
        """Return the ``(B, 2C)`` concatenation ``[mean, log std]`` that conditions the decoder."""
        b = tf.shape(self.mean)[0]
        return tf.concat([tf.reshape(self.mean, (b, -1)), tf.math.log(tf.reshape(self.std, (b, -1)))], axis=1)


def channel_stats(features: tf.Tensor) -> StyleCode:
    """Return the :class:`StyleCode` (spatial mean and std per sample and channel) of ``(B, h, w, C)`` features."""
    features = tf.cast(features, tf.float32)
    mean, var = tf.nn.moments(features, axes=[1, 2], keepdims=True)
    return StyleCode(mean, tf.sqrt(var + EPSILON))


def adain(features: tf.Tensor, content: StyleCode, target: StyleCode) -> tf.Tensor:
    """Return ``target.std * (features - content.mean) / content.std + target.mean`` (same shape as ``features``).

    ``content`` is ``channel_stats(features)``, passed in so that callers reuse it; ``target`` broadcasts over B.
    """
    features = tf.cast(features, tf.float32)
    return target.std * (features - content.mean) / content.std + target.mean


def mix(codes: Sequence[StyleCode], weights: Sequence[float] | tf.Tensor) -> StyleCode:
    """Return the weighted average of several codes (means and stds interpolated; weights normalised to sum 1).

    Raises:
        ValueError: no code, a weight count that differs from the codes, or weights that do not sum above 0.
    """
    if not codes:
        raise ValueError("mix needs at least one style code")
    w = tf.cast(tf.convert_to_tensor(weights), tf.float32)
    if int(w.shape[0]) != len(codes):
        raise ValueError(f"got {int(w.shape[0])} weights for {len(codes)} style codes")
    total = tf.reduce_sum(w)
    tf.debugging.assert_positive(total, message="style weights must sum to a positive number")
    w = w / total
    return blend(stack(codes), tf.reshape(w, (1, -1)))


def stack(codes: Sequence[StyleCode]) -> StyleCode:
    """Return the codes of ``S`` single paintings ``(1, ...)`` stacked into one code ``(S, ...)``."""
    names = codes[0].fields()
    return StyleCode(**{k: tf.concat([c.fields()[k] for c in codes], axis=0) for k in names})


def blend(stacked: StyleCode, weights: tf.Tensor) -> StyleCode:
    """Return ``B`` blends ``(B, ...)`` of a stacked code ``(S, ...)`` with ``weights`` ``(B, S)`` (rows sum to 1)."""
    w = tf.cast(weights, tf.float32)

    def combine(t: tf.Tensor) -> tf.Tensor:
        shaped = tf.reshape(w, tf.concat([tf.shape(w), tf.ones([tf.rank(t) - 1], tf.int32)], axis=0))
        return tf.reduce_sum(shaped * t[None], axis=1)

    return StyleCode(**{k: combine(v) for k, v in stacked.fields().items()})


def toward(own: StyleCode, target: StyleCode, strength: float | tf.Tensor) -> StyleCode:
    """Return ``own`` moved toward ``target`` by ``strength`` (0: ``own`` unchanged, 1: ``target``); fields
    present in both (the covariances move linearly too, which keeps them positive semi-definite)."""
    s = tf.cast(strength, tf.float32)
    mine, theirs = own.fields(), target.fields()
    return StyleCode(**{k: mine[k] + s * (theirs[k] - mine[k]) for k in mine if k in theirs})


def covariance_stats(features: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Return ``(mean (B, 1, 1, C), covariance (B, C, C))`` of ``(B, h, w, C)`` features over their pixels."""
    x = tf.cast(features, tf.float32)
    mean = tf.reduce_mean(x, axis=[1, 2], keepdims=True)
    flat = tf.reshape(x - mean, (tf.shape(x)[0], -1, tf.shape(x)[-1]))
    n = tf.cast(tf.shape(flat)[1], tf.float32)
    return mean, tf.matmul(flat, flat, transpose_a=True) / tf.maximum(n - 1.0, 1.0)


def _matrix_power(cov: tf.Tensor, power: float, eps: float) -> tf.Tensor:
    """Return ``(cov + eps I) ** power`` of symmetric ``(B, C, C)`` matrices, in float64."""
    c = tf.cast(cov, tf.float64)
    c = 0.5 * (c + tf.linalg.matrix_transpose(c)) + eps * tf.eye(tf.shape(c)[-1], dtype=tf.float64)
    e, v = tf.linalg.eigh(c)
    e = tf.maximum(e, eps) ** power
    return tf.matmul(v * e[..., None, :], v, transpose_b=True)


def wct_matrix(own_cov: tf.Tensor, target_cov: tf.Tensor, eps: float = WCT_EPSILON) -> tf.Tensor:
    """Return the ``(B, C, C)`` float32 map that whitens by ``own_cov`` and colours by ``target_cov`` (row vectors
    times it); ``target_cov`` may be ``(1, C, C)``. ``eps`` (relative to the mean variance, on both sides, so a
    frame's own statistics give it back) keeps a flat frame's empty directions from blowing up."""
    scale = tf.reduce_mean(tf.linalg.diag_part(own_cov)) + 1e-8
    return tf.cast(tf.matmul(_matrix_power(own_cov / scale, -0.5, eps), _matrix_power(target_cov / scale, 0.5, eps)),
                   tf.float32)


def apply_wct(features: tf.Tensor, own_mean: tf.Tensor, matrix: tf.Tensor, target_mean: tf.Tensor) -> tf.Tensor:
    """Return ``(features - own_mean) @ matrix + target_mean`` over the channels of ``(B, h, w, C)`` features."""
    x = tf.cast(features, tf.float32)
    b = tf.shape(x)[0]
    matrix = tf.broadcast_to(matrix, (b, tf.shape(x)[-1], tf.shape(x)[-1]))
    flat = tf.reshape(x - own_mean, (b, -1, tf.shape(x)[-1]))
    return tf.reshape(tf.matmul(flat, matrix), tf.shape(x)) + target_mean


def wct(features: tf.Tensor, own_mean: tf.Tensor, own_cov: tf.Tensor, target_mean: tf.Tensor, target_cov: tf.Tensor,
        eps: float = WCT_EPSILON) -> tf.Tensor:
    """Return ``features`` whitened by their own covariance and coloured by the target's (WCT), same shape.

    Args:
        features: ``(B, h, w, C)``; own_mean/own_cov: :func:`covariance_stats` of them; target_mean
            ``(B or 1, 1, 1, C)``, target_cov ``(B or 1, C, C)``; eps: see :func:`wct_matrix`.
    """
    return apply_wct(features, own_mean, wct_matrix(own_cov, target_cov, eps), target_mean)
