"""The fast optimisation path: L-BFGS converges with a bfloat16 VGG pass, early stopping stops, and the coarse-to-fine
pyramid reaches the single-scale loss at equal work."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import stripes_image, textured_image
from transfer.features import DEFAULT_PRECISION, FeatureExtractor, Precision, pixel_bounds, preprocess
from transfer.objective import LossWeights, StyleObjective
from transfer.optimize import OptimizeOptions, minimize
from transfer.pyramid import coarse_to_fine, equal_work_coarse_iterations

LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")


def _objective(backbone, precision: Precision) -> StyleObjective:
    extractor = FeatureExtractor(backbone, ("block4_conv2", *LAYERS), precision)
    return StyleObjective(extractor, "block4_conv2", dict.fromkeys(LAYERS, 1.0))


@pytest.fixture(scope="module")
def content() -> np.ndarray:
    return textured_image(48, 64, seed=3)


def _grams_at(objective: StyleObjective):
    import cv2

    style = stripes_image(96, 96)

    def grams_at(width: int) -> dict:
        return objective.style_grams(preprocess(cv2.resize(style, (width, width), interpolation=cv2.INTER_AREA)))

    return grams_at


def _run(objective, content, iterations: int, stall: float = 0.0):
    targets = objective.targets(preprocess(content), _grams_at(objective)(content.shape[1]))
    return minimize(lambda x: objective.value_and_grad(x, targets, LossWeights()), preprocess(content),
                    pixel_bounds(), OptimizeOptions(iterations=iterations, stall_tolerance=stall))


def test_lbfgs_converges_with_bfloat16_vgg_pass(bundled_backbone, content):
    """The line search keeps finding descent steps on bfloat16 gradients: every iteration is taken, the loss falls
    monotonically and ends close to the float32 run's. 40x56 and 30 iterations: a bfloat16 backward pass is ~10x
    float32's on CPUs without native bf16, and this size already separates a working line search from a broken one."""
    small = content[:40, :56]
    bf16 = _run(_objective(bundled_backbone, Precision.BFLOAT16), small, 30)
    fp32 = _run(_objective(bundled_backbone, Precision.FLOAT32), small, 30)
    assert bf16.iterations == 30 and not bf16.stopped_early
    assert all(b <= a * (1 + 1e-6) for a, b in zip(bf16.history, bf16.history[1:], strict=False))
    assert bf16.history[-1] < 0.2 * bf16.history[0]
    assert bf16.loss < 1.15 * fp32.loss, (bf16.loss, fp32.loss)
    assert bf16.evaluations >= bf16.iterations and 0 < bf16.seconds_evaluating <= bf16.seconds


def test_early_stopping_stops_once_the_loss_stalls(bundled_backbone, content):
    """The stopped run ends within 10 % of a run that goes 20 iterations further without the stall test."""
    objective = _objective(bundled_backbone, DEFAULT_PRECISION)
    stopped = _run(objective, content, 300, stall=OptimizeOptions().stall_tolerance)
    assert OptimizeOptions().stall_tolerance > 0  # on by default
    assert stopped.stopped_early and stopped.iterations < 300
    full = _run(objective, content, stopped.iterations + 20)
    assert not full.stopped_early and full.iterations > stopped.iterations
    window = OptimizeOptions().stall_window
    h = stopped.history
    assert h[-1 - window] - h[-1] <= OptimizeOptions().stall_tolerance * h[-1 - window]
    assert stopped.loss < 1.1 * full.loss, (stopped.loss, full.loss)


def test_pyramid_matches_single_scale_at_equal_work(bundled_backbone):
    """60 full-size iterations against 30 full-size ones after 120 at half size (96x128, coarse 48x64)."""
    content = textured_image(96, 128, seed=3)
    objective = _objective(bundled_backbone, DEFAULT_PRECISION)
    single = _run(objective, content, 60)
    fine = 30
    coarse = equal_work_coarse_iterations(60, fine)
    assert coarse == 120
    result = coarse_to_fine(objective, content, _grams_at(objective), preprocess(content), LossWeights(),
                            OptimizeOptions(iterations=fine, stall_tolerance=0.0), coarse)
    assert result.x.shape == (1, 96, 128, 3)
    assert 0 < result.coarse_iterations <= coarse and result.iterations == fine  # L-BFGS may converge sooner
    assert result.loss < 1.05 * single.loss, (result.loss, single.loss)


def test_pyramid_skips_a_coarse_level_too_small_for_vgg(bundled_backbone, content):
    objective = _objective(bundled_backbone, DEFAULT_PRECISION)
    result = coarse_to_fine(objective, content[:40, :60], _grams_at(objective), preprocess(content[:40, :60]),
                            LossWeights(), OptimizeOptions(iterations=3, stall_tolerance=0.0), 50)
    assert result.coarse_iterations == 0 and result.iterations == 3
