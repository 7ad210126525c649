"""Evaluation figures (matplotlib, headless): ROC curve, confusion matrix, reliability curve, wrong-image grid.

Each function takes what :func:`classifier.evaluate.evaluate` writes (``metrics.json`` as a dict and
``predictions.csv`` as a DataFrame with ``path, label, prob``) and returns a ``Figure``; the CLI saves them as
PNGs and the notebook shows the same figures.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from matplotlib.figure import Figure  # the object API needs no GUI backend: same code on CI and in notebooks
from sklearn.metrics import roc_curve

from classifier.data import CLASS_NAMES


def roc_figure(predictions: pd.DataFrame, metrics: dict):
    """Return the ROC curve of P(painting) with its AUC in the legend."""
    fig = Figure(figsize=(4.5, 4.5))
    ax = fig.subplots()
    y, p = predictions["label"].to_numpy(), predictions["prob"].to_numpy()
    if len(np.unique(y)) == 2:
        fpr, tpr, _ = roc_curve(y, p)
        ax.plot(fpr, tpr, lw=2, label=f"AUC = {metrics['roc_auc']:.3f}")
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1, label="chance")
    ax.set(xlabel="false positive rate (photos called paintings)", ylabel="true positive rate (paintings found)",
           title="ROC", xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def confusion_figure(metrics: dict):
    """Return the confusion matrix (rows: true class, columns: predicted) with counts in the cells."""
    cm = np.asarray(metrics["confusion"])
    fig = Figure(figsize=(4, 3.6))
    ax = fig.subplots()
    ax.imshow(cm, cmap="Blues")
    for i in range(2):
        for j in range(2):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", color="white" if cm[i, j] > cm.max() / 2 else "k")
    ax.set(xticks=[0, 1], yticks=[0, 1], xticklabels=CLASS_NAMES, yticklabels=CLASS_NAMES,
           xlabel="predicted", ylabel="true", title=f"accuracy {metrics['accuracy']:.3f} (n={metrics['n']})")
    fig.tight_layout()
    return fig


def calibration_figure(metrics: dict):
    """Return the reliability curve: observed fraction of paintings against mean predicted probability."""
    cal = metrics["calibration"]
    fig = Figure(figsize=(4.5, 4.5))
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1, label="perfectly calibrated")
    ax.plot(cal["mean_predicted"], cal["fraction_painting"], "o-", label=f"model (ECE {cal['ece']:.3f})")
    for x, y, n in zip(cal["mean_predicted"], cal["fraction_painting"], cal["count"], strict=True):
        ax.annotate(str(n), (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set(xlabel="mean predicted P(painting)", ylabel="fraction that are paintings", title="reliability",
           xlim=(0, 1), ylim=(-0.02, 1.02))
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def most_wrong(predictions: pd.DataFrame, n: int = 16, threshold: float = 0.5) -> pd.DataFrame:
    """Return up to ``n`` misclassified rows, most confidently wrong first (largest |prob - label|)."""
    pred = (predictions["prob"] >= threshold).astype(int)
    wrong = predictions[pred != predictions["label"]].copy()
    wrong["error"] = (wrong["prob"] - wrong["label"]).abs()
    return wrong.sort_values("error", ascending=False).head(n)


def wrong_grid_figure(predictions: pd.DataFrame, n: int = 16, threshold: float = 0.5, thumb: int = 160):
    """Return a grid of the most confidently wrong images, titled with true class and P(painting)."""
    wrong = most_wrong(predictions, n, threshold)
    cols = max(1, min(4, len(wrong)))
    rows = max(1, int(np.ceil(len(wrong) / cols)))
    fig = Figure(figsize=(2.6 * cols, 2.8 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    if wrong.empty:
        axes[0, 0].text(0.5, 0.5, "no misclassified images", ha="center", va="center")
    for ax, (_, row) in zip(axes.ravel(), wrong.iterrows(), strict=False):
        image = cv2.imdecode(np.fromfile(str(row["path"]), dtype=np.uint8), cv2.IMREAD_COLOR)
        if image is not None:
            scale = thumb / max(image.shape[:2])
            image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            ax.imshow(image[:, :, ::-1])
        ax.set_title(f"{CLASS_NAMES[int(row['label'])]}  p={row['prob']:.2f}\n{Path(row['path']).name[:28]}",
                     fontsize=7)
    fig.suptitle("most confidently wrong (true class, P(painting))", fontsize=9)
    fig.tight_layout()
    return fig


