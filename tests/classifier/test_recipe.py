"""The default recipe (head on all-conv channel statistics, block 5 kept), whole-image views and mirror TTA."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from classifier.model import BLOCK5_LAYERS, FROZEN_LAYERS
from tests.classifier.conftest import IMAGE_SIZE


@pytest.fixture(scope="module")
def head_only(tiny_manifest, tmp_path_factory):
    """The default recipe (stage 1 only, block 5 frozen), shortened for the tiny data."""
    from classifier.finetune import FinetuneConfig, finetune

    out = tmp_path_factory.mktemp("head_only")
    config = FinetuneConfig(data=tiny_manifest, out=out, image_size=IMAGE_SIZE, head_epochs=30, batch_size=16,
                            progress=False)
    assert config.epochs == 0 and config.augment_variants == 0 and config.head_solver == "logistic"  # defaults
    return finetune(config), out


def test_head_only_learns_and_keeps_backbone(head_only):
    from transfer.backbone import load_backbone

    report, out = head_only
    assert report.history == [] and report.stage1_epochs == 0  # no gradient epochs: a closed-form fit
    fit = report.head_fit
    assert [c["C"] for c in fit["candidates"]] == [0.03, 0.1, 0.3, 1.0]
    assert fit["chosen"]["train_log_loss"] < 0.7 * np.log(2)  # well below chance
    # the chosen C has the best validation AUC of the candidates
    assert fit["chosen"]["val_auc"] == max(c["val_auc"] for c in fit["candidates"])
    # by default only the blocks 1-4 texture statistics carry weight; block 5's get exactly 0
    from classifier.model import TEXTURE_DIM, load_classifier, parts_of

    assert fit["features_used"] == TEXTURE_DIM < fit["features_total"]
    kernel = parts_of(load_classifier(out / "classifier.keras"))[1].get_layer("painting").get_weights()[0]
    assert kernel.shape == (fit["features_total"], 1)
    assert not kernel[TEXTURE_DIM:].any() and np.count_nonzero(kernel[:TEXTURE_DIM]) > TEXTURE_DIM // 2
    assert report.test["accuracy"] >= 0.75 and report.test["roc_auc"] >= 0.8
    saved = json.loads((out / "finetune.json").read_text())
    assert saved["block5"]["changed"] is False and "left as in the starting weights" in saved["block5"]["note"]
    bundled, exported = load_backbone("bundled"), load_backbone(str(out / "backbone.weights.h5"))
    for name in FROZEN_LAYERS + BLOCK5_LAYERS:
        for a, b in zip(exported.get_layer(name).get_weights(), bundled.get_layer(name).get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)


def test_head_only_is_deterministic(head_only, tiny_manifest, tmp_path):
    """A second run of the default recipe in a fresh folder gives the same head and test scores."""
    from classifier.data import load_dataset
    from classifier.finetune import FinetuneConfig, train

    report, out = head_only
    config = FinetuneConfig(data=tiny_manifest, out=tmp_path, image_size=IMAGE_SIZE, head_epochs=30, batch_size=16,
                            progress=False)
    first = train(load_dataset(tiny_manifest), config)
    assert first.test["roc_auc"] == pytest.approx(report.test["roc_auc"])
    assert first.head_fit["chosen"]["C"] == report.head_fit["chosen"]["C"]
    assert first.head_fit["chosen"]["val_log_loss"] == pytest.approx(report.head_fit["chosen"]["val_log_loss"])


def test_trained_block5_is_reported_as_changed(trained):
    report, _ = trained
    assert report.block5.changed is True and report.block5.max_weight_change > 0


def test_classifier_is_mirror_invariant_and_matches_cached_test_metrics(head_only, tiny_manifest):
    from classifier.data import load_dataset
    from classifier.model import load_classifier
    from classifier.pipeline import image_dataset
    from classifier.predict import predict_paths

    report, out = head_only
    model = load_classifier(out / "classifier.keras")
    test = load_dataset(tiny_manifest).table.query("split == 'test'")
    batch = np.concatenate([b.numpy() for b in image_dataset(test["path"].tolist(), IMAGE_SIZE, 8)])
    direct = model.predict(batch, verbose=0).ravel()
    mirrored = model.predict(batch[:, :, ::-1], verbose=0).ravel()
    np.testing.assert_allclose(direct, mirrored, atol=1e-5)
    assert not np.allclose(direct, direct.mean(), atol=1e-3)  # not a constant function
    prob = predict_paths(model, test["path"].tolist())
    accuracy = float(((prob >= 0.5).astype(int) == test["label"].to_numpy()).mean())
    assert accuracy == pytest.approx(report.test["accuracy"])
    from classifier.metrics import roc_auc

    assert roc_auc(test["label"], prob) == pytest.approx(report.test["roc_auc"], abs=1e-6)


def test_views_whole_image_and_mirror(tmp_path):
    from classifier.pipeline import FIRST_AUGMENTED, MIRROR, image_dataset
    from transfer.backbone import VGG_MEAN_BGR

    # a 40x80 image: red left quarter, blue right quarter, grey middle; squashed (not cropped) to 32x32
    img = np.full((40, 80, 3), 128, np.uint8)
    img[:, :20] = (0, 0, 255)
    img[:, 60:] = (255, 0, 0)
    path = tmp_path / "wide.png"
    cv2.imwrite(str(path), img)
    views = {v: next(iter(image_dataset([str(path)], 32, 1, variant=v))).numpy()[0] + VGG_MEAN_BGR
             for v in (0, MIRROR, FIRST_AUGMENTED)}
    assert views[0].shape == (32, 32, 3)
    np.testing.assert_allclose(views[0][:, 0], [[0, 0, 255]] * 32, atol=1)  # BGR: red at the left edge
    np.testing.assert_allclose(views[0][:, -1], [[255, 0, 0]] * 32, atol=1)  # blue at the right edge
    np.testing.assert_allclose(views[MIRROR], views[0][:, ::-1], atol=1e-4)
    assert not np.allclose(views[FIRST_AUGMENTED], views[0], atol=1)  # a random crop / jitter
