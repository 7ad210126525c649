"""Channel statistics of feature maps and their transfer (AdaIN, Huang & Belongie 2017) — pure functions.

Feature maps are ``(B, h, w, C) float32``. A *style code* is the per-channel mean and standard deviation of a
painting's encoder features, both ``(B, 1, 1, C)``; codes of several paintings blend linearly (weights sum to 1),
and a ``strength`` in [0, 1] moves a frame's own code toward the painting's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import tensorflow as tf

#: Added to the variance before the square root (keeps flat regions finite).
EPSILON = 1e-5


@dataclass(frozen=True)
class StyleCode:
    """Per-channel feature statistics: ``mean`` and ``std``, each ``(B, 1, 1, C)`` float32 (``std`` > 0)."""

    mean: tf.Tensor
    std: tf.Tensor

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
    mean = tf.add_n([w[i] * c.mean for i, c in enumerate(codes)])
    std = tf.add_n([w[i] * c.std for i, c in enumerate(codes)])
    return StyleCode(mean, std)


def toward(own: StyleCode, target: StyleCode, strength: float | tf.Tensor) -> StyleCode:
    """Return ``own`` moved toward ``target`` by ``strength`` (0: ``own`` unchanged, 1: ``target``)."""
    s = tf.cast(strength, tf.float32)
    return StyleCode(own.mean + s * (target.mean - own.mean), own.std + s * (target.std - own.std))
