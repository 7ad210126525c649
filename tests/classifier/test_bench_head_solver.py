"""The head-solver benchmark on tiny data: both solvers fitted on the same head inputs, both at the stopping rule."""

from __future__ import annotations

import pytest

from classifier.pipeline import FIRST_CROP
from tests.classifier.conftest import IMAGE_SIZE


def test_both_solvers_meet_the_stopping_rule_and_agree(tiny_manifest, tmp_path):
    from benchmarks.head_solver import compare
    from classifier.finetune import FinetuneConfig

    config = FinetuneConfig(data=tiny_manifest, out=tmp_path / "out", image_size=IMAGE_SIZE, progress=False)
    result = compare(config, tmp_path / "cache", (0, FIRST_CROP), (0,))
    assert result["rows"] == 2 * 24 and result["views"] == 2 and result["cs"] == list(config.head_c)
    assert result["batched_converged"] and result["batched_passes"] >= 2
    assert len(result["per_c"]) == len(config.head_c)
    for row in result["per_c"]:
        assert row["batched_max_gradient"] <= 1e-4 and row["sklearn_max_gradient"] <= 1.01e-4
        assert row["batched_val_auc"] == pytest.approx(row["sklearn_val_auc"], abs=0.05)
        assert row["batched_from_tight_val"] >= 0 and row["sklearn_from_tight_val"] >= 0
    assert result["tight_converged"]
    assert result["refit_c"] in config.head_c and result["refit_warm_batched_seconds"] > 0
