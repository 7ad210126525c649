"""Painting-vs-photo accuracy on real images, which recipe choices earn their place, and the cache's speed-up.

Real evaluation on ``../shared/data/images`` (719 paintings, 843 photos): stratified 5-fold cross-validation
grouped by near-duplicate (perceptual hash; the same artwork at several sizes stays in one fold), so no fold is
ever trained on a copy of what it is tested on. Per fold the training part is split again (grouped) into train
and validation, :func:`classifier.finetune.train` runs the recipe ``paintvid finetune`` uses (``final``: logistic
head, then block 5 under L2-SP on the shortcut-breaking views, predictions averaged over the whole image and
its near-native crops), and the held-out fold is predicted from the exported model through the cache. Out-of-fold
predictions of all folds give accuracy (Wilson 95 % interval), ROC AUC (95 % bootstrap over near-duplicate
groups) and a subject-matched proxy (:func:`motif_table`). The frozen trunk is cached once and shared by all folds
and recipes (``bench/classifier/cache``).

``choices``: the same folds with a logistic head on frozen bundled features of each cached view (computed once),
one choice at a time: texture statistics only vs. with block 5's, the whole image vs. plus near-native crops, with
or without the shortcut-breaking views, with or without the channel correlations of blocks 1-4, with all eight
near-native crops and with every cached view (mirror and four shortcut-breaking views too), and a learning curve
(25 / 50 / 100 % of each fold's training groups).

Speed: one block-5 epoch with the trunk cached against one epoch running the whole network, same examples; and
the trunk (what filling the cache costs) with its texture statistics as computed now against the previous formulas
(spatial reductions and a centred copy of each map: :class:`_ReferenceStats`, :class:`_ReferenceCorrelation`
override only how the moments are computed), same weights and batch.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import cv2
import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from keras import ops
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold

from benchmarks.shared import SHARED_IMAGES
from benchmarks.trunk_floor import alternated_rates
from classifier import model as M
from classifier import plots
from classifier.cache import FeatureCache
from classifier.data import Dataset, SplitFractions, load_dataset, split_groups
from classifier.finetune import FinetuneConfig, run_fingerprint, train
from classifier.metrics import binary_metrics, bootstrap_interval, roc_auc, wilson_interval
from classifier.model import STATS_DIM, TEXTURE_DIM, load_classifier, parts_of
from classifier.pipeline import CROP_POSITIONS, FIRST_CROP, augmented_views, clean_views
from classifier.predict import average_views
from foundation.figures import save_figure
from foundation.records import config_json, jsonable
from transfer.backbone import describe_weights, load_backbone

#: Motifs of the subject-matched proxy: words of the manifest's titles, source paths and file names (ImageNet
#: class names for many photos). An image may match several; the proxy scores each motif with both classes.
MOTIFS = {
    "portrait": r"portrait|self-portrait|face|woman|\bman\b|girl|boy|lady|person|head|deepface|potrait|celeb",
    "animal": r"\bcat\b|dog|tiger|horse|bird|koi|fish|lion|\bcow|animal|terrier|retriever|spaniel|hound",
    "flower": r"flower|daisy|rose|tulip|lily|lilies|sunflower|bouquet|popp|iris",
    "city": r"city|street|building|town|bridge|urban|venice|paris|church",
    "sea_ship": r"beach|\bsea\b|seascape|coast|ocean|wave|ship|boat|sail|harbo",
}
#: Head-only choices measured on cached vectors: (training views, averaged views, features, C of the logistic
#: regression). ``AUG`` is the first augmented view (:func:`classifier.pipeline.augmented_views`: a jittered
#: near-native crop). Features (:func:`_columns`): ``texture_stats`` the channel statistics of blocks 1-4,
#: ``stats`` those of blocks 1-5, ``all`` the whole head input (also the channel correlations of blocks 1-4).
AUG = augmented_views(1)[0]
#: The clean views of ``paintvid finetune --crops 8`` (whole image and all eight near-native crops), and with
#: ``--average-mirror`` (the mirrored whole image too).
ALL_CROPS = clean_views(len(CROP_POSITIONS))
ALL_CROPS_MIRROR = clean_views(len(CROP_POSITIONS), mirror=True)
CHOICES = {
    "whole_texture_only": ((0,), (0,), "texture_stats", 0.1),
    "whole_all_stats": ((0,), (0,), "stats", 0.1),
    "whole_crop": ((0, FIRST_CROP), (0, FIRST_CROP), "stats", 0.1),
    "whole_crop_augmented": ((0, FIRST_CROP, AUG), (0, FIRST_CROP), "stats", 0.1),
    "whole_crop_augmented_texture_only": ((0, FIRST_CROP, AUG), (0, FIRST_CROP), "texture_stats", 0.1),
    "augmented_only": ((AUG,), (0, FIRST_CROP), "stats", 0.1),
    # many more, strongly correlated features: a stronger L2 (C = 0.01, the best of 0.003-0.03 on these folds)
    "whole_crop_augmented_correlations": ((0, FIRST_CROP, AUG), (0, FIRST_CROP), "all", 0.01),
    # more of each image: all eight near-native crops (averaged too) and two shortcut-breaking crops
    "all_crops_correlations": ((*ALL_CROPS, *augmented_views(3)[::2]), ALL_CROPS, "all", 0.01),
    # every cached view: also the mirror image (averaged too) and four shortcut-breaking views
    "all_views_correlations": ((*ALL_CROPS_MIRROR, *augmented_views(4)), ALL_CROPS_MIRROR, "all", 0.01),
}


def _settings(quick: bool) -> dict:
    if quick:
        return {"folds": 5, "image_size": 224, "block5_epochs": 0, "timing_size": 128, "timing_images": 32,
                "curve": (0.25, 1.0)}
    return {"folds": 5, "image_size": 224, "block5_epochs": FinetuneConfig.epochs, "timing_size": 224,
            "timing_images": 64, "curve": (0.25, 0.5, 1.0)}


def run(quick: bool, out_dir: Path) -> dict:
    """Return accuracy/AUC with intervals for the default recipe and the head-only choices, plus epoch timings."""
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
    result["choices"] = _choices(table, folds, s, work)
    name = "final" if s["block5_epochs"] else "head_only"
    result[name], oof = _cross_validate(dataset, folds, s, work, block5_epochs=s["block5_epochs"])
    result[f"{name}_by_saturation"] = saturation_table(table, oof)
    result["epoch_timing"] = _timing(dataset, s, work)
    result["trunk_statistics_timing"] = _trunk_statistics_timing(s)
    _figures(table, oof, out_dir)
    return result


def _folds(table, n_folds: int) -> np.ndarray:
    """Return the fold index of every row: stratified by label, grouped by near-duplicate group, seeded."""
    fold = np.zeros(len(table), int)
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=0)
    for k, (_, held) in enumerate(splitter.split(np.zeros(len(table)), table["label"], table["group"])):
        fold[held] = k
    return fold


def _summary(table, p: np.ndarray) -> dict:
    y, groups = table["label"].to_numpy(), table["group"].to_numpy()
    m = binary_metrics(y, p)
    return {"accuracy": m["accuracy"],
            "accuracy_ci95": wilson_interval(int(round(m["accuracy"] * len(y))), len(y)),
            "roc_auc": m["roc_auc"],
            "roc_auc_ci95": bootstrap_interval(y, p, roc_auc, groups=groups, n_boot=500),
            "balanced_accuracy": m["balanced_accuracy"], "confusion": m["confusion"], "brier": m["brier"],
            "ece": m["calibration"]["ece"], "per_class": m["per_class"], "subject_matched": motif_table(table, p)}


def saturation_table(table, p: np.ndarray, near_gray: float = 0.06) -> dict:
    """Return, per class, the accuracy of P(painting) ``p`` in each third of the class's images by mean HSV
    saturation (0-1, of the image shrunk to 256 px wide), and on its near-gray images (below ``near_gray``): the
    colour shortcut shows as muted paintings and vivid photographs scoring worst."""
    saturation = np.array([_mean_saturation(path) for path in table["path"]])
    y = table["label"].to_numpy()
    right = (p >= 0.5) == (y == 1)
    out = {}
    for label, name in ((1, "painting"), (0, "photo")):
        sat, ok = saturation[y == label], right[y == label]
        third = np.digitize(sat, np.quantile(sat, [1 / 3, 2 / 3]))
        out[name] = [{"third": ("muted", "middle", "vivid")[k], "saturation": [float(sat[third == k].min()),
                                                                             float(sat[third == k].max())],
                      "images": int((third == k).sum()), "wrong": int((~ok[third == k]).sum()),
                      "accuracy": float(ok[third == k].mean())} for k in range(3) if (third == k).any()]
        gray = sat < near_gray
        out[f"{name}_near_gray"] = {"images": int(gray.sum()), "wrong": int((~ok[gray]).sum()),
                                    "accuracy": float(ok[gray].mean()) if gray.any() else None}
    return out


def _mean_saturation(path) -> float:
    """Mean HSV saturation in [0, 1] of the image at ``path``, shrunk to 256 px wide (grayscale files: 0)."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    h, w = image.shape[:2]
    image = cv2.resize(image, (256, max(1, round(256 * h / w))), interpolation=cv2.INTER_AREA)
    return float(cv2.cvtColor(image, cv2.COLOR_BGR2HSV)[..., 1].mean() / 255)


