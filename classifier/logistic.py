"""L2-penalised logistic regression for several ``C`` at once, sharing each read of the data between them.

The head's feature matrix is large (about 16k rows by 28k columns, 1.7 GB float32); an L-BFGS iteration reads it
twice, once for ``X @ w`` and once for ``X.T @ r``. :func:`fit_l2_logistic` runs one L-BFGS per ``C`` (its own
correction pairs, direction and step) and advances them together, so those two reads serve every running ``C``
(``X @ D`` and ``X.T @ R`` with one column per ``C``; a ``C`` that has converged leaves the products). The log-odds
are carried along each direction, so the Armijo line search costs no read of ``X`` at all. Each ``C`` minimises
exactly its own objective, scikit-learn's (scaled as ``LogisticRegression(solver="lbfgs")`` scales it, intercept
unpenalised, class weights as row weights), and stops by the same rule (every gradient entry at most ``tol``).
``init`` warm-starts from an earlier solution (a refit on more rows, or on slightly moved features): the same
convex optimum, reached in fewer iterations.

What it saves depends on the BLAS: on the 2 AVX-512 cores measured (OpenBLAS), a product with four columns cost
about four single ones (0.16 s against 0.045 s per read of the 1.7 GB matrix), so sharing the reads is not free
there, and the measured gain over scikit-learn one ``C`` at a time (the ``head_solver`` benchmark) comes mostly
from the line search and the warm starts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

#: Default gradient tolerance: scikit-learn's ``LogisticRegression`` default, the rule the head's CV was measured with.
TOL = 1e-4


@dataclass(frozen=True)
class LogisticFit:
    """Fitted coefficients, one row per ``C``.

    Attributes:
        cs: the inverse penalty strengths, in the order of the rows.
        coef: ``(k, d) float64`` weights; intercept: ``(k,) float64`` (not penalised).
        n_iter: L-BFGS iterations of the joint fit; passes: function evaluations (two reads of ``x`` each).
        converged: every gradient entry of every ``C`` reached ``tol``.
    """

    cs: tuple[float, ...]
    coef: np.ndarray
    intercept: np.ndarray
    n_iter: int
    passes: int
    converged: bool

    def decision(self, x: np.ndarray) -> np.ndarray:
        """Return the log-odds ``(n, k) float64`` of rows ``x (n, d)``."""
        return np.asarray(x, np.float32) @ self.coef.T.astype(np.float32) + self.intercept

    def proba(self, x: np.ndarray) -> np.ndarray:
        """Return P(label 1) ``(n, k) float64`` of rows ``x (n, d)``."""
        return expit(self.decision(x))

    def select(self, c: float) -> LogisticFit:
        """Return the fit of one ``C`` (a one-row :class:`LogisticFit`, e.g. to warm-start a refit)."""
        j = self.cs.index(float(c))
        return LogisticFit((self.cs[j],), self.coef[j:j + 1], self.intercept[j:j + 1], self.n_iter, self.passes,
                           self.converged)


def sample_weights(y: np.ndarray, class_weight: dict[int, float] | None) -> np.ndarray:
    """Return per-row weights ``(n,) float64`` from ``{label: weight}`` (None: all rows weigh 1)."""
    if class_weight is None:
        return np.ones(len(y))
    return np.array([class_weight[int(v)] for v in np.asarray(y)], np.float64)


def objective(w: np.ndarray, b: np.ndarray, x: np.ndarray, y: np.ndarray, weight: np.ndarray, inv_c: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return every column's objective ``(k,)`` and its gradients ``(d, k)`` and ``(k,)`` at ``(w (d, k), b (k,))``.

    Column ``j``'s objective is scikit-learn's scaled one: ``sum_i s_i * (log(1 + e^z_ij) - y_i z_ij) / S +
    ||w_j||^2 / (2 C_j S)`` with ``z = x @ w + b``, ``s``: sample weights, ``S = sum(s)``, ``inv_c = 1 / C``
    ``(k,)``. ``x``: ``(n, d)`` float32 or float64; ``y``: ``(n,)`` in {0, 1}; ``weight``: ``(n,) float64``.
    """
    z = _matmul(x, w) + b
    return _loss(z, w, y, weight, inv_c), *_gradient(z, w, x, y, weight, inv_c)


