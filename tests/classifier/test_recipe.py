"""The default recipe (logistic head, then block 5 under L2-SP on shortcut-breaking views), views and crops."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from classifier.model import BLOCK5_LAYERS, FROZEN_LAYERS
from classifier.pipeline import FIRST_CROP, MIRROR
from tests.classifier.conftest import IMAGE_SIZE


@pytest.fixture(scope="module")
def default_recipe(tiny_manifest, tmp_path_factory):
    """The default recipe, only the image size and batch shrunk for the tiny data."""
    from classifier.finetune import FinetuneConfig, finetune

    out = tmp_path_factory.mktemp("default_recipe")
    config = FinetuneConfig(data=tiny_manifest, out=out, image_size=IMAGE_SIZE, batch_size=16, progress=False)
    assert config.epochs > 0 and config.l2sp > 0 and config.head_block5 and config.head_solver == "logistic"
    assert config.learning_rate < config.head_learning_rate
    return finetune(config), out


def test_default_recipe_fine_tunes_block5_only_and_reports_it(default_recipe):
    from transfer.backbone import load_backbone

    report, out = default_recipe
    fit = report.head_fit
    assert fit["features_used"] == fit["features_total"]  # block 5's statistics are head inputs
    assert fit["chosen"]["train_log_loss"] < 0.7 * np.log(2)
    assert report.stage1_epochs == 0 and len(report.history) >= 1 and {h["stage"] for h in report.history} == {2}
    saved = json.loads((out / "finetune.json").read_text())["block5"]
    assert saved["changed"] is True and saved["l2sp_distance"] > 0
    assert set(saved["relative_change"]) == set(BLOCK5_LAYERS) and min(saved["relative_change"].values()) > 0
    assert max(saved["relative_change"].values()) < 0.05  # small steps near the start, as L2-SP intends
    bundled, exported = load_backbone("bundled"), load_backbone(str(out / "backbone.weights.h5"))
    for name in FROZEN_LAYERS:
        for a, b in zip(exported.get_layer(name).get_weights(), bundled.get_layer(name).get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
    for name in BLOCK5_LAYERS:
        assert np.abs(exported.get_layer(name).get_weights()[0] - bundled.get_layer(name).get_weights()[0]).max() > 0
    assert report.test["accuracy"] >= 0.75 and report.test["roc_auc"] >= 0.8


def test_head_is_refitted_on_the_fine_tuned_block5(default_recipe, tiny_manifest):
    """After stage 2 the head is the logistic optimum on the fine-tuned block 5's features (training plus
    validation rows, the C chosen again), not stage 1's head nudged by Adam."""
    from sklearn.linear_model import LogisticRegression

    from classifier.cache import FeatureCache
    from classifier.data import load_dataset
    from classifier.finetune import FinetuneConfig, balanced_class_weight
    from classifier.logistic import objective, sample_weights
    from classifier.model import feature_model, load_classifier, parts_of
    from transfer.backbone import describe_weights

    report, out = default_recipe
    refit = report.head_refit
    assert refit is not None and refit["refit_on"] == "train+val" and refit["chosen"]["C"] in report.config["head_c"]
    trunk, top = parts_of(load_classifier(out / "classifier.keras"))
    table = load_dataset(tiny_manifest).table
    cache = FeatureCache(out / "cache", trunk, table["path"].tolist(), IMAGE_SIZE, 0, describe_weights("bundled"))
    train = np.flatnonzero(table["split"] == "train")
    val = np.flatnonzero(table["split"] == "val")
    config = report.config
    # the default recipe's views: whole image, mirror, eight near-native crops, four shortcut-breaking views
    views = FinetuneConfig(data=tiny_manifest, out=out, crops=config["crops"], mirror=config["mirror"],
                           average_mirror=config["average_mirror"], augment_variants=config["augment_variants"])
    train_views, eval_views = views.train_views, views.eval_views
    assert config["crops"] == 8 and config["augment_variants"] == 4 and config["average_mirror"]
    assert len(train_views) == 14 and len(eval_views) == 10
    items = [(v, r) for v in train_views for r in train] + [(v, r) for v in eval_views for r in val]
    x = cache.vectors(feature_model(top), items)  # computed by the fine-tuned block 5: all present already
    y = table["label"].to_numpy()[[r for _, r in items]]
    norm = top.get_layer("feature_norm")
    weights = balanced_class_weight(y[:len(train) * len(train_views)])
    xn = np.asarray(norm(x))
    kernel, bias = top.get_layer("painting").get_weights()
    # the head meets scikit-learn's stopping rule on these features: every gradient entry at most 1e-4 ...
    c = refit["chosen"]["C"]
    _, grad_w, grad_b = objective(kernel.astype(np.float64), bias.astype(np.float64), xn, y,
                                  sample_weights(y, weights), np.array([1 / c]))
    assert kernel.any() and max(np.abs(grad_w).max(), np.abs(grad_b).max()) <= 1.01e-4
    # ... and so predicts what the exact optimum (scikit-learn, solved far tighter) predicts, to that tolerance
    exact = LogisticRegression(C=c, tol=1e-8, max_iter=20000, class_weight=weights).fit(xn.astype(np.float64), y)
    ours = 1 / (1 + np.exp(-(xn.astype(np.float64) @ kernel[:, 0] + bias[0])))
    np.testing.assert_allclose(ours, exact.predict_proba(xn.astype(np.float64))[:, 1], atol=5e-3)


