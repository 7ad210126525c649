"""Single-image style transfer end to end on tiny images: losses fall, bounds hold, runs are reproducible."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import stripes_image, textured_image
from transfer.objective import LossWeights
from transfer.optimize import OptimizeOptions, OptimizerKind
from transfer.stylize import StyleSpec, StylizeConfig, stylize_image


@pytest.fixture
def pair(tmp_path) -> tuple[Path, Path]:
    content, style = tmp_path / "content.png", tmp_path / "style.png"
    cv2.imwrite(str(content), textured_image(48, 64, seed=3))
    cv2.imwrite(str(style), stripes_image(64, 64))
    return content, style


def run(tmp_path, pair, name="out.png", **kw):
    content, style = pair
    spec = StyleSpec(styles=(style,))
    cfg = StylizeConfig(content=content, output=tmp_path / name, style=spec, width=64, progress=False, **kw)
    return stylize_image(cfg)


@pytest.mark.parametrize("kind, iterations", [(OptimizerKind.LBFGS, 40), (OptimizerKind.ADAM, 60)])
def test_style_loss_falls_to_small_fraction(tmp_path, pair, kind, iterations):
    report = run(tmp_path, pair, optimize=OptimizeOptions(kind=kind, iterations=iterations))
    start, end = report["initial_losses"]["style"], report["final_losses"]["style"]
    assert end < 0.1 * start, (start, end)
    out = cv2.imread(str(tmp_path / "out.png"))
    assert out.shape == (48, 64, 3)
    saved = json.loads((tmp_path / "out.json").read_text())
    assert saved["weights_used"].startswith("bundled")
    assert saved["config"]["optimize"]["kind"] == kind.value
    assert saved["iterations"] > 0 and len(saved["loss_history"]) == saved["iterations"]


def test_output_moves_towards_style_colours(tmp_path, pair):
    """Stripes style is blue/red; the stylised image's colour statistics move from the content's towards it."""
    run(tmp_path, pair, optimize=OptimizeOptions(iterations=40))
    content = cv2.imread(str(pair[0])).reshape(-1, 3).astype(float)
    style = cv2.imread(str(pair[1])).reshape(-1, 3).astype(float)
    out = cv2.imread(str(tmp_path / "out.png")).reshape(-1, 3).astype(float)
    assert np.linalg.norm(out.mean(0) - style.mean(0)) < np.linalg.norm(content.mean(0) - style.mean(0))


def test_same_seed_same_result_random_init(tmp_path, pair):
    opts = OptimizeOptions(iterations=5)
    run(tmp_path, pair, "a.png", optimize=opts, init="random", seed=7)
    run(tmp_path, pair, "b.png", optimize=opts, init="random", seed=7)
    run(tmp_path, pair, "c.png", optimize=opts, init="random", seed=8)
    a, b, c = (cv2.imread(str(tmp_path / n)) for n in ("a.png", "b.png", "c.png"))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - c.astype(int)).mean() > 1


def test_adam_respects_pixel_bounds(tmp_path, pair):
    from transfer.features import pixel_bounds, preprocess
    from transfer.optimize import minimize

    lo, hi = pixel_bounds()
    x0 = preprocess(np.full((8, 8, 3), 250, np.uint8))

    def push_up(x):  # a loss that wants every pixel far above the upper bound
        return float(-x.sum()), -np.ones_like(x), {}

    for kind in OptimizerKind:
        res = minimize(push_up, x0, (lo, hi), OptimizeOptions(kind=kind, iterations=10, adam_learning_rate=50))
        assert (res.x <= hi + 1e-4).all() and (res.x >= lo - 1e-4).all()
        np.testing.assert_allclose(res.x[0, 0, 0], hi, atol=1e-3)


def test_two_styles_blend(tmp_path, pair):
    content, style = pair
    style2 = tmp_path / "style2.png"
    cv2.imwrite(str(style2), stripes_image(64, 64, period=12, angle_deg=-60)[:, :, ::-1].copy())
    spec = StyleSpec(styles=(style, style2), blend=(0.5, 0.5))
    cfg = StylizeConfig(content=content, output=tmp_path / "mix.png", style=spec, width=64, progress=False,
                        optimize=OptimizeOptions(iterations=20), loss=LossWeights())
    report = stylize_image(cfg)
    assert report["final_losses"]["style"] < report["initial_losses"]["style"]


def test_bfloat16_precision_runs_and_lowers_loss(tmp_path, pair):
    from transfer.features import Precision

    content, style = pair
    spec = StyleSpec(styles=(style,), precision=Precision.BFLOAT16)
    cfg = StylizeConfig(content=content, output=tmp_path / "bf.png", style=spec, width=64, progress=False,
                        optimize=OptimizeOptions(iterations=20))
    report = stylize_image(cfg)
    assert report["final_losses"]["style"] < 0.3 * report["initial_losses"]["style"]


@pytest.mark.parametrize("mode", ["luminance", "histogram"])
def test_preserve_colors_keeps_content_chroma(tmp_path, pair, mode):
    """The stripes style is blue/red; with colour preservation the output's chroma stays near the content's."""
    content = cv2.imread(str(pair[0]))
    plain = run(tmp_path, pair, "plain.png", optimize=OptimizeOptions(iterations=30))
    kept = run(tmp_path, pair, "kept.png", optimize=OptimizeOptions(iterations=30), preserve_colors=mode)
    assert kept["config"]["preserve_colors"] == mode and plain["config"]["preserve_colors"] == "none"

    def chroma(name):
        img = cv2.imread(str(tmp_path / name)) if name else content
        return cv2.cvtColor(img, cv2.COLOR_BGR2YCrCb)[..., 1:].astype(float)

    if mode == "luminance":  # per pixel: the content's own chroma
        d_plain = np.abs(chroma("plain.png") - chroma(None)).mean()
        d_kept = np.abs(chroma("kept.png") - chroma(None)).mean()
        assert d_kept < 3.0 < d_plain
    else:  # histogram: the colour distribution (mean chroma) of the content, not its pixels
        d_plain = np.abs(chroma("plain.png").mean((0, 1)) - chroma(None).mean((0, 1))).max()
        d_kept = np.abs(chroma("kept.png").mean((0, 1)) - chroma(None).mean((0, 1))).max()
    assert d_kept < 0.5 * d_plain, (d_kept, d_plain)
