"""Bounded minimisation of an image: scipy's L-BFGS-B (Gatys' and Ruder's choice), a projected L-BFGS in numpy or
Adam.

Each takes a ``value_and_grad(x) -> (loss, grad, parts)`` over a (1, H, W, 3) float32 array and keeps every
pixel inside per-channel bounds (the VGG-preprocessed range of [0, 255] pixels). Early stopping is on by default: a
run ends once its loss stalls (see :data:`DEFAULT_STALL_TOLERANCE`). The result says how the time split between
loss-and-gradient evaluations (the VGG pass) and the optimiser's own work.
"""

from __future__ import annotations

import contextlib
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
#: before it (fixed in transfer/objective.py). Those seconds outside the VGG pass were mostly OpenBLAS thread
#: hand-offs (see :func:`_one_blas_thread`); with BLAS on one thread, per iteration on a cheap synthetic objective
#: at 256x192: 11-13 ms at memory 5, 16-23 at 10, 31-43 at 20, 150-170 at 100 (0.3-1 s more per call for scipy's
#: per-pixel Python loops over the bounds), and 3, 4, 5, 20-26 ms for the projected L-BFGS.
DEFAULT_LBFGS_MEMORY = 20

ValueAndGrad = Callable[[np.ndarray], tuple[float, np.ndarray, dict[str, float]]]
Progress = Callable[[int, float, dict[str, float]], None]


class OptimizerKind(StrEnum):
    #: scipy's L-BFGS-B (generalised Cauchy point, subspace minimisation, More-Thuente line search).
    LBFGS = "lbfgs"
    ADAM = "adam"
    #: L-BFGS in numpy on the free pixels (those at a bound whose gradient points out of the box stay put), each
    #: trial point projected onto the box, a weak-Wolfe line search along the projection arc (see
    #: :func:`_lbfgs_projected`).
    LBFGS_PROJECTED = "lbfgs-projected"


