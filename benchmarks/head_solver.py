"""The logistic head's solver: scikit-learn one ``C`` at a time (the code before) against every ``C`` at once.

``make finetune``'s stage 1 on ``../shared/data/images``: the head inputs of the training split's views (the
bundled block 5's statistics beside the texture vector, normalised as training normalises them), every ``C`` of
``FinetuneConfig.head_c``, class weights as training sets them. Both solvers run in this process on the same
matrix: ``LogisticRegression(C=c, max_iter=5000)`` per ``C`` (what ``classifier.finetune`` called before) and
:func:`classifier.logistic.fit_l2_logistic` once for all. Then the refit on training plus validation rows of the
chosen ``C``: scikit-learn from zero against the batched solver warm-started from its training fit. Reported per
``C``: seconds, iterations, the validation AUC (views averaged per image) of both, how far their decisions are
apart and each one's largest gradient entry (both must meet the stopping rule, ``tol = 1e-4``), and as a referee
the same objectives solved to ``1e-6``: its validation AUC and how far each solver's decisions are from it (the
stopping rule leaves both somewhere near the optimum; which ``C`` wins on validation can hang on that).

The trunk cache is ``bench/classifier/cache`` (shared with the ``classifier`` benchmark: same images, size, seed
and weights, so the same key); quick mode fits two views instead of fourteen.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from benchmarks.shared import SHARED_IMAGES
from classifier import model as M
from classifier.cache import FeatureCache
from classifier.data import load_dataset
from classifier.finetune import FinetuneConfig, balanced_class_weight
from classifier.logistic import LogisticFit, fit_l2_logistic, objective, sample_weights
from classifier.pipeline import FIRST_CROP
from classifier.predict import average_views
from transfer.backbone import describe_weights, load_backbone

#: Gradient tolerance of the referee fit (training's is 1e-4).
TIGHT_TOL = 1e-6


def run(quick: bool, out_dir: Path) -> dict:
    """Return both solvers' seconds, iterations and validation scores per ``C`` on the same head inputs."""
    if not SHARED_IMAGES.is_dir():
        return {"skipped": f"needs {SHARED_IMAGES} (not present on this machine)"}
    config = FinetuneConfig(data=SHARED_IMAGES, out=Path(out_dir) / "head_solver")
    views = ((0, FIRST_CROP), (0, FIRST_CROP)) if quick else (config.train_views, config.eval_views)
    return compare(config, Path(out_dir) / "classifier" / "cache", *views)


def compare(config: FinetuneConfig, cache_root: Path, train_views, eval_views) -> dict:
    """Fit stage 1's head on ``config.data`` (its split, image size, grid of ``C``) with both solvers; see the
    module docstring. ``train_views`` / ``eval_views``: the views of the training / validation rows."""
    table = load_dataset(config.data, seed=config.seed, fractions=config.fractions).table
    split = table["split"].to_numpy()
    train, val = np.flatnonzero(split == "train"), np.flatnonzero(split == "val")
    labels = table["label"].to_numpy().astype(np.float64)
    xt, yt, xv, yv = _head_inputs(table, config, cache_root, train, val, train_views, eval_views, labels)
    data = _HeadData(xt, yt, xv, yv, labels[val], len(eval_views), balanced_class_weight(yt))
    cs = config.head_c
    rows, sk_seconds, sk_fits = _sklearn_per_c(data, cs)
    batched, batched_seconds, tight, tight_seconds = _batched_per_c(data, cs, rows, sk_fits)
    chosen = max(rows, key=lambda r: r["batched_val_auc"])["C"]
    return {"rows": int(len(xt)), "features": int(xt.shape[1]), "views": len(train_views), "cs": list(cs),
            "sklearn_seconds": sk_seconds, "batched_seconds": batched_seconds,
            "speedup": sk_seconds / max(batched_seconds, 1e-9), "batched_iterations": batched.n_iter,
            "batched_passes": batched.passes, "batched_converged": batched.converged,
            "tight_tol": TIGHT_TOL, "tight_seconds": tight_seconds, "tight_converged": tight.converged,
            **_refit(data, chosen, batched), "per_c": rows}


@dataclass(frozen=True)
class _HeadData:
    """Stage 1's normalised head inputs: training rows ``xt (n, d)`` and labels ``yt (n,)``, validation rows ``xv
    (m, d)`` (view-major: ``views`` views of each of the ``len(val_labels)`` validation images) and labels ``yv
    (m,)``, the validation images' labels ``val_labels``, all in {0, 1}, and the class weights of training."""

    xt: np.ndarray
    yt: np.ndarray
    xv: np.ndarray
    yv: np.ndarray
    val_labels: np.ndarray
    views: int
    class_weight: dict[int, float] | None

    def val_auc(self, decision_val: np.ndarray) -> float:
        """Return the validation AUC in [0, 1] of the log-odds ``decision_val (m,)``, views averaged per image."""
        p = 1 / (1 + np.exp(-decision_val))
        return float(roc_auc_score(self.val_labels, average_views(p.reshape(self.views, len(self.val_labels)))))

    def worst_gradient(self, coef: np.ndarray, intercept: float, c: float) -> float:
        """Return the largest gradient entry of ``C = c``'s training objective at ``(coef (d,), intercept)``."""
        _, gw, gb = objective(coef[:, None], np.array([intercept]), self.xt, self.yt,
                              sample_weights(self.yt, self.class_weight), np.array([1 / c]))
        return float(max(np.abs(gw).max(), np.abs(gb).max()))


