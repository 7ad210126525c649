"""The fast network: shapes and ranges at many sizes, precision variants, save/load round trip."""

from __future__ import annotations

import numpy as np
import pytest

from foundation.errors import UserError
from tests.conftest import textured_image
from transfer.fast.network import NetworkSpec, build_network, load_network, save_network, with_precision

TINY = NetworkSpec(channels=(4, 8, 8), residual_blocks=1, edge_kernel=3)
TINY_SLIM = NetworkSpec(channels=(4, 8, 8), residual_blocks=1, separable=True, internal_scale=2, edge_kernel=3)


@pytest.mark.parametrize("spec", [TINY, TINY_SLIM], ids=["johnson-like", "slim-like"])
@pytest.mark.parametrize("h, w", [(16, 16), (24, 40), (36, 52), (20, 28), (17, 30), (9, 13)])
def test_output_shape_and_range_any_size(spec, h, w):
    net = build_network(spec, seed=0)
    x = np.stack([textured_image(h, w, seed=s) for s in (1, 2)]).astype(np.float32)
    y = np.asarray(net(x))
    assert y.shape == (2, h, w, 3) and y.dtype == np.float32
    assert y.min() >= 0.0 and y.max() <= 255.0
    assert np.isfinite(y).all() and y.std() > 0


def test_batch_items_are_independent():
    """Instance normalisation is per sample: a frame's output does not depend on the rest of the batch."""
    net = build_network(TINY, seed=0)
    x = textured_image(16, 24, seed=3)[None].astype(np.float32)
    a = np.asarray(net(x))
    b = np.asarray(net(np.concatenate([x[:, ::-1], x])))
    np.testing.assert_allclose(a[0], b[1], atol=1e-3)


def test_presets_and_width_multiplier():
    slim = NetworkSpec.preset("slim")
    assert slim.separable and slim.internal_scale == 2 and slim.stride == 8
    assert NetworkSpec.preset("johnson").scaled_channels == (32, 64, 128)
    assert NetworkSpec.preset("johnson", width=0.5).scaled_channels == (16, 32, 64)
    with pytest.raises(ValueError):
        NetworkSpec(internal_scale=3)


def test_bfloat16_close_to_float32():
    net = build_network(TINY_SLIM, seed=0)
    x = textured_image(32, 48, seed=4)[None].astype(np.float32)
    fast = with_precision(net, "bfloat16")
    assert fast.dtype_policy.name == "mixed_bfloat16"
    diff = np.abs(np.asarray(fast(x)) - np.asarray(net(x)))
    assert diff.mean() < 3.0, diff.mean()


def test_save_load_round_trip_identical(tmp_path):
    net = build_network(TINY_SLIM, seed=1)
    x = textured_image(24, 32, seed=5)[None].astype(np.float32)
    path = save_network(net, tmp_path / "m.keras")
    loaded = load_network(path)
    assert loaded.spec == TINY_SLIM
    np.testing.assert_array_equal(np.asarray(loaded(x)), np.asarray(net(x)))


def test_load_errors(tmp_path):
    with pytest.raises(UserError, match="no such model"):
        load_network(tmp_path / "missing.keras")
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip")
    with pytest.raises(UserError, match="cannot load"):
        load_network(bad)
    with pytest.raises(UserError, match=".keras"):
        save_network(build_network(TINY), tmp_path / "m.h5")


def test_input_skip_network_starts_as_the_identity():
    spec = NetworkSpec(channels=(4, 8, 8), residual_blocks=1, separable=True, internal_scale=2, edge_kernel=3,
                       input_skip=True)
    net = build_network(spec, seed=0)
    x = textured_image(24, 40, seed=6)[None].astype(np.float32)
    np.testing.assert_allclose(np.asarray(net(x)), np.clip(x, 0.5, 254.5), atol=0.01)
    assert NetworkSpec.preset("slim").input_skip
