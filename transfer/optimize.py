"""Bounded minimisation of an image: scipy's L-BFGS-B (Gatys' and Ruder's choice) or Adam.

Both take a ``value_and_grad(x) -> (loss, grad, parts)`` over a (1, H, W, 3) float32 array and keep every
pixel inside per-channel bounds (the VGG-preprocessed range of [0, 255] pixels).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

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
            ``stall_window`` iterations (0 disables early stopping).
        adam_learning_rate: step size in VGG-preprocessed pixel units.
    """

    kind: OptimizerKind = OptimizerKind.LBFGS
    iterations: int = 500
    stall_tolerance: float = 0.0
    stall_window: int = 20
    adam_learning_rate: float = 5.0


@dataclass
class OptimizeResult:
    """Final image (1, H, W, 3), its loss parts, iterations used and the loss after each iteration."""

    x: np.ndarray
    loss: float
    parts: dict[str, float]
    iterations: int
    history: list[float] = field(default_factory=list)
    stopped_early: bool = False


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
    lo, hi = (np.broadcast_to(b, x0.shape).astype(np.float32) for b in bounds)
    x0 = np.clip(np.asarray(x0, np.float32), lo, hi)
    if options.iterations <= 0:
        loss, _, parts = value_and_grad(x0)
        return OptimizeResult(x0, loss, parts, 0, [])
    if OptimizerKind(options.kind) is OptimizerKind.LBFGS:
        return _lbfgs(value_and_grad, x0, lo, hi, options, progress)
    return _adam(value_and_grad, x0, lo, hi, options, progress)


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
        options={"maxiter": options.iterations, "maxfun": options.iterations * 2, "maxcor": 100, "gtol": 0.0,
                 "ftol": 0.0},
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
