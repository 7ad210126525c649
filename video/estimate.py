"""How long an optimisation-path video run will take on this CPU, from a short probe of the VGG pass.

The run's time is almost all VGG loss-and-gradient passes (97 % of a 20-frame run of vtest at 320 px: 639 s of
651 s stylising), about 1.2 per L-BFGS iteration (vtest at 256 px, 10 frames, the defaults: 63-64 evaluations for
the painted first frame's 60 iterations, 18-19 for a later frame's 15; 232 for 195 iterations in all; with the
previous coarse-to-fine first frame 167 for 160 and 43 for 40). A probe times a few passes at the working size and
at the first frame's coarse size (when it has one); :func:`estimate_seconds` multiplies them by the run's iteration
counts. Early stopping can only shorten the run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from transfer.features import preprocess
from transfer.objective import LossWeights
from transfer.pyramid import COARSE_SCALE, MIN_COARSE_SIDE, coarse_size
from transfer.stylize import StyleSpec, build_objective
from video.config import VideoConfig

#: Loss evaluations per L-BFGS iteration: typical (measured, see the module docstring) and at most (a line search
#: that backtracks more often than it did there).
EVALUATIONS_PER_ITERATION = 1.2
MAX_EVALUATIONS_PER_ITERATION = 1.4
#: Time outside the VGG pass (optimizer, flow, warping, encoding) as a share on top: typical and at most.
OVERHEAD = 0.05
MAX_OVERHEAD = 0.25


@dataclass(frozen=True)
class RunPlan:
    """What an optimisation-path run does: ``frames`` frames of ``height`` x ``width`` pixels; the first runs
    ``coarse_iterations`` at half size then ``first_iterations`` at full size, every later one ``iterations``
    (by default :class:`video.config.VideoConfig`'s)."""

    frames: int
    height: int
    width: int
    first_iterations: int = VideoConfig.first_iterations
    coarse_iterations: int = VideoConfig.coarse_iterations
    iterations: int = VideoConfig.iterations

    def coarse_shape(self) -> tuple[int, int] | None:
        """Return the first frame's coarse (height, width), or None when it runs single-scale."""
        ch, cw = coarse_size(self.height, self.width, COARSE_SCALE)
        return (ch, cw) if self.coarse_iterations > 0 and min(ch, cw) >= MIN_COARSE_SIDE else None


@dataclass(frozen=True)
class Estimate:
    """Seconds a run is expected to take (``typical``) and at most (``upper``)."""

    typical: float
    upper: float

    def describe(self, cpu: str) -> str:
        """Return e.g. ``"about 6 min (at most 8 min) on <cpu>"`` (minutes rounded up, at least 1)."""
        return f"about {_minutes(self.typical)} min (at most {_minutes(self.upper)} min) on {cpu}"


def full_size_iterations(plan: RunPlan) -> int:
    """Return the run's iterations at the working size (every frame's but the first frame's coarse ones)."""
    return plan.first_iterations + max(0, plan.frames - 1) * plan.iterations if plan.frames > 0 else 0


def estimate_seconds(plan: RunPlan, full_pass: float, coarse_pass: float) -> Estimate:
    """Return the :class:`Estimate` of ``plan`` from the seconds of one loss-and-gradient pass at the working size
    (``full_pass``) and at the coarse size (``coarse_pass``)."""
    if full_pass < 0 or coarse_pass < 0:
        raise ValueError("pass times must be non-negative")
    coarse = plan.coarse_iterations if plan.frames > 0 and plan.coarse_shape() is not None else 0
    vgg = full_size_iterations(plan) * full_pass + coarse * coarse_pass
    return Estimate(typical=vgg * EVALUATIONS_PER_ITERATION * (1 + OVERHEAD),
                    upper=vgg * MAX_EVALUATIONS_PER_ITERATION * (1 + MAX_OVERHEAD))


def time_passes(objective, height: int, width: int, style_grams, loss, repeats: int = 2) -> float:
    """Return the median seconds of ``repeats`` loss-and-gradient passes of ``objective`` on a (height, width)
    mid-grey frame after one untimed warm-up pass (the graph is traced once for every size)."""
    content = preprocess(np.full((height, width, 3), 128, np.uint8))
    targets = objective.targets(content, style_grams)
    x = content + np.random.default_rng(0).normal(0, 8, content.shape).astype(np.float32)
    objective.value_and_grad(x, targets, loss)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        objective.value_and_grad(x, targets, loss)
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def _minutes(seconds: float) -> int:
    return max(1, int(np.ceil(seconds / 60)))


def probe(plan: RunPlan, weights: str) -> tuple[float, float]:
    """Return the seconds of one loss-and-gradient pass at ``plan``'s working size and at its coarse size (0 when
    single-scale), with the backbone ``weights`` and this CPU's default precision, as a run builds them."""
    objective = build_objective(StyleSpec(styles=("probe",), weights=weights))
    noise = np.random.default_rng(1).uniform(0, 255, (plan.height, plan.width, 3)).astype(np.uint8)
    grams = objective.style_grams(preprocess(noise))
    full = time_passes(objective, plan.height, plan.width, grams, LossWeights())
    shape = plan.coarse_shape()
    coarse = time_passes(objective, *shape, grams, LossWeights()) if shape else 0.0
    return full, coarse