def motif_table(table, p: np.ndarray) -> dict:
    """Return the subject-matched proxy of out-of-fold P(painting) ``p``: per motif of :data:`MOTIFS` (images
    whose manifest title or source path names it), the images of each class and the accuracy; ``overall`` is
    the accuracy over every image of a motif, ``balanced`` the mean of per-motif balanced accuracies."""
    manifest = pd.read_csv(SHARED_IMAGES / "manifest.csv", dtype=str, keep_default_na=False)
    text = dict(zip((str((SHARED_IMAGES / f).resolve()) for f in manifest["file"]),
                    (manifest["title"] + " " + manifest["path"] + " " + manifest["file"]).str.lower(), strict=True))
    words = np.array([text.get(str(Path(q).resolve()), "") for q in table["path"]])
    y = table["label"].to_numpy()
    correct = (np.asarray(p) >= 0.5).astype(int) == y
    out, any_motif, balanced = {}, np.zeros(len(y), bool), []
    for motif, pattern in MOTIFS.items():
        hit = np.array([re.search(pattern, w) is not None for w in words])
        any_motif |= hit
        per_class = [float(correct[hit & (y == c)].mean()) if (hit & (y == c)).any() else None for c in (1, 0)]
        out[motif] = {"painting": int((hit & (y == 1)).sum()), "photo": int((hit & (y == 0)).sum()),
                      "painting_accuracy": per_class[0], "photo_accuracy": per_class[1]}
        if None not in per_class:
            balanced.append(float(np.mean(per_class)))
    out["overall"] = {"n": int(any_motif.sum()), "accuracy": float(correct[any_motif].mean()),
                      "balanced": float(np.mean(balanced)) if balanced else None}
    return out


