"""The trunk_floor benchmark on tiny data: three trunks timed, both recipes' views counted as training caches them."""

from __future__ import annotations

import pytest

from tests.classifier.conftest import IMAGE_SIZE


def test_floors_count_the_recipes_views_and_divide_by_the_measured_rates(tiny_manifest, tmp_path):
    from benchmarks.trunk_floor import PREVIOUS_DEFAULT, floors, trunk_rates
    from classifier.data import load_dataset
    from classifier.finetune import FinetuneConfig

    rates = trunk_rates(IMAGE_SIZE, batch=2, seconds=0.05)
    assert set(rates["views_per_second"]) == {"trunk", "float32", "convolutions"}
    assert all(len(r) == 2 and min(r) > 0 for r in rates["runs"].values())
    assert rates["statistics_share"] == pytest.approx(
        1 - rates["views_per_second"]["trunk"] / rates["views_per_second"]["convolutions"])
    config = FinetuneConfig(data=tiny_manifest, out=tmp_path / "out", image_size=IMAGE_SIZE)
    result = floors(config, rates)
    table = load_dataset(tiny_manifest, seed=config.seed, fractions=config.fractions).table
    n, n_train = len(table), int((table["split"] == "train").sum())
    assert result["images"] == n and result["training_images"] == n_train
    default, previous = result["recipes"]["default"], result["recipes"]["previous_default"]
    # default: whole, mirror and eight crops of every image, four shortcut-breaking views of the training images
    assert default["views"] == 10 * n + 4 * n_train
    # previous default: whole and one crop of every image, one shortcut-breaking view of the training images
    assert previous["views"] == 2 * n + n_train and PREVIOUS_DEFAULT["crops"] == 1
    for recipe in (default, previous):
        assert recipe["trunk_seconds"] == pytest.approx(recipe["views"] / rates["views_per_second"]["trunk"])
        assert recipe["convolutions_seconds"] == pytest.approx(
            recipe["views"] / rates["views_per_second"]["convolutions"])
