"""Warp and temporal loss: zero for a static clip with an identity network, exact for known motion."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from media.warp import warp as warp_numpy
from tests.conftest import textured_image
from transfer.fast.losses import FastLossWeights, PerceptualTarget, pair_losses, temporal_output_loss
from transfer.fast.motion import MotionOptions, synthetic_pair
from transfer.fast.warp_tf import downscale_flow, warp


class Identity:
    """A "network" that returns its input (and the input as features)."""

    def features(self, x):
        x = tf.cast(x, tf.float32)
        return x, x


def test_tf_warp_matches_numpy_warp(rng):
    image = textured_image(20, 24, seed=1).astype(np.float32)
    flow = rng.uniform(-3, 3, size=(20, 24, 2)).astype(np.float32)
    ours, inside = warp(image[None], flow[None])
    ref, ref_inside = warp_numpy(image, flow)
    ours, inside = ours.numpy()[0], inside.numpy()[0, ..., 0].astype(bool)
    np.testing.assert_array_equal(inside, ref_inside)
    # cv2.remap quantises sub-pixel weights to 1/32 px
    assert np.abs(ours - ref)[inside].max() < 255 / 32


def test_tf_warp_is_differentiable():
    image = tf.Variable(textured_image(8, 8, seed=2).astype(np.float32)[None])
    flow = tf.fill((1, 8, 8, 2), 0.5)
    with tf.GradientTape() as tape:
        out, _ = warp(image, flow)
        loss = tf.reduce_sum(out)
    grad = tape.gradient(loss, image)
    assert grad is not None and float(tf.reduce_sum(grad)) > 0


def test_temporal_loss_zero_for_static_clip_with_identity_network():
    frame = textured_image(16, 16, seed=3).astype(np.float32)[None]
    flow = tf.zeros((1, 16, 16, 2))
    cert = tf.ones((1, 16, 16, 1))
    assert float(temporal_output_loss(frame, frame, flow, cert)) == 0.0
    target = PerceptualTarget(_fake_extractor, {"f": tf.zeros((1, 3, 3))}, "f", {"f": 1.0})
    weights = FastLossWeights(temporal=1.0, temporal_features=1.0)
    _, parts = pair_losses(Identity(), frame, frame, flow, cert, target, weights)
    assert float(parts["temporal"]) == 0.0 and float(parts["temporal_features"]) == 0.0


def test_temporal_loss_small_under_exact_motion_large_without_it(rng):
    image = textured_image(32, 32, seed=4)
    prev, cur, flow, cert = synthetic_pair(image, rng, MotionOptions(noise=0, brightness=0))
    args = (prev[None], cur[None])
    moved = float(temporal_output_loss(args[1], args[0], flow[None], cert[None]))
    ignored = float(temporal_output_loss(args[1], args[0], np.zeros_like(flow)[None], np.ones_like(cert)[None]))
    assert moved < 2.0 < ignored / 10, (moved, ignored)


def test_synthetic_pair_contract(rng):
    prev, cur, flow, cert = synthetic_pair(textured_image(24, 40, seed=5), rng)
    assert prev.shape == cur.shape == (24, 40, 3) and flow.shape == (24, 40, 2) and cert.shape == (24, 40, 1)
    assert prev.dtype == cur.dtype == flow.dtype == cert.dtype == np.float32
    assert 0 <= cur.min() and cur.max() <= 255
    assert set(np.unique(cert)) <= {0.0, 1.0} and cert.mean() > 0.5


def test_downscale_flow_divides_displacement():
    flow = tf.fill((1, 8, 8, 2), 4.0)
    cert = tf.ones((1, 8, 8, 1)).numpy()
    cert[0, 0, 0, 0] = 0
    small, small_cert = downscale_flow(flow, tf.constant(cert), 4)
    assert small.shape == (1, 2, 2, 2) and np.allclose(small.numpy(), 1.0)
    assert small_cert.numpy()[0, 0, 0, 0] == 0 and small_cert.numpy()[0, 1, 1, 0] == 1


def _fake_extractor(x):
    """A stand-in for VGG: 3x3 average pooling of the input (keeps the test independent of the backbone)."""
    return {"f": tf.nn.avg_pool2d(x, 3, 3, "VALID")}