def fit_l2_logistic(x: np.ndarray, y: np.ndarray, cs: Sequence[float], sample_weight: np.ndarray | None = None,
                    tol: float = TOL, max_iter: int = 5000, init: LogisticFit | None = None,
                    memory: int = 10, progress: Callable[[np.ndarray], None] | None = None) -> LogisticFit:
    """Fit an L2 logistic regression for every ``C`` in ``cs`` at once (see the module docstring).

    One L-BFGS per ``C`` (its own correction pairs and step), all advanced together: an iteration reads ``x``
    twice, once for ``x @ directions`` and once for ``x.T @ residuals``, whatever the number of ``C``. The log-odds
    ``z`` are carried along the directions in float64 (``z + t * x @ d``), so the Armijo line search costs no pass
    over ``x`` and sees the objective's true decrease even when ``x`` is float32.

    Args:
        x: ``(n, d)`` features (float64 stays float64, anything else is used as float32); y: ``(n,)`` in {0, 1}.
        cs: positive inverse penalty strengths; sample_weight: ``(n,)`` row weights (class weights included).
        tol: a ``C`` is done when every entry of its gradient is at most this (scikit-learn's ``tol``).
        max_iter: most iterations per ``C``; memory: L-BFGS correction pairs kept per ``C``.
        init: a fit with one row (used for every ``C``) or one row per ``C`` to start from (default: zeros).
        progress: called after every iteration with each ``C``'s largest gradient entry ``(k,)``.
    """
    x, y, cs, weight = _checked_inputs(x, y, cs, sample_weight)
    inv_c = 1.0 / np.array(cs)
    k = len(cs)
    w, b = _start(init, x.shape[1], k)
    z = _matmul(x, w) + b
    f = _loss(z, w, y, weight, inv_c)
    gw, gb = _gradient(z, w, x, y, weight, inv_c)
    passes = 2
    history: list[list[tuple[np.ndarray, np.ndarray, float]]] = [[] for _ in range(k)]
    active = _worst_gradient(gw, gb) > tol
    iters = np.zeros(k, int)
    while active.any():
        run = np.flatnonzero(active)  # only running C enter the products: a finished one costs nothing more
        dw, db = _directions(gw, gb, history, run)
        xd = np.zeros_like(z)
        xd[:, run] = _matmul(x, dw[:, run]) + db[run]
        slope = (gw * dw).sum(0) + gb * db
        t, ok = _armijo(z, xd, w, dw, f, slope, y, weight, inv_c, active)
        # a C whose line search found no decrease is at the limit of the arithmetic: it stops there
        moved = active & ok
        mv = np.flatnonzero(moved)
        new = _moved(x, y, weight, inv_c, (w, b, z, f, gw, gb), (dw, db, xd), t, mv)
        passes += 2 if len(mv) else 1  # x @ directions, then x.T @ residuals when some C moved
        _remember(history, mv, (w, b, gw, gb), new, memory)
        w, b, z, f, gw, gb = new
        iters[mv] += 1
        worst = _worst_gradient(gw, gb)
        active = moved & (worst > tol) & (iters < max_iter)
        if progress is not None:
            progress(worst)
    converged = bool((_worst_gradient(gw, gb) <= tol).all())
    return LogisticFit(cs, w.T.copy(), b.copy(), int(iters.max()), passes, converged)


def _checked_inputs(x: np.ndarray, y: np.ndarray, cs: Sequence[float], sample_weight: np.ndarray | None
                    ) -> tuple[np.ndarray, np.ndarray, tuple[float, ...], np.ndarray]:
    """Return ``(x, y, cs, weight)`` as the solver uses them: ``x (n, d)`` float64 or float32, ``y (n,) float64``
    in {0, 1}, ``cs`` a tuple of floats, ``weight (n,) float64`` (all 1 without ``sample_weight``); ValueError on
    a shape mismatch, a ``C`` that is not positive or a label that is not 0 or 1."""
    x = np.asarray(x)
    x = x if x.dtype == np.float64 else x.astype(np.float32, copy=False)
    y = np.asarray(y, np.float64).ravel()
    cs = tuple(float(c) for c in cs)
    if x.ndim != 2 or len(y) != len(x):
        raise ValueError(f"x must be (n, d) and y (n,), got {x.shape} and {y.shape}")
    if not cs or min(cs) <= 0:
        raise ValueError(f"C values {cs} must be positive")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("labels must be 0 or 1")
    weight = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, np.float64)
    return x, y, cs, weight


