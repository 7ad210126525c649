"""The batched L2 logistic regression: scikit-learn's optimum for every C, one pass over the data for all of them."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from classifier.logistic import fit_l2_logistic, objective, sample_weights

CS = (0.003, 0.03, 0.3)


@pytest.fixture(scope="module")
def problem():
    """Correlated, unevenly scaled features with noisy labels and a class imbalance (70 % positives)."""
    rng = np.random.default_rng(3)
    n, d = 600, 80
    x = (rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) * 0.3).astype(np.float32)
    x[:, :5] *= 4
    y = (x @ rng.standard_normal(d) * 0.2 + rng.standard_normal(n) > -0.6).astype(np.float64)
    return x, y, {0: 1.6, 1: 0.7}


def test_every_c_reaches_scikit_learns_optimum(problem):
    x, y, class_weight = problem
    x = x.astype(np.float64)  # float64 features stay float64: the optimum to scikit-learn's precision
    fit = fit_l2_logistic(x, y, CS, sample_weights(y, class_weight), tol=1e-8)
    assert fit.converged and fit.coef.shape == (len(CS), x.shape[1]) and fit.intercept.shape == (len(CS),)
    for j, c in enumerate(CS):
        reference = LogisticRegression(C=c, tol=1e-10, max_iter=20000, class_weight=class_weight).fit(x, y)
        np.testing.assert_allclose(fit.decision(x)[:, j], reference.decision_function(x), atol=1e-3)
        np.testing.assert_allclose(fit.proba(x)[:, j], reference.predict_proba(x)[:, 1], atol=1e-4)
    # weaker penalties give larger weights: the columns are really different fits
    norms = np.linalg.norm(fit.coef, axis=1)
    assert norms[0] < norms[1] < norms[2]


def test_at_scikit_learns_tolerance_the_fit_is_as_close_as_scikit_learns_own(problem):
    x, y, class_weight = problem
    fit = fit_l2_logistic(x, y, CS, sample_weights(y, class_weight))  # tol 1e-4, as LogisticRegression's default
    exact = fit_l2_logistic(x, y, CS, sample_weights(y, class_weight), tol=1e-9)
    for j, c in enumerate(CS):
        default = LogisticRegression(C=c, max_iter=5000, class_weight=class_weight).fit(x, y)
        ours = np.abs(fit.decision(x)[:, j] - exact.decision(x)[:, j]).max()
        theirs = np.abs(default.decision_function(x) - exact.decision(x)[:, j]).max()
        assert ours <= max(2 * theirs, 1e-3), (c, ours, theirs)


def test_one_pass_serves_every_c(problem):
    """Fitting the Cs together costs about as many passes over x as the slowest C alone, not their sum."""
    x, y, _ = problem
    together = fit_l2_logistic(x, y, CS, tol=1e-6)
    alone = [fit_l2_logistic(x, y, [c], tol=1e-6).passes for c in CS]
    assert together.passes <= 1.2 * max(alone) < sum(alone)


def test_warm_start_from_the_optimum_stops_at_once_and_keeps_it(problem):
    x, y, _ = problem
    fit = fit_l2_logistic(x, y, CS, tol=1e-7)
    again = fit_l2_logistic(x, y, CS, tol=1e-6, init=fit)
    assert again.passes == 2 and again.n_iter == 0  # x @ w and x.T @ r at the start, nothing more
    np.testing.assert_array_equal(again.coef, fit.coef)
    one = fit.select(0.03)
    assert one.cs == (0.03,) and np.array_equal(one.coef[0], fit.coef[1])
    refit = fit_l2_logistic(x[:500], y[:500], [0.03], tol=1e-7, init=one)  # fewer rows: a nearby optimum
    cold = fit_l2_logistic(x[:500], y[:500], [0.03], tol=1e-7)
    assert refit.passes < cold.passes
    np.testing.assert_allclose(refit.decision(x), cold.decision(x), atol=1e-3)


def test_objective_gradient_matches_finite_differences(problem):
    x, y, class_weight = problem
    rng = np.random.default_rng(0)
    w, b = rng.standard_normal((x.shape[1], 2)) * 0.05, np.array([0.2, -0.1])
    weight, inv_c = sample_weights(y, class_weight), 1 / np.array([0.01, 1.0])
    loss, grad_w, grad_b = objective(w, b, x, y, weight, inv_c)
    assert loss.shape == (2,) and grad_w.shape == w.shape
    for i, j in [(0, 0), (3, 1), (40, 0)]:
        step = np.zeros_like(w)
        step[i, j] = 1e-3
        numeric = (objective(w + step, b, x, y, weight, inv_c)[0][j]
                   - objective(w - step, b, x, y, weight, inv_c)[0][j]) / 2e-3
        assert numeric == pytest.approx(grad_w[i, j], rel=1e-3, abs=1e-6)
    db = np.array([1e-3, 0.0])
    numeric = (objective(w, b + db, x, y, weight, inv_c)[0][0] - objective(w, b - db, x, y, weight, inv_c)[0][0]) / 2e-3
    assert numeric == pytest.approx(grad_b[0], rel=1e-3)


@pytest.mark.parametrize("bad, message", [
    (dict(cs=()), "positive"), (dict(cs=(0.1, 0.0)), "positive"), (dict(y=np.full(4, 2.0)), "0 or 1"),
    (dict(y=np.zeros(3)), "x must be"),
])
def test_bad_arguments_are_refused(bad, message):
    args = dict(x=np.zeros((4, 2), np.float32), y=np.array([0, 1, 0, 1.0]), cs=(1.0,)) | bad
    with pytest.raises(ValueError, match=message):
        fit_l2_logistic(**args)


def test_progress_reports_every_iteration_down_to_the_tolerance(problem):
    x, y, _ = problem
    seen = []
    fit = fit_l2_logistic(x, y, CS, tol=1e-5, progress=lambda worst: seen.append(worst.copy()))
    assert len(seen) == fit.n_iter and all(w.shape == (len(CS),) for w in seen)
    assert seen[-1].max() <= 1e-5 < seen[0].max()