def _cross_validate(dataset, folds: np.ndarray, s: dict, work: Path, block5_epochs: int,
                    recipe: dict | None = None, tag: str = "") -> tuple[dict, np.ndarray]:
    """Run the default recipe (``block5_epochs`` stage-2 epochs) per fold; a fold already finished is reused.
    ``recipe`` overrides :class:`FinetuneConfig` fields (e.g. more views), its folds kept under ``tag``."""
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
        config = FinetuneConfig(data=SHARED_IMAGES, out=work / f"b5e{block5_epochs}{tag}_fold{k}",
                                image_size=s["image_size"], epochs=block5_epochs, cache_dir=work / "cache",
                                progress=False, seed=0, **(recipe or {}))
        report = _fold_record(Dataset(table=t, source=str(SHARED_IMAGES)), config)
        held = np.flatnonzero(folds == k)
        oof[held] = _predict_fold(config.out, t, held, config)
        per_fold.append({"fold": k, "test_accuracy": report["test"]["accuracy"], "test_auc": report["test"]["roc_auc"],
                         "stage2_epochs": len(report["history"]), "head_C": report["head_fit"]["chosen"]["C"],
                         # validation AUC of the views' mean per image: the head alone on the bundled block 5
                         # and refitted on the fine-tuned one (both fitted on the training rows only)
                         "val_auc": {"stage1": report["head_fit"]["chosen"]["val_auc"],
                                     "refit": (report.get("head_refit") or {}).get("chosen", {}).get("val_auc")},
                         # Keras's AUC over the validation views one by one at the best block-5 epoch
                         "stage2_best_val_auc_per_view": (report["best"] or {}).get("val_auc"),
                         "train_seconds": report["timings_seconds"]["train_seconds"],
                         "mean_epoch_seconds": report["timings_seconds"]["mean_epoch"],
                         "block5_relative_change": report["block5"]["relative_change"]})
    summary = _summary(table, oof)
    summary["folds"] = per_fold
    return summary, oof


