"""Two-stage training resumed after an interruption, and the uncached (whole network) path."""

from __future__ import annotations

import keras
import pandas as pd
import pytest

from classifier.data import load_dataset
from classifier.finetune import FinetuneConfig, HeadSolver, train
from tests.classifier.conftest import IMAGE_SIZE


class Interrupt(keras.callbacks.Callback):
    """Simulates Ctrl-C at the end of a given (global) epoch."""

    def __init__(self, at_epoch: int):
        super().__init__()
        self.at_epoch = at_epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.at_epoch:
            raise KeyboardInterrupt


def test_two_stage_run_resumes_after_interruption(tiny_manifest, tmp_path):
    dataset = load_dataset(tiny_manifest)
    config = FinetuneConfig(data=tiny_manifest, out=tmp_path, image_size=IMAGE_SIZE, head_epochs=2, epochs=3,
                            batch_size=16, augment_variants=1, patience=10, progress=False,
                            head_solver=HeadSolver.ADAM,
                            cache_dir=tmp_path / "cache")
    with pytest.raises(KeyboardInterrupt):
        train(dataset, config, callbacks=[Interrupt(at_epoch=3)])  # stage 2's second epoch
    log = pd.read_csv(tmp_path / "train_log.csv")
    assert log["epoch"].tolist() == [0, 1, 2, 3] and log["stage"].tolist() == [1, 1, 2, 2]
    assert not (tmp_path / "classifier.keras").exists()

    report = train(dataset, config)
    log = pd.read_csv(tmp_path / "train_log.csv")
    assert log["epoch"].tolist() == [0, 1, 2, 3, 4]  # stage 1 not repeated, stage 2 continued at epoch 4
    assert log["stage"].tolist() == [1, 1, 2, 2, 2]
    assert report.stage1_epochs == 2
    assert (tmp_path / "classifier.keras").exists() and (tmp_path / "backbone.weights.h5").exists()


def test_uncached_path_trains_the_same_model(tiny_manifest, tmp_path):
    config = FinetuneConfig(data=tiny_manifest, out=tmp_path, image_size=IMAGE_SIZE, head_epochs=0, epochs=2,
                            batch_size=16, augment_variants=0, cache=False, progress=False)
    report = train(load_dataset(tiny_manifest), config)
    assert report.data["cache"] is None and not (tmp_path / "cache").exists()
    assert len(report.history) == 2
    assert report.test["n"] == 8
    assert (tmp_path / "classifier.keras").exists()
