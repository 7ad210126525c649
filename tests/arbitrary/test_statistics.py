"""AdaIN and the style-code arithmetic on hand-made tensors."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from transfer.arbitrary.statistics import StyleCode, adain, channel_stats, mix, toward


def test_channel_stats_of_known_values():
    # channel 0 is 1,2,3,4 (mean 2.5, std sqrt(1.25)); channel 1 is constant 7 (std only from epsilon)
    x = tf.constant(np.stack([np.array([[1, 2], [3, 4]]), np.full((2, 2), 7)], axis=-1)[None], tf.float32)
    code = channel_stats(x)
    assert code.mean.shape == (1, 1, 1, 2)
    np.testing.assert_allclose(code.mean.numpy().ravel(), [2.5, 7.0], rtol=1e-6)
    np.testing.assert_allclose(code.std.numpy().ravel(), [np.sqrt(1.25 + 1e-5), np.sqrt(1e-5)], rtol=1e-5)


def test_adain_gives_the_target_statistics_and_keeps_the_pattern(rng):
    x = tf.constant(rng.normal(3.0, 2.0, size=(2, 8, 8, 4)), tf.float32)
    target = StyleCode(tf.constant([[[[10.0, -1.0, 0.0, 5.0]]]]), tf.constant([[[[0.5, 2.0, 1.0, 3.0]]]]))
    out = adain(x, channel_stats(x), target)
    got = channel_stats(out)
    np.testing.assert_allclose(got.mean.numpy(), np.broadcast_to(target.mean.numpy(), (2, 1, 1, 4)), atol=1e-4)
    np.testing.assert_allclose(got.std.numpy(), np.broadcast_to(target.std.numpy(), (2, 1, 1, 4)), rtol=1e-3)
    # an affine map per channel: the normalised pattern is unchanged
    norm = lambda t: (t - tf.reduce_mean(t, [1, 2], True)) / tf.math.reduce_std(t, [1, 2], True)  # noqa: E731
    np.testing.assert_allclose(norm(out).numpy(), norm(x).numpy(), atol=1e-3)


def test_mix_and_toward():
    a = StyleCode(tf.fill((1, 1, 1, 3), 0.0), tf.fill((1, 1, 1, 3), 1.0))
    b = StyleCode(tf.fill((1, 1, 1, 3), 4.0), tf.fill((1, 1, 1, 3), 3.0))
    m = mix([a, b], [1.0, 3.0])  # weights normalised: 0.25, 0.75
    np.testing.assert_allclose(m.mean.numpy(), 3.0)
    np.testing.assert_allclose(m.std.numpy(), 2.5)
    np.testing.assert_allclose(toward(a, b, 0.0).mean.numpy(), 0.0)
    np.testing.assert_allclose(toward(a, b, 1.0).std.numpy(), 3.0)
    np.testing.assert_allclose(toward(a, b, 0.5).mean.numpy(), 2.0)
    assert m.vector().shape == (1, 6)
    with pytest.raises(ValueError, match="2 weights for 1"):
        mix([a], [1.0, 2.0])
    with pytest.raises(ValueError, match="at least one"):
        mix([], [])
