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
