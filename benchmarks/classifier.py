"""Painting-vs-photo accuracy on real images, and the speed-up of caching the frozen blocks 1-4.

Real evaluation on ``../shared/data/images`` (149 paintings, 228 photos): stratified cross-validation
grouped by near-duplicate (perceptual hash; the same artwork at several sizes stays in one fold), so no
fold is ever trained on a copy of what it is tested on. Per fold the training part is split again (grouped)
into train and validation, :func:`classifier.finetune.train` runs the recipe ``paintvid finetune`` uses
(``final``: the head on channel statistics of every conv layer, block 5 frozen, mirror test-time augmentation),
and the held-out fold is predicted through the exported model's two views. Out-of-fold predictions of all
folds give accuracy (Wilson 95 % interval) and ROC AUC (95 % bootstrap over near-duplicate groups). The frozen
trunk is cached once and shared by all folds. Full mode adds the same recipe with a block-5 fine-tuning stage
(``finetuned_block5``), which is only kept where it beats the head alone on validation.

For comparison, logistic-regression probes (same folds, trained on both views, predicting their mean) on
frozen bundled features: pooled block 5 alone, the old texture statistics (``block1..4_conv1``), and the
final recipe's features.

Speed: one epoch with the trunk cached against one epoch running the whole network, same examples.
"""

from __future__ import annotations

import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from classifier import plots
from classifier.cache import FeatureCache
from classifier.data import Dataset, SplitFractions, load_dataset, split_groups
from classifier.finetune import FinetuneConfig, train
from classifier.metrics import binary_metrics, bootstrap_interval, roc_auc, wilson_interval
from classifier.model import TEXTURE_LAYERS, HeadConfig, build_top, build_trunk, load_classifier, parts_of
from classifier.pipeline import MIRROR
from foundation.figures import save_figure
from transfer.backbone import describe_weights, load_backbone

SHARED_IMAGES = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "images"


def _settings(quick: bool) -> dict:
    if quick:
        return {"folds": 5, "image_size": 224, "variants": 0, "head_epochs": 100, "block5_epochs": None,
                "timing_size": 128, "timing_images": 32}
    return {"folds": 5, "image_size": 224, "variants": 0, "head_epochs": 100, "block5_epochs": 4,
            "timing_size": 224, "timing_images": 64}


def run(quick: bool, out_dir: Path) -> dict:
    """Return accuracy/AUC with intervals for the fine-tuned model and the probes, plus epoch timings."""
    if not SHARED_IMAGES.is_dir():
        return {"skipped": f"needs {SHARED_IMAGES} (not present on this machine)"}
    s = _settings(quick)
    work = Path(out_dir) / "classifier"
    dataset = load_dataset(SHARED_IMAGES, seed=0)
    table = dataset.table
    result: dict = {"settings": s, "images": {"painting": int(table["label"].sum()),
                                              "photo": int((table["label"] == 0).sum()),
                                              "near_duplicate_groups": int(table["group"].nunique()),
                                              "skipped": len(dataset.skipped)}}
    folds = _folds(table, s["folds"])
    result["final"], oof = _cross_validate(dataset, folds, s, work, block5_epochs=0)
    if s["block5_epochs"]:
        result["finetuned_block5"], _ = _cross_validate(dataset, folds, s, work, block5_epochs=s["block5_epochs"])
    result["probes"] = _probes(table, folds, s, work)
    result["epoch_timing"] = _timing(dataset, s, work)
    _figures(table, oof, result["final"], out_dir)
    return result


def _folds(table, n_folds: int) -> np.ndarray:
    """Return the fold index of every row: stratified by label, grouped by near-duplicate group, seeded."""
    fold = np.zeros(len(table), int)
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=0)
    for k, (_, held) in enumerate(splitter.split(np.zeros(len(table)), table["label"], table["group"])):
        fold[held] = k
    return fold


