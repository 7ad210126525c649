"""The arbitrary-style network's contract: shapes, range, strength, weights file round trip, header checks."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from foundation.errors import UserError
from tests.conftest import stripes_image, textured_image
from transfer.arbitrary.network import build_arbitrary, design_spec, load_arbitrary, save_arbitrary
from transfer.arbitrary.weights_file import read_header
from transfer.features import Precision


@pytest.fixture(scope="module", params=["wct", "adain"])
def net(request):
    return build_arbitrary(design_spec(request.param, channels=(16, 8, 8), style_size=64), precision=Precision.FLOAT32,
                           seed=0)


@pytest.mark.parametrize("h,w", [(48, 64), (37, 53), (8, 8)])
def test_output_shape_dtype_and_range(net, h, w):
    code = net.style_code(stripes_image(64, 64))
    frames = tf.constant(np.stack([textured_image(h, w, seed=1), textured_image(h, w, seed=2)]).astype(np.float32))
    out = net.stylize(frames, code)
    assert out.shape == (2, h, w, 3) and out.dtype == tf.float32
    assert float(tf.reduce_min(out)) >= 0.0 and float(tf.reduce_max(out)) <= 255.0


def test_strength_zero_keeps_the_frames_own_statistics(net):
    """At strength 0 the transformed features equal the frame's own; at 1 they carry the painting's statistics."""
    frame = tf.constant(textured_image(96, 96, seed=3)[None].astype(np.float32))  # more pixels than channels
    code = net.style_code(stripes_image(64, 64))
    _, own = net.forward(frame, code, 0.0)
    feats = net.encode(net.pool(frame))
    np.testing.assert_allclose(own.numpy(), feats.numpy(), rtol=1e-4, atol=1e-3)
    _, styled = net.forward(frame, code, 1.0)
    from transfer.arbitrary.statistics import channel_stats

    c = styled.shape[-1]  # the code also holds the shallow code layers' statistics after the AdaIN layer's
    np.testing.assert_allclose(channel_stats(styled).mean.numpy(), code.mean.numpy()[..., :c], rtol=1e-3, atol=1e-3)
    # and their spreads: far nearer the painting's than the frame's own (WCT's regularisation spreads dead channels)
    want, got, before = code.std.numpy()[..., :c], channel_stats(styled).std.numpy(), channel_stats(feats).std.numpy()
    assert np.abs(got - want).mean() < 0.25 * np.abs(before - want).mean()


def test_weights_round_trip(tmp_path, net):
    # perturb the zero-initialised layer (FiLM, or the output of a residual decoder) so the round trip carries it
    layer = net.decoder.film if net.decoder.film is not None else net.decoder.out
    layer.kernel.assign(tf.random.stateless_normal(layer.kernel.shape, (1, 2)) * 0.01)
    path = save_arbitrary(net, tmp_path / "w.npz", {"recipe": "test"})
    header = read_header(path)
    assert header["meta"]["recipe"] == "test" and header["spec"]["channels"] == [16, 8, 8]
    again = load_arbitrary(path, Precision.FLOAT32)
    frame = tf.constant(textured_image(24, 40, seed=4)[None].astype(np.float32))
    code = net.style_code(stripes_image(64, 64))
    np.testing.assert_allclose(again.stylize(frame, code).numpy(), net.stylize(frame, code).numpy(), atol=1e-4)


def test_bad_weight_files(tmp_path):
    with pytest.raises(UserError, match="missing.npz: no such file"):
        read_header(tmp_path / "missing.npz")
    text = tmp_path / "notes.npz"
    text.write_text("not numpy")
    with pytest.raises(UserError, match="notes.npz: not an arbitrary-style weights file"):
        read_header(text)
    other = tmp_path / "other.npz"
    np.savez(other, a=np.zeros(3))
    with pytest.raises(UserError, match="other.npz: not an arbitrary-style weights file"):
        read_header(other)


def test_painting_too_thin(net):
    """Tiny paintings are resized up to the style size, but a 1-pixel strip has no texture to take."""
    net.style_code(np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(UserError, match=r"painting too small \(400x1\)"):
        net.style_code(np.zeros((1, 400, 3), np.uint8))
