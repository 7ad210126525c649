"""AdaIN and the style-code arithmetic on hand-made tensors."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from transfer.arbitrary.statistics import (
    StyleCode,
    adain,
    blend,
    channel_stats,
    covariance_stats,
    mix,
    stack,
    toward,
    wct,
)


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


def test_wct_gives_the_target_covariance_and_its_own_statistics_give_the_features_back(rng):
    # correlated 3-channel features, and a target with another mean and a different (correlated) covariance
    mix_in = np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 0.3], [0.2, 0.0, 1.0]])
    x = tf.constant((rng.normal(size=(1, 40, 40, 3)) @ mix_in + 4.0), tf.float32)
    target_cov = tf.constant([[[4.0, 1.5, 0.0], [1.5, 2.0, -0.5], [0.0, -0.5, 1.0]]])
    target_mean = tf.constant([[[[10.0, -2.0, 0.5]]]])
    mean, cov = covariance_stats(x)
    np.testing.assert_allclose(cov.numpy(), np.cov(x.numpy().reshape(-1, 3).T)[None], rtol=1e-4)
    out = wct(x, mean, cov, target_mean, target_cov)
    got_mean, got_cov = covariance_stats(out)
    np.testing.assert_allclose(got_mean.numpy(), target_mean.numpy(), atol=1e-3)
    np.testing.assert_allclose(got_cov.numpy(), target_cov.numpy(), atol=2e-3)
    np.testing.assert_allclose(wct(x, mean, cov, mean, cov).numpy(), x.numpy(), atol=1e-4)


def test_toward_and_blend_move_covariances_with_the_means():
    a = StyleCode(tf.zeros((1, 1, 1, 2)), tf.ones((1, 1, 1, 2)), tf.eye(2)[None], tf.eye(3)[None])
    b = StyleCode(tf.ones((1, 1, 1, 2)), tf.ones((1, 1, 1, 2)), 3.0 * tf.eye(2)[None], 5.0 * tf.eye(3)[None])
    half = toward(a, b, 0.5)
    np.testing.assert_allclose(half.feature_cov.numpy(), 2.0 * np.eye(2)[None])
    np.testing.assert_allclose(half.pixel_cov.numpy(), 3.0 * np.eye(3)[None])
    blended = blend(stack([a, b]), tf.constant([[1.0, 0.0], [0.25, 0.75]]))
    assert blended.feature_cov.shape == (2, 2, 2) and blended.mean.shape == (2, 1, 1, 2)
    np.testing.assert_allclose(blended.feature_cov.numpy()[:, 0, 0], [1.0, 2.5])
    np.testing.assert_allclose(mix([a, b], [1.0, 3.0]).pixel_cov.numpy(), 4.0 * np.eye(3)[None])
    # a code without covariances (the adain design's) blends as before
    plain = mix([StyleCode(a.mean, a.std), StyleCode(b.mean, b.std)], [1.0, 1.0])
    assert plain.feature_cov is None and np.allclose(plain.mean.numpy(), 0.5)