def _summary(y: np.ndarray, p: np.ndarray, groups: np.ndarray) -> dict:
    m = binary_metrics(y, p)
    return {"accuracy": m["accuracy"],
            "accuracy_ci95": wilson_interval(int(round(m["accuracy"] * len(y))), len(y)),
            "roc_auc": m["roc_auc"],
            "roc_auc_ci95": bootstrap_interval(y, p, roc_auc, groups=groups, n_boot=500),
            "balanced_accuracy": m["balanced_accuracy"], "confusion": m["confusion"], "brier": m["brier"],
            "ece": m["calibration"]["ece"], "per_class": m["per_class"]}


def _cross_validate(dataset, folds: np.ndarray, s: dict, work: Path, block5_epochs: int) -> tuple[dict, np.ndarray]:
    table = dataset.table
    oof = np.zeros(len(table))
    per_fold = []
    for k in range(s["folds"]):
        t = table.copy()
        rest = np.flatnonzero(folds != k)
        t["split"] = "test"
        inner = split_groups(t["label"].to_numpy()[rest], t["group"].to_numpy()[rest], seed=k,
                             fractions=SplitFractions(val=0.15, test=0.0))
        t.loc[t.index[rest], "split"] = inner
        config = FinetuneConfig(data=SHARED_IMAGES, out=work / f"b5e{block5_epochs}_fold{k}",
                                image_size=s["image_size"], epochs=block5_epochs, head_epochs=s["head_epochs"],
                                augment_variants=s["variants"], batch_size=32, cache_dir=work / "cache",
                                progress=False, seed=0)
        report = train(Dataset(table=t, source=str(SHARED_IMAGES)), config)
        held = np.flatnonzero(folds == k)
        oof[held] = _predict_fold(config.out, t, held, config)
        per_fold.append({"fold": k, "test_accuracy": report.test["accuracy"], "test_auc": report.test["roc_auc"],
                         "epochs": len(report.history), "train_seconds": report.timings_seconds["train_seconds"],
                         "mean_epoch_seconds": report.timings_seconds["mean_epoch"],
                         "block5_changed": report.block5.changed})
    y = table["label"].to_numpy()
    summary = _summary(y, oof, table["group"].to_numpy())
    summary["folds"] = per_fold
    return summary, oof


def _predict_fold(out: Path, table, rows: np.ndarray, config) -> np.ndarray:
    """Out-of-fold P(painting) from the fold's saved classifier through the cached trunk (same numbers, faster):
    the mean over the image and its mirror image, as the saved model computes it."""
    trunk, top = parts_of(load_classifier(out / "classifier.keras"))
    cache = FeatureCache(config.cache_dir, trunk, table["path"].tolist(), config.image_size, config.seed,
                         _weights_desc(config.weights))
    views = []
    for view in (0, MIRROR):
        cache.ensure(view, rows)
        views.append(top.predict(cache.dataset([(view, r) for r in rows], None, 32), verbose=0).ravel())
    return np.mean(views, axis=0)


def _weights_desc(weights: str) -> str:
    return describe_weights(weights)


