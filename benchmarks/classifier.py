"""Painting-vs-photo accuracy on real images, and the speed-up of caching the frozen blocks 1-4.

Real evaluation on ``../shared/data/images`` (149 paintings, 228 photos): stratified cross-validation
grouped by near-duplicate (perceptual hash; the same artwork at several sizes stays in one fold), so no
fold is ever trained on a copy of what it is tested on. Per fold the training part is split again (grouped)
into train and validation, :func:`classifier.finetune.train` fine-tunes block 5 + the head, and the held-out
fold is predicted. Out-of-fold predictions of all folds give accuracy (Wilson 95 % interval) and ROC AUC
(95 % bootstrap over near-duplicate groups). The frozen trunk is cached once and shared by all folds.

For comparison, linear probes (logistic regression, same folds) on frozen bundled features: pooled block 5
alone, texture statistics of blocks 1-4 alone, and both.

Speed: one epoch with the trunk cached against one epoch running the whole network, same examples.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

SHARED_IMAGES = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "images"


def _settings(quick: bool) -> dict:
    if quick:
        return {"folds": 3, "image_size": 128, "variants": 1, "head_epochs": 2, "epochs": 4, "timing_images": 32}
    return {"folds": 5, "image_size": 224, "variants": 2, "head_epochs": 3, "epochs": 6, "timing_images": 64}


def run(quick: bool, out_dir: Path) -> dict:
    """Return accuracy/AUC with intervals for the fine-tuned model and the probes, plus epoch timings."""
    from classifier.data import load_dataset

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
    result["finetuned"], oof = _cross_validate(dataset, folds, s, work)
    result["probes"] = _probes(table, folds, s, work)
    result["epoch_timing"] = _timing(dataset, s, work)
    _figures(table, oof, result["finetuned"], out_dir)
    return result


def _folds(table, n_folds: int) -> np.ndarray:
    """Return the fold index of every row: stratified by label, grouped by near-duplicate group, seeded."""
    from sklearn.model_selection import StratifiedGroupKFold

    fold = np.zeros(len(table), int)
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=0)
    for k, (_, held) in enumerate(splitter.split(np.zeros(len(table)), table["label"], table["group"])):
        fold[held] = k
    return fold


def _summary(y: np.ndarray, p: np.ndarray, groups: np.ndarray) -> dict:
    from classifier.metrics import binary_metrics, bootstrap_interval, roc_auc, wilson_interval

    m = binary_metrics(y, p)
    return {"accuracy": m["accuracy"],
            "accuracy_ci95": wilson_interval(int(round(m["accuracy"] * len(y))), len(y)),
            "roc_auc": m["roc_auc"],
            "roc_auc_ci95": bootstrap_interval(y, p, roc_auc, groups=groups, n_boot=500),
            "balanced_accuracy": m["balanced_accuracy"], "confusion": m["confusion"], "brier": m["brier"],
            "ece": m["calibration"]["ece"], "per_class": m["per_class"]}


def _cross_validate(dataset, folds: np.ndarray, s: dict, work: Path) -> tuple[dict, np.ndarray]:
    from classifier.data import Dataset, SplitFractions, split_groups
    from classifier.finetune import FinetuneConfig, train

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
        config = FinetuneConfig(data=SHARED_IMAGES, out=work / f"fold{k}", image_size=s["image_size"],
                                epochs=s["epochs"], head_epochs=s["head_epochs"], augment_variants=s["variants"],
                                batch_size=32, cache_dir=work / "cache", progress=False, seed=0)
        report = train(Dataset(table=t, source=str(SHARED_IMAGES)), config)
        held = np.flatnonzero(folds == k)
        oof[held] = _predict_fold(work / f"fold{k}", t, held, config)
        per_fold.append({"fold": k, "test_accuracy": report["test"]["accuracy"], "test_auc": report["test"]["roc_auc"],
                         "epochs": len(report["history"]), "train_seconds": report["timings_seconds"]["train_seconds"],
                         "mean_epoch_seconds": report["timings_seconds"]["mean_epoch"]})
    y = table["label"].to_numpy()
    summary = _summary(y, oof, table["group"].to_numpy())
    summary["folds"] = per_fold
    return summary, oof


def _predict_fold(out: Path, table, rows: np.ndarray, config) -> np.ndarray:
    """Out-of-fold P(painting) from the fold's saved classifier through the cached trunk (same numbers, faster)."""
    from classifier.cache import FeatureCache
    from classifier.model import load_classifier, parts_of

    trunk, top = parts_of(load_classifier(out / "classifier.keras"))
    cache = FeatureCache(config.cache_dir, trunk, table["path"].tolist(), config.image_size, config.seed,
                         _weights_desc(config.weights))
    cache.ensure(0, rows)
    return top.predict(cache.dataset([(0, r) for r in rows], None, 32), verbose=0).ravel()