def _fold_record(dataset: Dataset, config: FinetuneConfig) -> dict:
    """Return the fold's ``finetune.json``: read back when a finished run of the same config and split exists
    (so an interrupted benchmark resumes fold by fold), else trained now."""
    record = Path(config.out) / "finetune.json"
    if record.exists() and (Path(config.out) / "classifier.keras").exists():
        saved = json.loads(record.read_text())
        state = json.loads((Path(config.out) / "checkpoints" / "state.json").read_text())
        same = saved["config"] == json.loads(json.dumps(config_json(config), default=str))
        if same and state.get("fingerprint") == run_fingerprint(config, dataset.table):
            return saved
    return jsonable(train(dataset, config))


def _predict_fold(out: Path, table, rows: np.ndarray, config: FinetuneConfig) -> np.ndarray:
    """Out-of-fold P(painting) from the fold's saved classifier through the cached trunk (same numbers as
    :func:`classifier.predict.predict_paths`, faster): the recipe's clean views averaged."""
    trunk, top = parts_of(load_classifier(out / "classifier.keras"))
    cache = FeatureCache(config.cache_dir, trunk, table["path"].tolist(), config.image_size, config.seed,
                         describe_weights(config.weights))
    views = []
    for view in config.eval_views:
        cache.ensure(view, rows)
        views.append(top.predict(cache.dataset([(view, r) for r in rows], None, 32), verbose=0).ravel())
    return average_views(views)


def _view_vectors(table, s: dict, work: Path, views: set[int]) -> dict[int, np.ndarray]:
    """Return ``{view: (N, D)}`` head inputs (texture + bundled block-5 statistics) of every image, from the cache
    (trunk outputs and vectors filled where missing; the folds of ``final`` store the same vectors)."""
    backbone = load_backbone("bundled")
    trunk = M.build_trunk(backbone, s["image_size"])
    features = M.feature_model(M.build_top(backbone, tuple(int(d) for d in trunk.output_shape[0][1:])))
    cache = FeatureCache(work / "cache", trunk, table["path"].tolist(), s["image_size"], 0, describe_weights("bundled"))
    rows = np.arange(len(table))
    for view in views:
        cache.ensure(view, rows)
    return {view: cache.vectors(features, [(view, r) for r in rows]) for view in sorted(views)}


def _columns(features: str, dim: int) -> np.ndarray:
    """Return the columns of the head input (``dim`` wide: texture vector, then block 5's channel statistics)
    that a choice's ``features`` name (see :data:`CHOICES`)."""
    texture_stats = np.arange(STATS_DIM)
    if features == "texture_stats":
        return texture_stats
    if features == "stats":
        return np.concatenate([texture_stats, np.arange(TEXTURE_DIM, dim)])
    return np.arange(dim)


