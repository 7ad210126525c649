"""Bounded minimisation of an image: scipy's L-BFGS-B (Gatys' and Ruder's choice) or Adam.

Both take a ``value_and_grad(x) -> (loss, grad, parts)`` over a (1, H, W, 3) float32 array and keep every
pixel inside per-channel bounds (the VGG-preprocessed range of [0, 255] pixels). Early stopping is on by default: a
run ends once its loss stalls (see :data:`DEFAULT_STALL_TOLERANCE`). The result says how the time split between
loss-and-gradient evaluations (the VGG pass) and the optimiser's own work.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

#: Early stopping: stop once the loss improved by less than this fraction over the last ``DEFAULT_STALL_WINDOW``
#: iterations.
DEFAULT_STALL_TOLERANCE = 0.01
DEFAULT_STALL_WINDOW = 10
#: L-BFGS-B's memory (scipy's ``maxcor``). Its bookkeeping grows with memory x pixels. Measured on vtest's first
#: frame at 256x192 (Starry Night, default weights, bfloat16, content start, 80 iterations and 82 evaluations each;
#: three runs per memory, one process each, on the shared 2-core machine at load 5 with a training job running, so
#: read ratios rather than seconds): 100 corrections spent 42-54 s (median 48) outside the VGG pass (20-22 s inside
#: it at every memory), final loss 32.92; 20 spent 24-28 s (median 25) for 33.19 (+0.8 %); 10 spent 14-16 s for
#: 33.90 (+3.0 %); 15 (one run) 25 s for 33.42 (+1.5 %). 20 halves the overhead within 1 % of the loss. A run resumed
#: after SIGKILL reproduces the uninterrupted one bit for bit at any memory (tests/test_video_pipeline.py; checked
#: with 10, 20 and 100); with 20 it once did not, because the objective's graph depended on the sizes evaluated
#: before it (fixed in transfer/objective.py).
DEFAULT_LBFGS_MEMORY = 20

ValueAndGrad = Callable[[np.ndarray], tuple[float, np.ndarray, dict[str, float]]]
Progress = Callable[[int, float, dict[str, float]], None]


class OptimizerKind(StrEnum):
    LBFGS = "lbfgs"
    ADAM = "adam"


@dataclass(frozen=True)
class OptimizeOptions:
    """How long and how to optimise.

    Attributes:
        iterations: maximum optimiser iterations (L-BFGS iterations or Adam steps).
        stall_tolerance: stop early once the loss improved by less than this fraction over the last
            ``stall_window`` iterations (0 disables early stopping; on by default).
        adam_learning_rate: step size in VGG-preprocessed pixel units.
        lbfgs_memory: corrections L-BFGS-B keeps (its cost per iteration grows with it times the pixel count;
            :data:`DEFAULT_LBFGS_MEMORY`, 20, by default).
    """

    kind: OptimizerKind = OptimizerKind.LBFGS
    iterations: int = 500
    stall_tolerance: float = DEFAULT_STALL_TOLERANCE
    stall_window: int = DEFAULT_STALL_WINDOW
    adam_learning_rate: float = 5.0
    lbfgs_memory: int = DEFAULT_LBFGS_MEMORY


@dataclass
class OptimizeResult:
    """Final image (1, H, W, 3), its loss parts, iterations used and the loss after each iteration.

    ``evaluations`` counts loss-and-gradient calls, ``seconds_evaluating`` their time (the VGG pass) and ``seconds``
    the whole minimisation, so ``seconds - seconds_evaluating`` is the optimiser's own overhead.
    ``coarse_iterations`` is set by :func:`transfer.pyramid.coarse_to_fine` (0 for a single-scale run).
    """

    x: np.ndarray
    loss: float
    parts: dict[str, float]
    iterations: int
    history: list[float] = field(default_factory=list)
    stopped_early: bool = False
    evaluations: int = 0
    seconds_evaluating: float = 0.0
    seconds: float = 0.0
    coarse_iterations: int = 0


class _Timed:
    """Wraps a ``value_and_grad`` and counts its calls and the seconds spent in them."""

    def __init__(self, value_and_grad: ValueAndGrad):
        self.value_and_grad, self.calls, self.seconds = value_and_grad, 0, 0.0

    def __call__(self, x: np.ndarray):
        started = time.perf_counter()
        try:
            return self.value_and_grad(x)
        finally:
            self.calls += 1
            self.seconds += time.perf_counter() - started


class _Stall:
    """Tracks the loss history and says when the relative improvement over a window became too small."""

    def __init__(self, tolerance: float, window: int):
        self.tolerance, self.window, self.history = tolerance, window, []

    def push(self, loss: float) -> bool:
        self.history.append(loss)
        if self.tolerance <= 0 or len(self.history) <= self.window:
            return False
        old = self.history[-1 - self.window]
        return (old - loss) <= self.tolerance * abs(old)


def minimize(
    value_and_grad: ValueAndGrad,
    x0: np.ndarray,
    bounds: tuple[np.ndarray, np.ndarray],
    options: OptimizeOptions,
    progress: Progress | None = None,
) -> OptimizeResult:
    """Minimise over images ``x`` of shape ``x0.shape`` (1, H, W, 3) within per-channel ``bounds``.

    Returns the best iterate found. ``progress(iteration, loss, parts)`` is called after each iteration.
    """
    started = time.perf_counter()
    timed = _Timed(value_and_grad)
    lo, hi = (np.broadcast_to(b, x0.shape).astype(np.float32) for b in bounds)
    x0 = np.clip(np.asarray(x0, np.float32), lo, hi)
    if options.iterations <= 0:
        loss, _, parts = timed(x0)
        result = OptimizeResult(x0, loss, parts, 0, [])
    elif OptimizerKind(options.kind) is OptimizerKind.LBFGS:
        result = _lbfgs(timed, x0, lo, hi, options, progress)
    else:
        result = _adam(timed, x0, lo, hi, options, progress)
    result.evaluations, result.seconds_evaluating = timed.calls, timed.seconds
    result.seconds = time.perf_counter() - started
    return result


def _lbfgs(value_and_grad, x0, lo, hi, options, progress) -> OptimizeResult:
    from scipy.optimize import minimize as scipy_minimize

    shape = x0.shape
    best = {"loss": np.inf, "x": x0, "parts": {}}
    last = {"loss": np.inf, "parts": {}}
    stall = _Stall(options.stall_tolerance, options.stall_window)
    stopped = {"early": False}

    def fun(flat: np.ndarray):
        x = flat.reshape(shape).astype(np.float32)
        loss, grad, parts = value_and_grad(x)
        last.update(loss=loss, parts=parts)
        if loss < best["loss"]:
            best.update(loss=loss, x=x, parts=parts)
        return float(loss), grad.astype(np.float64).ravel()

    def callback(intermediate_result) -> None:
        it = len(stall.history) + 1
        loss = float(intermediate_result.fun)
        if progress is not None:
            progress(it, loss, last["parts"])
        if stall.push(loss):
            stopped["early"] = True
            raise StopIteration

    scipy_minimize(
        fun,
        x0.astype(np.float64).ravel(),
        jac=True,
        method="L-BFGS-B",
        bounds=np.stack([lo.ravel(), hi.ravel()], axis=1),
        callback=callback,
        options={"maxiter": options.iterations, "maxfun": options.iterations * 2, "maxcor": options.lbfgs_memory,
                 "gtol": 0.0, "ftol": 0.0},
    )
    return OptimizeResult(best["x"], float(best["loss"]), best["parts"], len(stall.history), stall.history,
                          stopped["early"])


def _adam(value_and_grad, x0, lo, hi, options, progress) -> OptimizeResult:
    lr, b1, b2, eps = options.adam_learning_rate, 0.9, 0.999, 1e-8
    x = x0.copy()
    m = np.zeros_like(x)
    v = np.zeros_like(x)
    stall = _Stall(options.stall_tolerance, options.stall_window)
    best = OptimizeResult(x0, np.inf, {}, 0)
    stopped = False
    for t in range(1, options.iterations + 1):
        loss, grad, parts = value_and_grad(x)
        if loss < best.loss:
            best = OptimizeResult(x.copy(), loss, parts, t)
        m = b1 * m + (1 - b1) * grad
        v = b2 * v + (1 - b2) * grad * grad
        step = lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        x = np.clip(x - step, lo, hi).astype(np.float32)
        if progress is not None:
            progress(t, loss, parts)
        if stall.push(loss):
            stopped = True
            break
    loss, _, parts = value_and_grad(x)
    if loss < best.loss:
        best = OptimizeResult(x, loss, parts, len(stall.history))
    return OptimizeResult(best.x, best.loss, best.parts, len(stall.history), stall.history, stopped)