def _start(init: LogisticFit | None, d: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the starting ``(w (d, k), b (k,))`` float64: zeros, or ``init``'s one row (for every ``C``) or its
    ``k`` rows."""
    w, b = np.zeros((d, k)), np.zeros(k)
    if init is not None:
        w[:] = init.coef.T if len(init.cs) == k else init.coef[0][:, None]
        b[:] = init.intercept if len(init.cs) == k else init.intercept[0]
    return w, b


def _worst_gradient(gw: np.ndarray, gb: np.ndarray) -> np.ndarray:
    """Return each column's largest absolute gradient entry ``(k,)`` from ``gw (d, k)`` and ``gb (k,)``."""
    return np.maximum(np.abs(gw).max(0), np.abs(gb))


def _directions(gw: np.ndarray, gb: np.ndarray, history: list[list[tuple[np.ndarray, np.ndarray, float]]],
                run: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the search directions ``((d, k), (k,))`` of the columns ``run`` (zeros elsewhere): steepest descent
    of unit length while a column has no correction pairs, then its L-BFGS two-loop recursion."""
    d, k = gw.shape
    dw, db = np.zeros((d, k)), np.zeros(k)
    for j in run:
        g = np.append(gw[:, j], gb[j])
        step = _two_loop(g, history[j]) if history[j] else -g / np.linalg.norm(g)
        dw[:, j], db[j] = step[:d], step[d]
    return dw, db


def _moved(x, y, weight, inv_c, state: tuple, direction: tuple, t: np.ndarray, mv: np.ndarray) -> tuple:
    """Return the new ``(w, b, z, f, gw, gb)`` (copies of ``state``) after the steps ``t (k,)`` along ``direction
    = (dw (d, k), db (k,), xd (n, k))`` of the columns ``mv``; the others keep their values. Reads ``x`` once
    (the gradient) when ``mv`` is not empty."""
    w, b, z, f, gw, gb = state
    dw, db, xd = direction
    w_new, b_new, z_new, f_new = w.copy(), b.copy(), z.copy(), f.copy()
    gw_new, gb_new = gw.copy(), gb.copy()
    if len(mv):
        w_new[:, mv] += t[mv] * dw[:, mv]
        b_new[mv] += t[mv] * db[mv]
        z_new[:, mv] += t[mv] * xd[:, mv]
        f_new[mv] = _loss(z_new[:, mv], w_new[:, mv], y, weight, inv_c[mv])
        gw_new[:, mv], gb_new[mv] = _gradient(z_new[:, mv], w_new[:, mv], x, y, weight, inv_c[mv])
    return w_new, b_new, z_new, f_new, gw_new, gb_new


def _remember(history: list[list[tuple[np.ndarray, np.ndarray, float]]], mv: np.ndarray, old: tuple, new: tuple,
              memory: int) -> None:
    """Append each moved column's correction pair ``(s, y, 1 / s.y)`` to its ``history`` (the newest ``memory``
    kept), from ``old = (w, b, gw, gb)`` and ``new = (w, b, z, f, gw, gb)``. A pair with too small a curvature
    ``s.y`` is skipped: it would make the inverse Hessian estimate blow up."""
    w, b, gw, gb = old
    w_new, b_new, _, _, gw_new, gb_new = new
    for j in mv:
        s = np.append(w_new[:, j] - w[:, j], b_new[j] - b[j])
        yv = np.append(gw_new[:, j] - gw[:, j], gb_new[j] - gb[j])
        sy = float(s @ yv)
        if sy > 1e-12 * float(yv @ yv):
            history[j] = [*history[j][-(memory - 1):], (s, yv, 1.0 / sy)]


def _matmul(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Return ``x @ w`` as float64, computed in ``x``'s precision (one read of ``x``, no copy of it)."""
    return (x @ w.astype(x.dtype)).astype(np.float64)


def _loss(z: np.ndarray, w: np.ndarray, y: np.ndarray, weight: np.ndarray, inv_c: np.ndarray) -> np.ndarray:
    """Return the objective ``(k,)`` from the log-odds ``z (n, k)`` and weights ``w (d, k)``."""
    total = weight.sum()
    return (weight @ (np.logaddexp(0.0, z) - y[:, None] * z)) / total + 0.5 * inv_c / total * (w * w).sum(0)


def _gradient(z: np.ndarray, w: np.ndarray, x: np.ndarray, y: np.ndarray, weight: np.ndarray, inv_c: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """Return the gradient ``((d, k), (k,))`` from the log-odds ``z (n, k)`` (one read of ``x``)."""
    total = weight.sum()
    r = weight[:, None] * (expit(z) - y[:, None]) / total
    return (x.T @ r.astype(x.dtype)).astype(np.float64) + w * (inv_c / total), r.sum(0)


def _armijo(z, xd, w, dw, f, slope, y, weight, inv_c, active, c1: float = 1e-4, tries: int = 60
            ) -> tuple[np.ndarray, np.ndarray]:
    """Return each column's step ``t (k,)`` meeting Armijo's sufficient decrease from ``t = 1`` (quadratic
    interpolation when it fails) and whether one was found ``(k,) bool``; no pass over the data: the log-odds
    move as ``z + t * xd``. Inactive columns get ``t = 0``."""
    t = np.where(active, 1.0, 0.0)
    ok = ~active | ~(slope < 0)
    ok_found = np.zeros_like(ok)
    for _ in range(tries):
        todo = ~ok
        if not todo.any():
            break
        f_t = _loss(z + t * xd, w + t * dw, y, weight, inv_c)
        good = todo & (f_t <= f + c1 * t * slope)
        ok_found |= good
        ok |= good
        bad = todo & ~good
        curve = f_t - f - slope * t
        guess = np.where(curve > 0, -slope * t * t / (2 * np.where(curve > 0, curve, 1.0)), 0.5 * t)
        t = np.where(bad, np.clip(guess, 0.1 * t, 0.5 * t), t)
    found = ok_found & active
    return np.where(found, t, 0.0), found


def _two_loop(g: np.ndarray, history: list[tuple[np.ndarray, np.ndarray, float]]) -> np.ndarray:
    """Return the L-BFGS direction ``-H g`` from the correction pairs ``(s, y, 1 / s.y)``, oldest first."""
    q = g.copy()
    alphas = []
    for s, yv, rho in reversed(history):
        a = rho * float(s @ q)
        q -= a * yv
        alphas.append(a)
    s, yv, rho = history[-1]
    q *= 1.0 / (rho * float(yv @ yv))
    for (s, yv, rho), a in zip(history, reversed(alphas), strict=True):
        q += (a - rho * float(yv @ q)) * s
    return -q