def _head_cv(vectors: dict, y: np.ndarray, folds: np.ndarray, train_views, test_views, features: str, c: float,
             keep=None) -> np.ndarray:
    """Out-of-fold P(painting) of a logistic head (inverse L2 strength ``c``, standardised ``features``);
    ``keep`` (bool per row) restricts each fold's training rows (the learning curve)."""
    cols = _columns(features, next(iter(vectors.values())).shape[1])
    p = np.zeros(len(y))
    for k in np.unique(folds):
        tr = np.flatnonzero((folds != k) & (True if keep is None else keep))
        te = np.flatnonzero(folds == k)
        x = np.concatenate([vectors[v][np.ix_(tr, cols)] for v in train_views])
        mu, sd = x.mean(0), np.sqrt(np.maximum(x.var(0), M.VARIANCE_FLOOR))
        clf = LogisticRegression(C=c, max_iter=2000).fit((x - mu) / sd, np.tile(y[tr], len(train_views)))
        p[te] = average_views([clf.predict_proba((vectors[v][np.ix_(te, cols)] - mu) / sd)[:, 1] for v in test_views])
    return p


def _choices(table, folds: np.ndarray, s: dict, work: Path, names=tuple(CHOICES)) -> dict:
    """Each head-only choice ``names`` of :data:`CHOICES` by grouped CV, and the learning curve of the best one."""
    vectors = _view_vectors(table, s, work, {v for n in names for v in (*CHOICES[n][0], *CHOICES[n][1])})
    y, out = table["label"].to_numpy(), {}
    for name in names:
        t0 = time.perf_counter()
        out[name] = _summary(table, _head_cv(vectors, y, folds, *CHOICES[name]))
        out[name]["seconds"] = time.perf_counter() - t0
    best = max(names, key=lambda n: (out[n]["subject_matched"]["overall"]["accuracy"], out[n]["accuracy"]))
    return {"recipes": out, "best": best,
            "learning_curve": learning_curve(table, folds, vectors, best, s["curve"], at_full=out[best])}


def learning_curve(table, folds: np.ndarray, vectors: dict, name: str, fractions, at_full: dict | None = None) -> dict:
    """Grouped CV of head-only choice ``name`` (:data:`CHOICES`) with each of ``fractions`` of the near-duplicate
    groups kept for training (the same seeded draw for every fold; the held-out folds stay whole); ``at_full``: the
    choice's summary on all of them when already computed."""
    y, groups = table["label"].to_numpy(), table["group"].to_numpy()
    curve = {}
    for fraction in fractions:
        rng = np.random.default_rng(0)
        unique = np.unique(groups)
        chosen = set(rng.choice(unique, int(round(fraction * len(unique))), replace=False))
        keep = np.array([g in chosen for g in groups])
        summary = at_full if fraction == 1.0 and at_full is not None else _summary(
            table, _head_cv(vectors, y, folds, *CHOICES[name], keep=keep))
        curve[f"{int(fraction * 100)}%"] = {"accuracy": summary["accuracy"], "accuracy_ci95": summary["accuracy_ci95"],
                                             "roc_auc": summary["roc_auc"], "roc_auc_ci95": summary["roc_auc_ci95"],
                                             "subject_matched": summary["subject_matched"]["overall"]["accuracy"],
                                             "training_images_per_fold": int(round(keep.sum() * 0.8))}
    return curve