def _sklearn_per_c(data: _HeadData, cs) -> tuple[list[dict], float, dict]:
    """Fit ``LogisticRegression`` one ``C`` at a time; return a row per ``C`` (seconds, iterations, validation AUC,
    largest gradient entry), the total seconds and the fits by ``C``."""
    rows, sk_seconds, sk_fits = [], 0.0, {}
    for c in cs:
        t0 = time.perf_counter()
        fit = LogisticRegression(C=c, max_iter=5000, class_weight=data.class_weight).fit(data.xt, data.yt)
        seconds = time.perf_counter() - t0
        sk_seconds += seconds
        sk_fits[c] = fit
        rows.append({"C": c, "sklearn_seconds": seconds, "sklearn_iterations": int(fit.n_iter_[0]),
                     "sklearn_val_auc": data.val_auc(fit.decision_function(data.xv)),
                     "sklearn_max_gradient": data.worst_gradient(fit.coef_[0], fit.intercept_[0], c)})
    return rows, sk_seconds, sk_fits


def _batched_per_c(data: _HeadData, cs, rows: list[dict], sk_fits: dict
                   ) -> tuple[LogisticFit, float, LogisticFit, float]:
    """Fit every ``C`` at once, then the referee from it; add their scores to each ``C``'s row (in place) and
    return ``(batched fit, its seconds, referee fit, its seconds)``."""
    weight = sample_weights(data.yt, data.class_weight)
    t0 = time.perf_counter()
    batched = fit_l2_logistic(data.xt, data.yt, cs, weight)
    batched_seconds = time.perf_counter() - t0
    decision_val = batched.decision(data.xv)
    # the referee: the same objectives solved 100x tighter (from the batched solution), nearly the exact optimum
    t0 = time.perf_counter()
    tight = fit_l2_logistic(data.xt, data.yt, cs, weight, tol=TIGHT_TOL, init=batched)
    tight_seconds = time.perf_counter() - t0
    tight_val = tight.decision(data.xv)
    for j, (row, c) in enumerate(zip(rows, cs, strict=True)):
        sk_val = sk_fits[c].decision_function(data.xv)
        row.update({"batched_val_auc": data.val_auc(decision_val[:, j]),
                    "batched_max_gradient": data.worst_gradient(batched.coef[j], batched.intercept[j], c),
                    "max_decision_difference_val": float(np.abs(decision_val[:, j] - sk_val).max()),
                    "tight_val_auc": data.val_auc(tight_val[:, j]),
                    "sklearn_from_tight_val": float(np.abs(sk_val - tight_val[:, j]).max()),
                    "batched_from_tight_val": float(np.abs(decision_val[:, j] - tight_val[:, j]).max())})
    return batched, batched_seconds, tight, tight_seconds


def _refit(data: _HeadData, chosen: float, batched: LogisticFit) -> dict:
    """Refit ``C = chosen`` on training plus validation rows: scikit-learn from zero against the batched solver
    warm-started from its training fit; return their seconds and iterations."""
    x_all, y_all = np.concatenate([data.xt, data.xv]), np.concatenate([data.yt, data.yv])
    t0 = time.perf_counter()
    cold = LogisticRegression(C=chosen, max_iter=5000, class_weight=data.class_weight).fit(x_all, y_all)
    sk_refit = time.perf_counter() - t0
    t0 = time.perf_counter()
    warm = fit_l2_logistic(x_all, y_all, [chosen], sample_weights(y_all, data.class_weight),
                           init=batched.select(chosen))
    warm_refit = time.perf_counter() - t0
    return {"refit_c": chosen, "refit_sklearn_seconds": sk_refit, "refit_sklearn_iterations": int(cold.n_iter_[0]),
            "refit_warm_batched_seconds": warm_refit, "refit_warm_batched_iterations": warm.n_iter,
            "refit_speedup": sk_refit / max(warm_refit, 1e-9)}


def _head_inputs(table, config: FinetuneConfig, cache_root: Path, train, val, train_views, eval_views, labels):
    """Return normalised ``(train_x, train_y, val_x, val_y)``: stage 1's head inputs through the bundled block 5,
    training rows of ``train_views`` and validation rows of ``eval_views`` (view-major order)."""
    backbone = load_backbone(config.weights)
    trunk = M.build_trunk(backbone, config.image_size)
    top = M.build_top(backbone, tuple(int(d) for d in trunk.output_shape[0][1:]), config.head)
    cache = FeatureCache(cache_root, trunk, table["path"].tolist(), config.image_size,
                         config.seed, describe_weights(config.weights), augment=config.augment)
    for view in train_views:
        cache.ensure(view, train)
    for view in eval_views:
        cache.ensure(view, val)
    features = M.feature_model(top)
    train_items = [(v, r) for v in train_views for r in train]
    val_items = [(v, r) for v in eval_views for r in val]
    train_x = cache.vectors(features, train_items, config.batch_size)
    val_x = cache.vectors(features, val_items, config.batch_size)
    M.adapt_normalization(top, features=train_x)
    norm = top.get_layer("feature_norm")
    return (np.asarray(norm(train_x)), labels[[r for _, r in train_items]],
            np.asarray(norm(val_x)), labels[[r for _, r in val_items]])