def test_cache_holds_exactly_the_planned_views(default_recipe, tiny_manifest):
    """``cache_plan`` (what the trunk_floor benchmark counts) names exactly the rows the default recipe cached:
    every clean view of every image, the training-only views of the training images and nothing else."""
    from pathlib import Path

    from classifier.data import load_dataset
    from classifier.finetune import FinetuneConfig, cache_plan

    report, out = default_recipe
    config = FinetuneConfig(data=tiny_manifest, out=out, image_size=IMAGE_SIZE)
    table = load_dataset(tiny_manifest, seed=config.seed, fractions=config.fractions).table
    train = np.flatnonzero(table["split"] == "train")
    plan = cache_plan(config, train, len(table))
    cached = {int(p.name[1:].split("_")[0]): np.flatnonzero(np.load(p))
              for p in Path(report.data["cache"]).glob("v*_done.npy")}
    assert sorted(cached) == sorted(plan) and len(plan) == len(config.train_views)
    for view, rows in plan.items():
        np.testing.assert_array_equal(cached[view], np.sort(rows))
    extra = set(config.train_views) - set(config.eval_views)
    assert sum(map(len, plan.values())) == len(table) * len(config.eval_views) + len(train) * len(extra)


def test_saved_model_averages_the_clean_views_like_training(default_recipe, tiny_manifest):
    from classifier.data import load_dataset
    from classifier.metrics import roc_auc
    from classifier.model import load_classifier
    from classifier.predict import model_views, predict_paths

    report, out = default_recipe
    model = load_classifier(out / "classifier.keras")
    for name in BLOCK5_LAYERS:  # the L2-SP penalty is training-only: the saved layers carry none
        assert model.get_layer("top").get_layer(name).kernel.regularizer is None
    assert model_views(out / "classifier.keras") == (0, MIRROR, *range(FIRST_CROP, FIRST_CROP + 8))
    test = load_dataset(tiny_manifest).table.query("split == 'test'")
    prob = predict_paths(model, test["path"].tolist(), views=model_views(out / "classifier.keras"))
    assert roc_auc(test["label"], prob) == pytest.approx(report.test["roc_auc"], abs=1e-6)
    whole_only = predict_paths(model, test["path"].tolist(), views=(0,))
    assert not np.allclose(prob, whole_only, atol=1e-6)  # the crops take part


def test_augmentations_are_training_only(tiny_manifest, monkeypatch):
    """Prediction and evaluation views never pass through the shortcut-breaking jitter; training views do."""
    from classifier import pipeline
    from classifier.data import load_dataset
    from classifier.finetune import FinetuneConfig
    from classifier.predict import predict_paths

    calls = []
    real = pipeline.jitter
    monkeypatch.setattr(pipeline, "jitter", lambda *a, **k: calls.append(1) or real(*a, **k))
    paths = load_dataset(tiny_manifest).table["path"].tolist()[:4]
    config = FinetuneConfig(data=tiny_manifest, out=tiny_manifest.parent, image_size=IMAGE_SIZE)
    assert all(v < pipeline.FIRST_AUGMENTED for v in config.eval_views)
    for view in config.eval_views:
        next(iter(pipeline.image_dataset(paths, IMAGE_SIZE, 4, variant=view)))
    assert calls == []
    import keras

    model = keras.Sequential([keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3)), keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(1, activation="sigmoid")])
    predict_paths(model, paths, views=config.eval_views)
    assert calls == []
    next(iter(pipeline.image_dataset(paths, IMAGE_SIZE, 4, variant=pipeline.FIRST_AUGMENTED + 1)))
    next(iter(pipeline.training_image_dataset(paths, [0, 1, 0, 1], IMAGE_SIZE, 4, seed=0)))
    assert len(calls) >= 2