def _timing(dataset, s: dict, work: Path) -> dict:
    """Seconds per block-5 epoch with the trunk cached vs. the whole network, on the same small training subset."""
    t = dataset.table
    rng = np.random.default_rng(0)
    pick = np.concatenate([rng.choice(np.flatnonzero(t["label"] == c), s["timing_images"] // 2, replace=False)
                           for c in (0, 1)])
    sub = t.iloc[np.sort(pick)].reset_index(drop=True)
    sub["split"] = np.where(np.arange(len(sub)) % 4 == 0, "val", "train")
    seconds = {}
    for cached in (True, False):
        config = FinetuneConfig(data=SHARED_IMAGES, out=work / f"timing_{'cached' if cached else 'uncached'}",
                                image_size=s["timing_size"], epochs=2, head_epochs=0, augment_variants=1, crops=0,
                                batch_size=16, cache=cached, cache_dir=work / "cache_timing", progress=False,
                                patience=5)
        t0 = time.perf_counter()
        report = train(Dataset(table=sub, source=str(SHARED_IMAGES)), config)
        # the second epoch: the first also pays for tracing the graph
        seconds[cached] = {"epoch": report.history[-1]["epoch_seconds"],
                           "cache_fill": report.timings_seconds.get("cache_seconds", 0.0),
                           "total": time.perf_counter() - t0}
    return {"images": int(len(sub)), "image_size": s["timing_size"], "views_per_training_image": 1,
            "cached_epoch_seconds": seconds[True]["epoch"], "uncached_epoch_seconds": seconds[False]["epoch"],
            "cache_fill_seconds": seconds[True]["cache_fill"],
            "speedup": seconds[False]["epoch"] / max(1e-9, seconds[True]["epoch"])}


class _ReferenceStats(M.ChannelStats):
    """The previous channel moments: the mean, then the mean squared deviation, as spatial reductions."""

    def moments(self, x):
        x = ops.cast(x, "float32")
        mean = ops.mean(x, axis=(1, 2))
        return mean, ops.mean(ops.square(x - mean[:, None, None, :]), axis=(1, 2))


class _ReferenceCorrelation(M.ChannelCorrelation):
    """The previous channel covariance: every map projected (identity too), centred, then its Gram matrix."""

    def covariance(self, x):
        x = ops.cast(x, "float32")
        flat = ops.reshape(x, (ops.shape(x)[0], -1, ops.shape(x)[-1])) @ self.basis
        flat = flat - ops.mean(flat, axis=1, keepdims=True)
        return ops.einsum("bnc,bnd->bcd", flat, flat) / ops.cast(ops.shape(flat)[1], "float32")


def _trunk_statistics_timing(s: dict, batch: int = 16, seconds: float = 10.0) -> dict:
    """Views per second of the trunk with :mod:`classifier.model`'s statistics vs. :class:`_ReferenceStats` /
    :class:`_ReferenceCorrelation` on the same convolutions, alternated twice; and how far the texture vectors of
    the two differ (float32 rounding)."""
    trunk = M.build_trunk(load_backbone("bundled"), s["timing_size"])
    outputs = [trunk.get_layer(name).output for name in M.TEXTURE_LAYERS]
    parts = [_ReferenceStats(dtype="float32")(o) for o in outputs]
    # the same seed draws the same projection bases as the trunk's
    parts += [_ReferenceCorrelation(k, dtype="float32")(trunk.get_layer(name).output)
              for name, k in M.CORRELATION_LAYERS.items()]
    reference = keras.Model(trunk.input, [trunk.get_layer("block4_out").output,
                                          keras.layers.Concatenate(dtype="float32")(parts)])
    x = np.random.default_rng(0).uniform(-100, 100, (batch, s["timing_size"], s["timing_size"], 3)).astype("float32")
    calls = {"now": tf.function(lambda v: trunk(v, training=False)),
             "reference": tf.function(lambda v: reference(v, training=False))}
    difference = float(np.abs(np.asarray(calls["now"](x)[1]) - np.asarray(calls["reference"](x)[1])).max())
    rate = alternated_rates(calls, x, seconds, output=1)
    now, ref = float(np.mean(rate["now"])), float(np.mean(rate["reference"]))
    return {"image_size": s["timing_size"], "batch": batch, "views_per_second": now,
            "reference_views_per_second": ref, "speedup": now / ref, "texture_max_abs_difference": difference}


def _figures(table, oof: np.ndarray, out_dir: Path) -> None:
    predictions = pd.DataFrame({"path": table["path"], "label": table["label"], "prob": oof})
    metrics = binary_metrics(predictions["label"], predictions["prob"])
    save_figure(plots.roc_figure(predictions, metrics), Path(out_dir) / "classifier_roc.png")
    save_figure(plots.calibration_figure(metrics), Path(out_dir) / "classifier_calibration.png")
    save_figure(plots.wrong_grid_figure(predictions, 12), Path(out_dir) / "classifier_wrong.png")
