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


@pytest.mark.parametrize("kind, iterations",
                         [(OptimizerKind.LBFGS, 40), (OptimizerKind.ADAM, 60), (OptimizerKind.LBFGS_PROJECTED, 40)])
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


def _rosenbrock(x):
    z = x.astype(np.float64).ravel()
    grad = np.zeros_like(z)
    grad[:-1] = -400 * z[:-1] * (z[1:] - z[:-1] ** 2) - 2 * (1 - z[:-1])
    grad[1:] += 200 * (z[1:] - z[:-1] ** 2)
    loss = np.sum(100 * (z[1:] - z[:-1] ** 2) ** 2 + (1 - z[:-1]) ** 2)
    return float(loss), grad.reshape(x.shape).astype(np.float32), {"total": float(loss)}


def test_projected_lbfgs_finds_the_rosenbrock_minimum():
    """48-dimensional Rosenbrock from the classic start (-1.2, 1, ...): the minimum (all ones) is inside the box."""
    from transfer.optimize import minimize

    x0 = np.tile(np.float32([-1.2, 1.0]), 24).reshape(1, 4, 4, 3)
    seen = []
    res = minimize(_rosenbrock, x0, (np.full(3, -2.0), np.full(3, 2.0)),
                   OptimizeOptions(kind=OptimizerKind.LBFGS_PROJECTED, iterations=400, stall_tolerance=0.0),
                   progress=lambda it, loss, parts: seen.append((it, loss, parts["total"])))
    assert res.loss < 1e-8 * _rosenbrock(x0)[0], res.loss
    np.testing.assert_allclose(res.x, 1.0, atol=1e-3)
    # one iteration per accepted step, each with sufficient decrease; progress sees each accepted point once
    assert res.iterations == len(res.history) > 0 and res.evaluations > res.iterations
    assert all(b < a for a, b in zip(res.history, res.history[1:], strict=False))
    assert seen == [(i + 1, loss, loss) for i, loss in enumerate(res.history)]
    assert res.loss == min(res.history) and res.x.dtype == np.float32 and res.x.shape == x0.shape


def test_projected_lbfgs_stays_in_the_box_and_ends_on_the_bound():
    """A weighted quadratic whose minimum is outside the (per-channel) box for about a third of the variables:
    every evaluated point is inside, and the result is the clipped minimum, exactly on the bound where it is out."""
    from transfer.optimize import minimize

    rng = np.random.default_rng(1)
    shape = (1, 6, 8, 3)
    lo, hi = np.array([-2.0, -1.5, -1.0]), np.array([2.0, 1.5, 1.0])
    target = rng.uniform(-3, 3, shape)
    weight = np.exp(rng.uniform(np.log(0.1), np.log(10.0), shape))
    seen = []

    def quadratic(x):
        seen.append(x.copy())
        diff = x - target
        return float(0.5 * np.sum(weight * diff * diff)), (weight * diff).astype(np.float32), {}

    res = minimize(quadratic, np.zeros(shape, np.float32), (lo, hi),
                   OptimizeOptions(kind=OptimizerKind.LBFGS_PROJECTED, iterations=100, stall_tolerance=0.0))
    assert len(seen) == res.evaluations > 1
    lo32, hi32 = lo.astype(np.float32), hi.astype(np.float32)
    assert all((x >= lo32).all() and (x <= hi32).all() for x in seen)
    expected = np.clip(target, lo, hi).astype(np.float32)
    outside = (target < lo) | (target > hi)
    assert 0.2 < outside.mean() < 0.6
    np.testing.assert_array_equal(res.x[outside], expected[outside])
    np.testing.assert_allclose(res.x, expected, atol=1e-4)
    assert res.loss == pytest.approx(quadratic(expected)[0], rel=1e-6)


def test_projected_lbfgs_stops_once_the_loss_stalls():
    """1000 plus an ill-conditioned quadratic: the loss soon improves by under 1 % in 10 iterations. The run stops at
    the first iteration where it does, while without early stopping it carries on."""
    from transfer.optimize import minimize

    rng = np.random.default_rng(2)
    shape = (1, 4, 4, 3)
    target = rng.uniform(-30, 30, shape)
    weight = np.logspace(-3, 0, target.size).reshape(shape)

    def bowl(x):
        diff = x - target
        return 1000.0 + float(0.5 * np.sum(weight * diff * diff)), (weight * diff).astype(np.float32), {}

    x0, bounds = np.zeros(shape, np.float32), (np.full(3, -100.0), np.full(3, 100.0))
    options = OptimizeOptions(kind=OptimizerKind.LBFGS_PROJECTED, iterations=200, stall_tolerance=0.01)
    stopped = minimize(bowl, x0, bounds, options)
    full = minimize(bowl, x0, bounds, OptimizeOptions(kind=options.kind, iterations=200, stall_tolerance=0.0))
    assert stopped.stopped_early and not full.stopped_early
    assert stopped.iterations < full.iterations
    h, window, tol = stopped.history, options.stall_window, options.stall_tolerance
    assert len(h) > window and h[-1 - window] - h[-1] <= tol * h[-1 - window]
    assert all(h[k - window] - h[k] > tol * h[k - window] for k in range(window, len(h) - 1))
    assert full.history[:len(h)] == h  # the same run up to the stop
    assert full.loss < stopped.loss


@pytest.mark.parametrize("kind", list(OptimizerKind))
def test_blas_runs_on_one_thread_while_minimising(kind):
    """OpenBLAS hands scipy's whole-image ddot calls to worker threads that wait for a busy core (see
    transfer.optimize._one_blas_thread): inside a minimisation every OpenBLAS runs one thread, afterwards as before."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    import scipy.optimize  # noqa: F401  (its OpenBLAS too)

    from transfer.optimize import minimize

    def blas_threads():
        return [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]

    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        before = blas_threads()
        if not before or max(before) < 2:
            pytest.skip(f"no BLAS that runs 2 threads here ({before})")
        inside = []

        def bowl(x):
            inside.append(blas_threads())
            return float(0.5 * np.sum((x - 1.0) ** 2)), (x - 1.0).astype(np.float32), {}

        minimize(bowl, np.zeros((1, 4, 4, 3), np.float32), (np.full(3, -5.0), np.full(3, 5.0)),
                 OptimizeOptions(kind=kind, iterations=3, stall_tolerance=0.0))
        assert inside and all(threads == [1] * len(before) for threads in inside), inside
        assert blas_threads() == before


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
