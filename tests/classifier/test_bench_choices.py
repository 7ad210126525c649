"""The classifier benchmark's head-only cross-validation: feature columns and a head that learns from them."""

from __future__ import annotations

import numpy as np

from benchmarks.classifier import _columns, _head_cv
from classifier.model import STATS_DIM, TEXTURE_DIM


def test_columns_name_statistics_correlations_and_block5():
    dim = TEXTURE_DIM + 3 * 1024
    assert np.array_equal(_columns("texture_stats", dim), np.arange(STATS_DIM))
    stats = _columns("stats", dim)
    assert len(stats) == STATS_DIM + 3 * 1024 and stats[STATS_DIM] == TEXTURE_DIM  # correlations left out
    assert len(_columns("all", dim)) == dim


def test_head_cv_learns_from_the_chosen_columns_only():
    """The label lives in block-5 columns only: ``stats`` and ``all`` find it, ``texture_stats`` cannot."""
    rng = np.random.default_rng(0)
    n, dim = 120, TEXTURE_DIM + 3 * 1024
    y = np.tile([0, 1], n // 2)
    folds = np.arange(n) % 5
    vectors = {}
    for view in (0, 2):
        x = rng.standard_normal((n, dim)).astype(np.float32)
        x[:, TEXTURE_DIM:TEXTURE_DIM + 300] += 1.0 * y[:, None]
        vectors[view] = x
    for features, should_learn in (("stats", True), ("all", True), ("texture_stats", False)):
        p = _head_cv(vectors, y, folds, (0,), (0, 2), features, 0.1)
        accuracy = ((p >= 0.5) == y).mean()
        assert (accuracy > 0.9) if should_learn else (accuracy < 0.75), (features, accuracy)


def test_every_view_choice_is_what_the_finetune_options_train_and_average(tmp_path):
    """The README's best head-only row is reachable: `--crops 8 --augment-variants 4 --average-mirror` trains on
    and averages exactly the benchmark's ``all_views_correlations`` views."""
    from benchmarks.classifier import CHOICES
    from classifier.finetune import FinetuneConfig

    config = FinetuneConfig(data=tmp_path, out=tmp_path / "m", crops=8, augment_variants=4, average_mirror=True)
    train, averaged = CHOICES["all_views_correlations"][:2]
    assert (train, averaged) == (config.train_views, config.eval_views)


def test_saturation_table_shows_where_the_errors_sit_by_colour(tmp_path):
    """Muted, middle and vivid thirds of each class by mean saturation: errors placed on the vivid paintings only
    show up in that third, and gray files count as near-gray."""
    import cv2
    import pandas as pd

    from benchmarks.classifier import saturation_table

    rows = []
    for label in (0, 1):
        for i, saturation in enumerate((0, 0, 90, 100, 220, 240)):
            hsv = np.full((40, 60, 3), (30 + 20 * label, saturation, 200), np.uint8)
            path = tmp_path / f"{label}_{i}.png"
            cv2.imwrite(str(path), cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR))
            rows.append({"path": str(path), "label": label, "saturation": saturation})
    table = pd.DataFrame(rows)
    y = table["label"].to_numpy()
    p = np.where(y == 1, 0.9, 0.1)
    p[(y == 1) & (table["saturation"] > 200).to_numpy()] = 0.2  # vivid paintings called photographs
    out = saturation_table(table, p)
    assert [t["third"] for t in out["painting"]] == ["muted", "middle", "vivid"]
    assert [t["accuracy"] for t in out["painting"]] == [1.0, 1.0, 0.0]
    assert [t["wrong"] for t in out["painting"]] == [0, 0, 2] and all(t["accuracy"] == 1.0 for t in out["photo"])
    assert out["painting"][0]["saturation"][1] < 0.01 < out["painting"][2]["saturation"][0]
    assert out["painting_near_gray"] == {"images": 2, "wrong": 0, "accuracy": 1.0}
