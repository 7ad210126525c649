"""Pure evaluation metrics of binary painting (1) vs photo (0) predictions, as JSON-friendly dicts.

Inputs everywhere: ``y_true`` ``(N,)`` ints in {0, 1}; ``prob`` ``(N,)`` floats in [0, 1], P(painting).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support, roc_auc_score

from classifier.data import CLASS_NAMES


def _check(y_true, prob) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).astype(int).ravel()
    p = np.asarray(prob, dtype=np.float64).ravel()
    if y.shape != p.shape:
        raise ValueError(f"{len(y)} labels but {len(p)} probabilities")
    if len(y) == 0:
        raise ValueError("no predictions to evaluate")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 (photo) or 1 (painting)")
    if np.isnan(p).any() or p.min() < 0 or p.max() > 1:
        raise ValueError("probabilities must lie in [0, 1]")
    return y, p


def roc_auc(y_true, prob) -> float | None:
    """Return the area under the ROC curve, or None when only one class is present."""
    y, p = _check(y_true, prob)
    return float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else None


def calibration(y_true, prob, n_bins: int = 10) -> dict[str, list]:
    """Return the reliability curve over ``n_bins`` equal-width bins (empty bins left out).

    Keys: ``mean_predicted`` (mean probability per bin), ``fraction_painting`` (observed frequency),
    ``count`` (items per bin), and ``ece`` (expected calibration error, count-weighted |gap|).
    """
    y, p = _check(y_true, prob)
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    mean_pred, frac, count = [], [], []
    for b in range(n_bins):
        sel = bins == b
        if sel.any():
            mean_pred.append(float(p[sel].mean()))
            frac.append(float(y[sel].mean()))
            count.append(int(sel.sum()))
    gaps = np.abs(np.array(mean_pred) - np.array(frac))
    ece = float((gaps * np.array(count)).sum() / len(y))
    return {"mean_predicted": mean_pred, "fraction_painting": frac, "count": count, "ece": ece}


def binary_metrics(y_true, prob, threshold: float = 0.5, n_bins: int = 10) -> dict:
    """Return accuracy, per-class precision/recall/F1, ROC AUC, confusion matrix, calibration and Brier score.

    ``confusion`` is ``[[photo->photo, photo->painting], [painting->photo, painting->painting]]``
    (rows: true class, columns: predicted class, in ``CLASS_NAMES`` order).
    """
    y, p = _check(y_true, prob)
    pred = (p >= threshold).astype(int)
    precision, recall, f1, support = precision_recall_fscore_support(y, pred, labels=[0, 1], zero_division=0)
    per_class = {
        name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
               "support": int(support[i])}
        for i, name in enumerate(CLASS_NAMES)
    }
    eps = 1e-7
    return {
        "n": int(len(y)),
        "threshold": threshold,
        "accuracy": float((pred == y).mean()),
        "balanced_accuracy": float(np.mean([recall[0], recall[1]])),
        "roc_auc": roc_auc(y, p),
        "per_class": per_class,
        "confusion": confusion_matrix(y, pred, labels=[0, 1]).tolist(),
        "brier": float(np.mean((p - y) ** 2)),
        "log_loss": float(-np.mean(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps))),
        "calibration": calibration(y, p, n_bins),
    }


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Return the Wilson score interval of a proportion (95 % for ``z = 1.96``)."""
    if n <= 0:
        raise ValueError("n must be positive")
    phat = successes / n
    denom = 1 + z * z / n
    centre = (phat + z * z / (2 * n)) / denom
    half = z * np.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / denom
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def bootstrap_interval(y_true, prob, metric: Callable[[np.ndarray, np.ndarray], float | None],
                       groups=None, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Return a percentile bootstrap interval of ``metric(y, p)``, resampling whole ``groups`` when given.

    Resampling groups (near-duplicate sets) rather than files keeps copies of one artwork together, so the
    interval is not made falsely narrow by duplicates.
    """
    y, p = _check(y_true, prob)
    groups = np.arange(len(y)) if groups is None else np.asarray(groups)
    uniq, inverse = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(inverse == g) for g in range(len(uniq))]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_boot):
        pick = rng.integers(0, len(uniq), len(uniq))
        idx = np.concatenate([members[g] for g in pick])
        v = metric(y[idx], p[idx])
        if v is not None:
            values.append(v)
    if not values:
        raise ValueError("metric undefined on every bootstrap sample")
    lo, hi = np.quantile(values, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def accuracy(y_true, prob, threshold: float = 0.5) -> float:
    """Return the fraction of items whose thresholded probability matches the label."""
    y, p = _check(y_true, prob)
    return float(((p >= threshold).astype(int) == y).mean())
