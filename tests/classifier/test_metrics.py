"""Metrics against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from classifier.metrics import binary_metrics, bootstrap_interval, calibration, roc_auc, wilson_interval


def test_binary_metrics_hand_computed():
    y = [1, 1, 1, 0, 0, 0, 0, 0]
    p = [0.9, 0.8, 0.3, 0.6, 0.2, 0.1, 0.1, 0.4]
    m = binary_metrics(y, p)
    # predicted painting: items 0, 1, 3 -> TP 2, FP 1, FN 1, TN 4
    assert m["confusion"] == [[4, 1], [1, 2]]
    assert m["accuracy"] == pytest.approx(6 / 8)
    assert m["per_class"]["painting"]["precision"] == pytest.approx(2 / 3)
    assert m["per_class"]["painting"]["recall"] == pytest.approx(2 / 3)
    assert m["per_class"]["photo"]["recall"] == pytest.approx(4 / 5)
    assert m["per_class"]["photo"]["f1"] == pytest.approx(2 * 0.8 * 0.8 / 1.6)
    # AUC: of 15 (painting, photo) pairs, the painting scores higher in all but (0.3 vs 0.6, 0.3 vs 0.4)
    assert m["roc_auc"] == pytest.approx(13 / 15)
    assert m["brier"] == pytest.approx(np.mean((np.array(p) - np.array(y)) ** 2))


def test_calibration_bins_and_ece():
    cal = calibration([0, 1, 1, 0], [0.05, 0.15, 0.95, 0.85], n_bins=2)
    assert cal["count"] == [2, 2]
    assert cal["mean_predicted"] == pytest.approx([0.1, 0.9])
    assert cal["fraction_painting"] == pytest.approx([0.5, 0.5])
    assert cal["ece"] == pytest.approx(0.4)


def test_intervals():
    lo, hi = wilson_interval(95, 100)
    assert lo == pytest.approx(0.8883, abs=1e-3) and hi == pytest.approx(0.9785, abs=1e-3)
    y = np.array([0, 1] * 30)
    p = np.where(y == 1, 0.8, 0.2)
    assert bootstrap_interval(y, p, roc_auc, n_boot=50) == (1.0, 1.0)
    noisy = np.random.default_rng(0).uniform(size=60)
    lo, hi = bootstrap_interval(y, noisy, roc_auc, groups=np.arange(60) // 2, n_boot=200)
    assert lo < roc_auc(y, noisy) < hi


def test_single_class_auc_is_none_and_bad_input_refused():
    assert roc_auc([1, 1], [0.2, 0.9]) is None
    with pytest.raises(ValueError):
        binary_metrics([0, 1], [0.5])
    with pytest.raises(ValueError):
        binary_metrics([0, 2], [0.5, 0.5])