@dataclass(frozen=True)
class OptimizeOptions:
    """How long and how to optimise.

    Attributes:
        iterations: maximum optimiser iterations (L-BFGS iterations or Adam steps).
        stall_tolerance: stop early once the loss improved by less than this fraction over the last
            ``stall_window`` iterations (0 disables early stopping; on by default).
        adam_learning_rate: step size in VGG-preprocessed pixel units.
        lbfgs_memory: corrections L-BFGS-B (and the projected L-BFGS) keep (its cost per iteration grows with it
            times the pixel count; :data:`DEFAULT_LBFGS_MEMORY`, 20, by default).
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
    with _one_blas_thread():
        if options.iterations <= 0:
            loss, _, parts = timed(x0)
            result = OptimizeResult(x0, loss, parts, 0, [])
        elif OptimizerKind(options.kind) is OptimizerKind.LBFGS:
            result = _lbfgs(timed, x0, lo, hi, options, progress)
        elif OptimizerKind(options.kind) is OptimizerKind.LBFGS_PROJECTED:
            result = _lbfgs_projected(timed, x0, lo, hi, options, progress)
        else:
            result = _adam(timed, x0, lo, hi, options, progress)
    result.evaluations, result.seconds_evaluating = timed.calls, timed.seconds
    result.seconds = time.perf_counter() - started
    return result


_blas_controller = None


def _one_blas_thread():
    """A context in which OpenBLAS (scipy's and numpy's) runs on the calling thread only.

    scipy's L-BFGS-B calls BLAS on whole images every iteration (2 x memory ``ddot`` in its matrix update, ``ddot``,
    ``dnrm2`` and ``dcopy`` per evaluation); OpenBLAS hands each one to its worker threads, and on a machine whose
    cores are busy (the VGG pass's own threads, other jobs) every hand-off waits for a core. Measured on 256x192
    (147,456 pixels), memory 20, on the shared 2-core machine: 100-380 ms per iteration outside the VGG pass with
    OpenBLAS's default 2 threads, 31-43 ms with 1 (synthetic objective); on vtest's first frame 13-25 s against
    3.5-4 s over 80 iterations, with the same losses to 5 digits. TensorFlow's VGG pass does not use OpenBLAS. The
    limit is process-wide while it lasts (threadpoolctl, a scikit-learn dependency; without it nothing changes).
    """
    global _blas_controller
    try:
        import scipy.optimize  # noqa: F401  (loads scipy's OpenBLAS before the controller lists the libraries)
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return contextlib.nullcontext()
    if _blas_controller is None:
        _blas_controller = ThreadpoolController()
    return _blas_controller.limit(limits=1, user_api="blas")


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


#: Line search of :func:`_lbfgs_projected`: sufficient decrease and curvature constants (scipy's L-BFGS-B uses the
#: same, ftol=1e-3 and gtol=0.9) and the most evaluations one iteration may spend (scipy's maxls).
_ARMIJO, _CURVATURE, _MAX_LINE_SEARCH = 1e-3, 0.9, 20


def _lbfgs_projected(value_and_grad, x0, lo, hi, options, progress) -> OptimizeResult:
    """Projected L-BFGS over float32 images.

    Direction ``d = -P H P g``: ``P`` zeroes the pixels held at a bound (at the bound with the gradient pointing out
    of the box), ``H`` is the L-BFGS inverse Hessian of the last ``lbfgs_memory`` pairs (two-loop recursion, scaled
    by ``s.y / y.y``), so ``g.d < 0`` whenever a free pixel has a gradient. Trial points ``clip(x + t d)`` follow the
    projection arc; a step is accepted on sufficient decrease ``f(t) <= f + c1 g.(x_t - x)`` and the weak curvature
    condition ``g_t.(x_t - x) >= c2 g.(x_t - x)`` (which makes ``s.y > 0``), or on sufficient decrease alone once it
    takes every moving pixel to its bound. Too long a step backtracks by quadratic interpolation, too short a one
    extrapolates by the secant of the slopes, and once bracketed the search bisects; after ``_MAX_LINE_SEARCH``
    evaluations the lowest sufficient-decrease point is taken (without one the memory is dropped and the iteration
    restarts along ``-P g``; a failure from there ends the run); a trial with exactly the current loss (its
    rounding floor) ends the search too. The first trial point is ``clip(x - g)``, as in L-BFGS-B on a box. A pair
    with ``s.y <= 0`` clears the memory. One iteration per accepted step; the evaluation budget is
    ``2 * iterations``, as for :func:`_lbfgs`.
    """
    n = x0.size
    lo, hi = lo.ravel(), hi.ravel()
    memory = max(1, options.lbfgs_memory)
    max_evaluations = 2 * options.iterations
    stall = _Stall(options.stall_tolerance, options.stall_window)
    evaluate = _Evaluations(value_and_grad, x0)
    x = x0.reshape(n).copy()
    f, g, _ = evaluate(x)
    pairs: list[tuple[np.ndarray, np.ndarray, float]] = []  # (s, y, 1 / s.y), oldest first
    stopped = False
    while len(stall.history) < options.iterations and evaluate.count <= max_evaluations:
        d = _projected_direction(x, g, lo, hi, pairs)
        if d is None:
            break  # every pixel with a gradient is held at a bound: a stationary point of the box
        step = _line_search(evaluate, x, f, g, d, 1.0, lo, hi)
        if step is None:
            if not pairs:
                break  # no decrease even along the projected steepest descent
            pairs.clear()
            continue
        x_new, f_new, g_new, parts = step
        _remember(pairs, x_new - x, g_new - g, memory)
        x, f, g = x_new, f_new, g_new
        if progress is not None:
            progress(len(stall.history) + 1, f, parts)
        if stall.push(f):
            stopped = True
            break
    best = evaluate.best
    return OptimizeResult(best["x"], float(best["loss"]), best["parts"], len(stall.history), stall.history, stopped)


class _Evaluations:
    """Wraps a ``value_and_grad`` for flat float32 images of ``x0``'s size: returns ``(loss, flat float32 grad,
    parts)``, counts the calls and keeps the lowest loss seen with its image (``x0``'s shape) and parts."""

    def __init__(self, value_and_grad: ValueAndGrad, x0: np.ndarray):
        self.value_and_grad, self.shape, self.count = value_and_grad, x0.shape, 0
        self.best = {"loss": np.inf, "x": x0, "parts": {}}

    def __call__(self, flat: np.ndarray):
        x = flat.reshape(self.shape)
        loss, grad, parts = self.value_and_grad(x)
        self.count += 1
        loss = float(loss)
        if loss < self.best["loss"]:
            self.best.update(loss=loss, x=x, parts=parts)
        return loss, np.asarray(grad, np.float32).reshape(flat.size), parts


def _projected_direction(x, g, lo, hi, pairs) -> np.ndarray | None:
    """Return the direction ``-P H P g`` (flat float32, 0 on the pixels held at a bound: at it with the gradient
    pointing out of the box), or None when no free pixel has a gradient (a stationary point of the box)."""
    free = ~(((x <= lo) & (g > 0)) | ((x >= hi) & (g < 0)))
    q = np.where(free, g, np.float32(0))
    if not q.any():
        return None
    d = -_two_loop(q, pairs)
    d[~free] = 0
    return d


def _remember(pairs: list[tuple[np.ndarray, np.ndarray, float]], s: np.ndarray, y: np.ndarray, memory: int) -> None:
    """Append the pair ``(s, y, 1 / s.y)`` to ``pairs`` (the newest ``memory`` kept); a pair with ``s.y <= 0``
    would make the inverse Hessian indefinite: it clears the memory instead."""
    sy = float(np.dot(s, y))
    if sy > 0:
        pairs.append((s, y, 1.0 / sy))
        if len(pairs) > memory:
            pairs.pop(0)
    else:
        pairs.clear()


def _two_loop(q: np.ndarray, pairs: list[tuple[np.ndarray, np.ndarray, float]]) -> np.ndarray:
    """``H q`` for the L-BFGS inverse Hessian of ``pairs`` (identity scaled by ``s.y / y.y`` of the newest)."""
    q = q.copy()
    alphas = []
    for s, y, rho in reversed(pairs):
        alpha = rho * float(np.dot(s, q))
        q -= np.float32(alpha) * y
        alphas.append(alpha)
    if pairs:
        s, y, rho = pairs[-1]
        q *= np.float32(1.0 / (rho * float(np.dot(y, y))))
    for (s, y, rho), alpha in zip(pairs, reversed(alphas), strict=True):
        beta = rho * float(np.dot(y, q))
        q += np.float32(alpha - beta) * s
    return q


def _line_search(evaluate, x, f, g, d, t, lo, hi):
    """Weak-Wolfe search along ``clip(x + t d)``; ``(x_t, f_t, g_t, parts)`` of the accepted point or None."""
    low, high = 0.0, np.inf  # bracket of step lengths: ``low`` gave sufficient decrease (or is 0), ``high`` did not
    with np.errstate(divide="ignore", invalid="ignore"):  # beyond ``last`` every moving pixel sits at its bound
        last = float(np.max(np.where(d > 0, (hi - x) / d, np.where(d < 0, (lo - x) / d, 0.0)), initial=0.0))
    t = min(t, last)
    f_low, slope_low = f, float(np.dot(g, d))  # value and slope (per unit t) at ``low``
    fallback = None  # lowest point with sufficient decrease but too steep a slope
    for _ in range(_MAX_LINE_SEARCH):
        x_t = np.clip(x + np.float32(t) * d, lo, hi)
        p = x_t - x
        decrease = float(np.dot(g, p))  # < 0 along a descent direction, whatever the projection clipped
        if decrease >= 0:
            return fallback  # nothing moves: every free pixel already at its bound along d, or rounding
        f_t, g_t, parts = evaluate(x_t)
        if f_t == f:
            return fallback  # the loss's rounding floor: shorter steps would change it even less
        slope_t = float(np.dot(g_t, p)) / t
        if not np.isfinite(f_t) or f_t > f + _ARMIJO * decrease:  # too long: interpolate inside [low, t]
            high = t
            span = high - low
            curvature = f_t - f_low - slope_low * span if np.isfinite(f_t) else np.inf
            guess = low - slope_low * span * span / (2.0 * curvature) if curvature > 0 else low + 0.5 * span
            t = min(max(guess, low + 0.1 * span), low + (0.5 if low == 0 else 0.9) * span)
            continue
        if slope_t * t >= _CURVATURE * decrease or t >= last:
            return x_t, f_t, g_t, parts
        if fallback is None or f_t < fallback[1]:
            fallback = (x_t, f_t, g_t, parts)
        if high == np.inf:  # still descending steeply: the slopes' secant, between 2x and 10x further
            denominator = slope_low - slope_t
            guess = t + (t - low) * slope_t / denominator if denominator < 0 else 10.0 * t
            low, f_low, slope_low = t, f_t, slope_t
            t = min(max(guess, 2.0 * t), 10.0 * t, last)
        else:
            low, f_low, slope_low = t, f_t, slope_t
            t = low + 0.5 * (high - low)
    return fallback


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
