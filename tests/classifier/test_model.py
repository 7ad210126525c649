"""The trunk's texture features: channel statistics and correlations (against numpy), invariances, saving, layout."""

from __future__ import annotations

import keras
import numpy as np

from classifier.model import (
    CORRELATION_LAYERS,
    STATS_DIM,
    TEXTURE_DIM,
    ChannelCorrelation,
    ChannelStats,
    build_trunk,
    trunk_precision,
)


def _numpy_correlation(x: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """The reference: per image, ``np.corrcoef`` of the projected channels, upper triangle without the diagonal."""
    out = []
    for image in x:
        projected = image.reshape(-1, image.shape[-1]) @ basis
        corr = np.corrcoef(projected, rowvar=False)
        out.append(corr[np.triu_indices(basis.shape[1], 1)])
    return np.stack(out)


def test_correlation_matches_numpy_and_ignores_scale():
    rng = np.random.default_rng(3)
    # channels that co-vary: a shared component plus noise, so the correlations are far from 0
    shared = rng.standard_normal((2, 9, 7, 1))
    x = (shared * rng.uniform(0.5, 2.0, 12) + 0.7 * rng.standard_normal((2, 9, 7, 12))).astype(np.float32)
    layer = ChannelCorrelation(5, seed=1)
    got = np.asarray(layer(x))
    basis = np.asarray(layer.basis)
    assert got.shape == (2, 5 * 4 // 2)
    np.testing.assert_allclose(basis.T @ basis, np.eye(5), atol=1e-5)
    np.testing.assert_allclose(got, _numpy_correlation(x.astype(np.float64), basis.astype(np.float64)), atol=1e-4)
    assert np.abs(got).max() <= 1.0 + 1e-5 and np.abs(got).max() > 0.3
    # scale and offset of the response: brightness and contrast move them, the correlations stay
    np.testing.assert_allclose(np.asarray(layer(3.0 * x + 2.0)), got, atol=1e-4)


def test_channel_stats_match_numpy_on_relu_maps_and_in_bfloat16():
    rng = np.random.default_rng(5)
    # ReLU-like responses: many zeros, a heavy tail, channels of very different scale
    x = np.maximum(rng.standard_normal((3, 40, 30, 6)) * rng.uniform(0.1, 80, 6) + 2.0, 0).astype(np.float32)
    flat = x.astype(np.float64).reshape(3, -1, 6)
    want = np.concatenate([np.log1p(flat.mean(1)), np.log1p(np.sqrt(flat.var(1) + 1e-6))], axis=-1)
    np.testing.assert_allclose(np.asarray(ChannelStats()(x)), want, rtol=1e-5, atol=1e-5)
    # the trunk's maps arrive in bfloat16: statistics still in float32 of the rounded values
    rounded = np.asarray(keras.ops.cast(keras.ops.cast(x, "bfloat16"), "float32"), np.float64).reshape(3, -1, 6)
    want = np.concatenate([np.log1p(rounded.mean(1)), np.log1p(np.sqrt(rounded.var(1) + 1e-6))], axis=-1)
    got = np.asarray(ChannelStats(dtype="float32")(keras.ops.cast(x, "bfloat16")))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert np.asarray(ChannelStats()(np.full((1, 4, 4, 2), 7.0, np.float32)))[0, 2:].max() < 1e-3  # no negative var


def test_correlation_without_projection_keeps_every_channel_and_survives_saving(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 6, 6, 4)).astype(np.float32)
    inp = keras.Input((6, 6, 4))
    model = keras.Model(inp, ChannelCorrelation(None, name="corr")(inp))
    np.testing.assert_allclose(np.asarray(model.get_layer("corr").basis), np.eye(4), atol=1e-6)
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    assert again.predict(x, verbose=0).shape == (1, 6)


def test_trunk_texture_vector_is_statistics_then_correlations():
    from transfer.backbone import load_backbone

    trunk = build_trunk(load_backbone("bundled"), 64, precision="float32")
    x = np.random.default_rng(0).uniform(-100, 100, (1, 64, 64, 3)).astype(np.float32)
    _, texture = trunk.predict(x, verbose=0)
    assert texture.shape == (1, TEXTURE_DIM)
    corr = texture[0, STATS_DIM:]
    assert len(CORRELATION_LAYERS) == 4 and np.abs(corr).max() <= 1.0 + 1e-4
    stats = trunk.get_layer("block1_conv1_stats").output
    assert int(stats.shape[-1]) == 128


def test_views_are_averaged_in_log_odds():
    from classifier.predict import average_views

    # 0.9 and 0.5: log-odds 2.197 and 0 -> mean 1.0986 -> 0.75 (the plain mean would be 0.70)
    got = average_views([[0.9, 0.99, 0.3], [0.5, 0.2, 0.3]])
    np.testing.assert_allclose(got, [0.75, 1 / (1 + np.sqrt(0.01 / 0.99 * 0.8 / 0.2)), 0.3], rtol=1e-5)
    assert np.isfinite(average_views([[0.0, 1.0]])).all()  # certain views are clipped, not infinite


def test_trunk_precision_follows_the_cpu_probe(monkeypatch):
    """bfloat16 only where the CPU computes it natively: emulated, it is several times slower than float32."""
    import classifier.model as M
    from transfer.backbone import load_backbone

    monkeypatch.setattr(M, "native_bfloat16", lambda: False)
    assert trunk_precision() == "float32"
    assert build_trunk(load_backbone("bundled"), 32).get_layer("block1_conv1").compute_dtype == "float32"
    monkeypatch.setattr(M, "native_bfloat16", lambda: True)
    assert trunk_precision() == "mixed_bfloat16"
    assert build_trunk(load_backbone("bundled"), 32).get_layer("block1_conv1").compute_dtype == "bfloat16"
