"""Evaluate a saved classifier on a held-out split: ``evaluate(EvaluateConfig)`` -> metrics.json + PNGs.

Writes into ``out/``: ``metrics.json`` (accuracy with a Wilson interval, ROC AUC with a group bootstrap
interval, per-class precision/recall/F1, confusion matrix, calibration, Brier score), ``predictions.csv``
(``path, label, prob, correct, group``) and ``roc.png``, ``confusion.png``, ``calibration.png``, ``wrong.png``.
``notebooks/evaluate_classifier.ipynb`` reads these files and redraws the figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from classifier import plots
from classifier.data import SPLITS, SplitFractions, load_dataset
from classifier.metrics import binary_metrics, bootstrap_interval, roc_auc, wilson_interval
from classifier.model import load_classifier
from classifier.predict import model_views, predict_paths
from foundation.atomic import atomic_write, atomic_write_json
from foundation.errors import UserError
from foundation.figures import save_figure
from foundation.records import jsonable


@dataclass(frozen=True)
class EvaluateConfig:
    """Which model, which data, where the report goes.

    ``seed`` and ``fractions`` must match the ones used by ``finetune`` when ``data`` is a folder tree (its
    split is recomputed); a manifest carries its own split.
    """

    model: Path
    data: Path
    out: Path
    split: str = "test"
    seed: int = 0
    fractions: SplitFractions = field(default_factory=SplitFractions)
    batch_size: int = 16
    threshold: float = 0.5
    n_wrong: int = 16

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise UserError(f"split {self.split!r} is not one of {', '.join(SPLITS)}")
        if not 0 < self.threshold < 1:
            raise UserError(f"threshold {self.threshold} must be in (0, 1)")


@dataclass(frozen=True)
class EvaluateResult:
    """The evaluation of one split; ``metrics.json`` is :func:`foundation.records.jsonable` of it, which
    ``notebooks/evaluate_classifier.ipynb`` and :mod:`classifier.plots` read.

    The first fields are those of :func:`classifier.metrics.binary_metrics`; then ``accuracy_ci95`` (Wilson),
    ``roc_auc_ci95`` (bootstrap over near-duplicate groups; None when the split has one class), the ``model`` file,
    the ``data`` source, the ``split`` and the images ``skipped`` as unreadable.
    """

    n: int
    threshold: float
    accuracy: float
    balanced_accuracy: float
    roc_auc: float | None
    per_class: dict[str, dict[str, float]]
    confusion: list[list[int]]
    brier: float
    log_loss: float
    calibration: dict
    accuracy_ci95: tuple[float, float]
    roc_auc_ci95: tuple[float, float] | None
    model: str
    data: str
    split: str
    skipped: list[dict]


def evaluate(config: EvaluateConfig) -> EvaluateResult:
    """Predict the chosen split, compute metrics and figures, write them to ``config.out``; returns the metrics."""
    model = load_classifier(config.model)
    dataset = load_dataset(config.data, seed=config.seed, fractions=config.fractions)
    table = dataset.table[dataset.table["split"] == config.split]
    if table.empty:
        raise UserError(f"{config.data}: the {config.split} split is empty")
    prob = predict_paths(model, table["path"].tolist(), config.batch_size, model_views(config.model))
    predictions = pd.DataFrame({"path": table["path"].to_numpy(), "label": table["label"].to_numpy(),
                                "prob": prob.astype(float), "group": table["group"].to_numpy()})
    predictions["correct"] = ((predictions["prob"] >= config.threshold).astype(int) == predictions["label"])
    metrics = binary_metrics(predictions["label"], predictions["prob"], config.threshold)
    y, p = predictions["label"].to_numpy(), predictions["prob"].to_numpy()
    auc_ci = None
    if metrics["roc_auc"] is not None:
        auc_ci = bootstrap_interval(y, p, roc_auc, groups=predictions["group"].to_numpy(), n_boot=500,
                                    seed=config.seed)
    accuracy_ci = wilson_interval(int(predictions["correct"].sum()), len(predictions))
    result = EvaluateResult(**metrics, accuracy_ci95=accuracy_ci, roc_auc_ci95=auc_ci, model=str(config.model),
                            data=dataset.source, split=config.split, skipped=dataset.skipped)
    _write(Path(config.out), predictions, jsonable(result), config)
    return result


def _write(out: Path, predictions: pd.DataFrame, record: dict, config: EvaluateConfig) -> None:
    """Write ``predictions.csv``, ``metrics.json`` (``record``) and the four figures, drawn from ``record`` as the
    notebook draws them."""
    atomic_write(out / "predictions.csv", lambda tmp: predictions.to_csv(tmp, index=False))
    atomic_write_json(out / "metrics.json", record)
    save_figure(plots.roc_figure(predictions, record), out / "roc.png")
    save_figure(plots.confusion_figure(record), out / "confusion.png")
    save_figure(plots.calibration_figure(record), out / "calibration.png")
    save_figure(plots.wrong_grid_figure(predictions, config.n_wrong, config.threshold), out / "wrong.png")