def _probes(table, folds: np.ndarray, s: dict, work: Path) -> dict:
    """Logistic-regression probes on frozen bundled features (views 0 and 1 of the shared cache), same folds."""
    backbone = load_backbone("bundled")
    trunk = build_trunk(backbone, s["image_size"])
    top = build_top(backbone, tuple(int(d) for d in trunk.output_shape[0][1:]), HeadConfig(pooled=True))
    cache = FeatureCache(work / "cache", trunk, table["path"].tolist(), s["image_size"], 0, _weights_desc("bundled"))
    rows = np.arange(len(table))
    views = []
    for view in (0, MIRROR):
        cache.ensure(view, rows)
        block4, texture = cache.load(view, rows)
        feats = keras.Model(top.inputs, top.get_layer("features").output).predict([block4, texture], batch_size=32,
                                                                                  verbose=0)
        views.append(feats)
    x = np.stack(views, axis=1)  # (N, 2 views, D): texture, block5_conv1..3 stats, pooled block 5
    widths = {"block1_conv": 64, "block2_conv": 128, "block3_conv": 256, "block4_conv": 512}
    offsets, start = {}, 0
    for name in TEXTURE_LAYERS:
        offsets[name] = start
        start += widths[name[:11]]
    n_tex = start
    # the old probe's texture: means and stds of block1..4_conv1 (stats are [all means, all stds] per layer)
    conv1 = np.concatenate([np.arange(offsets[f"block{b}_conv1"] * 2, offsets[f"block{b}_conv1"] * 2
                                      + 2 * widths[f"block{b}_conv"]) for b in (1, 2, 3, 4)])
    features = {"block5_pooled": x[:, :, -512:], "texture_blocks1_4_conv1": x[:, :, conv1],
                "all_conv_stats": x[:, :, :-512], "all_conv_stats_no_block5": x[:, :, :2 * n_tex]}
    y = table["label"].to_numpy()
    out = {}
    for name, f in features.items():
        p = np.zeros(len(y))
        for k in range(s["folds"]):
            train, held = folds != k, folds == k
            clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=3000))
            clf.fit(f[train].reshape(-1, f.shape[-1]), np.repeat(y[train], f.shape[1]))
            p[held] = clf.predict_proba(f[held].reshape(-1, f.shape[-1]))[:, 1].reshape(-1, f.shape[1]).mean(1)
        out[name] = _summary(y, p, table["group"].to_numpy())
        out[name].pop("per_class")
    return out


def _timing(dataset, s: dict, work: Path) -> dict:
    """Seconds per epoch with the trunk cached vs. the whole network, on the same small training subset."""
    t = dataset.table
    rng = np.random.default_rng(0)
    pick = np.concatenate([rng.choice(np.flatnonzero(t["label"] == c), s["timing_images"] // 2, replace=False)
                           for c in (0, 1)])
    sub = t.iloc[np.sort(pick)].reset_index(drop=True)
    sub["split"] = np.where(np.arange(len(sub)) % 4 == 0, "val", "train")
    seconds = {}
    for cached in (True, False):
        config = FinetuneConfig(data=SHARED_IMAGES, out=work / f"timing_{'cached' if cached else 'uncached'}",
                                image_size=s["timing_size"], epochs=2, head_epochs=0, augment_variants=1,
                                batch_size=16, cache=cached, cache_dir=work / "cache_timing", progress=False,
                                patience=5)
        t0 = time.perf_counter()
        report = train(Dataset(table=sub, source=str(SHARED_IMAGES)), config)
        # the second epoch: the first also pays for tracing the graph
        seconds[cached] = {"epoch": report.history[-1]["epoch_seconds"],
                           "cache_fill": report.timings_seconds.get("cache_seconds", 0.0),
                           "total": time.perf_counter() - t0}
    return {"images": int(len(sub)), "image_size": s["timing_size"], "views_per_image": 3,
            "cached_epoch_seconds": seconds[True]["epoch"], "uncached_epoch_seconds": seconds[False]["epoch"],
            "cache_fill_seconds": seconds[True]["cache_fill"],
            "speedup": seconds[False]["epoch"] / max(1e-9, seconds[True]["epoch"])}


def _figures(table, oof: np.ndarray, summary: dict, out_dir: Path) -> None:
    predictions = pd.DataFrame({"path": table["path"], "label": table["label"], "prob": oof})
    metrics = binary_metrics(predictions["label"], predictions["prob"])
    save_figure(plots.roc_figure(predictions, metrics), Path(out_dir) / "classifier_roc.png")
    save_figure(plots.calibration_figure(metrics), Path(out_dir) / "classifier_calibration.png")
    save_figure(plots.wrong_grid_figure(predictions, 12), Path(out_dir) / "classifier_wrong.png")