def _write_pattern(path, h: int, w: int):
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    img[:, : w // 4] = (0, 0, 255)  # red left quarter (BGR)
    cv2.imwrite(str(path), img)
    return img


def test_views_whole_mirror_native_crop_and_augmented(tmp_path):
    from classifier.pipeline import CROP_POSITIONS, FIRST_AUGMENTED, FIRST_CROP, MIRROR, image_dataset
    from transfer.backbone import VGG_MEAN_BGR

    img = _write_pattern(tmp_path / "wide.png", 40, 80)
    path = str(tmp_path / "wide.png")

    def view(v, seed=0):
        return next(iter(image_dataset([path], IMAGE_SIZE, 1, variant=v, seed=seed))).numpy()[0] + VGG_MEAN_BGR

    whole = view(0)
    assert whole.shape == (IMAGE_SIZE, IMAGE_SIZE, 3)
    np.testing.assert_allclose(whole[:, 0], [[0, 0, 255]] * IMAGE_SIZE, atol=1)  # squashed, not cropped
    np.testing.assert_allclose(view(MIRROR), whole[:, ::-1], atol=1e-4)
    # a clean crop is the file's own pixels (native resolution: 80 px is below the native side at 32 px)
    fy, fx = CROP_POSITIONS[0]
    y, x = round((40 - IMAGE_SIZE) * fy), round((80 - IMAGE_SIZE) * fx)
    np.testing.assert_allclose(view(FIRST_CROP), img[y:y + IMAGE_SIZE, x:x + IMAGE_SIZE], atol=1e-3)
    np.testing.assert_allclose(view(FIRST_CROP, seed=5), view(FIRST_CROP), atol=0)  # fixed, seed-free
    augmented = [view(FIRST_AUGMENTED + k) for k in range(4)]
    assert all(not np.allclose(a, whole, atol=2) for a in augmented)
    np.testing.assert_allclose(view(FIRST_AUGMENTED), augmented[0], atol=0)  # deterministic per (seed, view)
    assert not np.allclose(view(FIRST_AUGMENTED, seed=1), augmented[0], atol=1)


def test_average_mirror_joins_the_prediction_views_and_is_read_back(tmp_path):
    """``average_mirror`` puts the mirror among the averaged (and so trained) views once; a saved model's
    ``finetune.json`` brings its views back to ``classify``/``evaluate``, older records without the field too."""
    from classifier.finetune import FinetuneConfig
    from classifier.pipeline import EVAL_VIEWS, FIRST_AUGMENTED, MIRROR
    from classifier.predict import model_views

    def config(**kw):
        return FinetuneConfig(data=tmp_path, out=tmp_path / "m", crops=2, augment_variants=1, **kw)

    assert FinetuneConfig(data=tmp_path, out=tmp_path / "m").average_mirror  # the default recipe averages it
    plain = config(average_mirror=False)
    assert plain.eval_views == (0, 2, 3) and MIRROR not in plain.train_views
    trained_only = config(mirror=True, average_mirror=False)
    assert trained_only.eval_views == (0, 2, 3) and trained_only.train_views.count(MIRROR) == 1
    for averaged in (config(average_mirror=True), config(mirror=True, average_mirror=True)):
        assert averaged.eval_views == (0, MIRROR, 2, 3)
        assert averaged.train_views == (0, MIRROR, 2, 3, FIRST_AUGMENTED + 1)
    model = tmp_path / "m" / "classifier.keras"
    model.parent.mkdir()
    assert model_views(model) == EVAL_VIEWS  # no record
    for record, views in (({"crops": 2, "average_mirror": True}, (0, MIRROR, 2, 3)), ({"crops": 3}, (0, 2, 3, 4))):
        (model.parent / "finetune.json").write_text(json.dumps({"config": record}))
        assert model_views(model) == views


def test_native_crops_are_cached_and_reused(tmp_path):
    """Crop views are computed once per image; a second run (new cache object, same key) computes nothing."""
    from classifier.cache import FeatureCache
    from classifier.model import build_trunk
    from classifier.pipeline import FIRST_CROP, image_dataset
    from transfer.backbone import load_backbone

    paths = []
    for i in range(3):
        _write_pattern(tmp_path / f"im{i}.png", 48 + 8 * i, 64)
        paths.append(str(tmp_path / f"im{i}.png"))
    trunk = build_trunk(load_backbone("bundled"), IMAGE_SIZE)
    first = FeatureCache(tmp_path / "cache", trunk, paths, IMAGE_SIZE, 0, "bundled")
    assert first.ensure(FIRST_CROP, [0, 1, 2]) == 3
    assert first.ensure(FIRST_CROP, [0, 1, 2]) == 0
    again = FeatureCache(tmp_path / "cache", trunk, paths, IMAGE_SIZE, 0, "bundled")
    assert again.dir == first.dir and again.ensure(FIRST_CROP, [0, 1, 2]) == 0
    block4, texture = again.load(FIRST_CROP, [0, 1, 2])
    direct = trunk.predict(image_dataset(paths, IMAGE_SIZE, 3, variant=FIRST_CROP), verbose=0)
    np.testing.assert_allclose(texture, direct[1], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(block4, direct[0], rtol=1e-2, atol=1e-2)  # stored as float16
    whole = again.ensure(0, [0, 1, 2])
    assert whole == 3 and not np.allclose(again.load(0, [0])[1], texture[:1])  # a different view, own rows


def test_cache_fill_killed_midway_keeps_the_committed_chunks(tmp_path):
    """A fill interrupted after some chunks has marked done exactly rows whose data is stored; the rerun computes
    only the others, and every row then equals an uninterrupted fill."""
    from classifier.cache import FeatureCache
    from classifier.model import build_trunk
    from transfer.backbone import load_backbone

    paths = []
    for i in range(7):
        _write_pattern(tmp_path / f"im{i}.png", 48 + 4 * i, 64)
        paths.append(str(tmp_path / f"im{i}.png"))
    trunk = build_trunk(load_backbone("bundled"), IMAGE_SIZE)
    cache = FeatureCache(tmp_path / "cache", trunk, paths, IMAGE_SIZE, 0, "bundled", batch_size=1, chunk=2)
    seen = []

    def killed_after_five(n):
        seen.append(n)
        if len(seen) == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cache.ensure(11, range(7), progress=killed_after_five)  # an augmented view: seeded per row
    done = cache.done(11)
    assert 2 <= done.sum() <= 4 and done.sum() % 2 == 0 and done[:done.sum()].all()
    again = FeatureCache(tmp_path / "cache", trunk, paths, IMAGE_SIZE, 0, "bundled", chunk=2)
    assert again.ensure(11, range(7)) == 7 - done.sum() and again.done(11).all()
    fresh = FeatureCache(tmp_path / "fresh", trunk, paths, IMAGE_SIZE, 0, "bundled")
    fresh.ensure(11, range(7))
    for a, b in zip(again.load(11, range(7)), fresh.load(11, range(7)), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_head_vectors_are_cached_per_weights(tmp_path):
    """Block-5 feature vectors are computed once per (view, row) and starting weights, then read back."""
    from classifier import model as M
    from classifier.cache import FeatureCache
    from classifier.pipeline import FIRST_CROP
    from transfer.backbone import load_backbone

    paths = []
    for i in range(3):
        _write_pattern(tmp_path / f"im{i}.png", 48, 64 + 8 * i)
        paths.append(str(tmp_path / f"im{i}.png"))
    backbone = load_backbone("bundled")
    trunk = M.build_trunk(backbone, IMAGE_SIZE)
    features = M.feature_model(M.build_top(backbone, (IMAGE_SIZE // 16, IMAGE_SIZE // 16, 512)))
    cache = FeatureCache(tmp_path / "cache", trunk, paths, IMAGE_SIZE, 0, "bundled")
    cache.ensure(FIRST_CROP, [0, 1, 2])
    items = [(FIRST_CROP, 2), (FIRST_CROP, 0)]
    first = cache.vectors(features, items)
    block4, texture = cache.load(FIRST_CROP, [2, 0])
    np.testing.assert_allclose(first, features.predict([block4, texture], verbose=0), rtol=1e-5, atol=1e-5)
    calls = []
    real = features.predict
    features.predict = lambda *a, **k: calls.append(1) or real(*a, **k)
    np.testing.assert_array_equal(cache.vectors(features, items), first)
    assert calls == []
    cache.vectors(features, [(FIRST_CROP, 1)])
    assert calls == [1]  # only the new row