def _weights_desc(weights: str) -> str:
    from transfer.backbone import describe_weights

    return describe_weights(weights)


def _probes(table, folds: np.ndarray, s: dict, work: Path) -> dict:
    """Logistic-regression probes on frozen bundled features (variant 0 of the shared cache), same folds."""
    import keras
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from classifier.cache import FeatureCache
    from classifier.model import build_top, build_trunk
    from transfer.backbone import load_backbone

    backbone = load_backbone("bundled")
    trunk = build_trunk(backbone, s["image_size"])
    top = build_top(backbone, tuple(int(d) for d in trunk.output_shape[0][1:]))
    cache = FeatureCache(work / "cache", trunk, table["path"].tolist(), s["image_size"], 0, _weights_desc("bundled"))
    rows = np.arange(len(table))
    cache.ensure(0, rows)
    block4, texture = cache.load(0, rows)
    deep = keras.Model(top.inputs, top.get_layer("deep").output).predict([block4, texture], batch_size=32, verbose=0)
    features = {"block5_pooled": deep[:, :512], "texture_blocks1_4": texture,
                "block5_and_texture": np.concatenate([deep, texture], axis=1)}
    y = table["label"].to_numpy()
    out = {}
    for name, x in features.items():
        p = np.zeros(len(y))
        for k in range(s["folds"]):
            train, held = folds != k, folds == k
            clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
            clf.fit(x[train], y[train])
            p[held] = clf.predict_proba(x[held])[:, 1]
        out[name] = _summary(y, p, table["group"].to_numpy())
        out[name].pop("per_class")
    return out


def _timing(dataset, s: dict, work: Path) -> dict:
    """Seconds per epoch with the trunk cached vs. the whole network, on the same small training subset."""
    from classifier.data import Dataset
    from classifier.finetune import FinetuneConfig, train

    t = dataset.table
    rng = np.random.default_rng(0)
    pick = np.concatenate([rng.choice(np.flatnonzero(t["label"] == c), s["timing_images"] // 2, replace=False)
                           for c in (0, 1)])
    sub = t.iloc[np.sort(pick)].reset_index(drop=True)
    sub["split"] = np.where(np.arange(len(sub)) % 4 == 0, "val", "train")
    seconds = {}
    for cached in (True, False):
        config = FinetuneConfig(data=SHARED_IMAGES, out=work / f"timing_{'cached' if cached else 'uncached'}",
                                image_size=s["image_size"], epochs=2, head_epochs=0, augment_variants=s["variants"],
                                batch_size=16, cache=cached, cache_dir=work / "cache_timing", progress=False,
                                patience=5)
        t0 = time.perf_counter()
        report = train(Dataset(table=sub, source=str(SHARED_IMAGES)), config)
        # the second epoch: the first also pays for tracing the graph
        seconds[cached] = {"epoch": report["history"][-1]["epoch_seconds"],
                           "cache_fill": report["timings_seconds"].get("cache_seconds", 0.0),
                           "total": time.perf_counter() - t0}
    return {"images": int(len(sub)), "variants_per_image": s["variants"] + 1,
            "cached_epoch_seconds": seconds[True]["epoch"], "uncached_epoch_seconds": seconds[False]["epoch"],
            "cache_fill_seconds": seconds[True]["cache_fill"],
            "speedup": seconds[False]["epoch"] / max(1e-9, seconds[True]["epoch"])}


def _figures(table, oof: np.ndarray, summary: dict, out_dir: Path) -> None:
    import pandas as pd

    from classifier import plots
    from classifier.metrics import binary_metrics

    predictions = pd.DataFrame({"path": table["path"], "label": table["label"], "prob": oof})
    metrics = binary_metrics(predictions["label"], predictions["prob"])
    plots.save_figure(plots.roc_figure(predictions, metrics), Path(out_dir) / "classifier_roc.png")
    plots.save_figure(plots.calibration_figure(metrics), Path(out_dir) / "classifier_calibration.png")
    plots.save_figure(plots.wrong_grid_figure(predictions, 12), Path(out_dir) / "classifier_wrong.png")
