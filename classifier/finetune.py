"""Train the painting-vs-photo classifier on VGG16, fine-tuning its block 5: ``finetune(FinetuneConfig)``.

Recipe (the design's two stages): blocks 1-4 frozen; stage 1 trains the head alone on the channel statistics of
every conv layer, blocks 1-4 and block 5 (see :mod:`classifier.model`): by default an L2 logistic regression
(:mod:`classifier.logistic`: scikit-learn's objective and stopping rule, every ``C`` of ``head_c`` fitted in one
batched solve and chosen by validation AUC) whose weights become the Keras head, or Adam (``head_epochs``,
``head_learning_rate``; always used by the uncached path); stage 2 (``epochs``) unfreezes block 5 with the head at
a learning rate 100x below the head's (``learning_rate``), with L2-SP (``l2sp``: a penalty on the distance from
the starting weights, not from zero) and early stopping on the grouped validation split; the best validation epoch
is kept; then (``refit_head``, logistic solver) the head is fitted again as a logistic regression on the
fine-tuned block 5's features, with ``C`` chosen again on validation and refitted on training plus validation
images. Stage 2 trains on the shortcut-breaking views (random grayscale, hue/saturation, contrast, brightness,
JPEG re-compression, rescaled native crops; see :mod:`classifier.pipeline`) and stage 1 on those plus the clean
views. Predictions average the clean views: the whole image and ``crops`` near-native crops. With ``cache=True``
(default) blocks 1-4 run once per image and view (:mod:`classifier.cache`), and stage 1 trains on feature vectors
computed once.

Outputs in ``out/``: ``classifier.keras`` (VGG input -> P(painting), one view), ``backbone.weights.h5`` (a
``VGG16(include_top=False)`` for :func:`transfer.backbone.load_backbone`; differs from the start in block 5
only), ``finetune.json`` (config, data counts, history, timings, test metrics, how far block 5 moved),
``train_log.csv``, ``tensorboard/``, ``checkpoints/`` (best weights by validation AUC and the per-epoch backup a
rerun resumes from) and ``cache/``.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import shutil
import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from sklearn.metrics import log_loss, roc_auc_score
from tqdm import tqdm

from classifier import model as M
from classifier.cache import FeatureCache
from classifier.data import CLASS_NAMES, Dataset, SplitFractions, load_dataset
from classifier.logistic import TOL, LogisticFit, fit_l2_logistic, sample_weights
from classifier.metrics import binary_metrics
from classifier.model import HeadConfig
from classifier.pipeline import (
    FIRST_AUGMENTED,
    FIRST_CROP,
    MIRROR,
    Augment,
    augmented_views,
    clean_views,
    image_dataset,
    training_image_dataset,
)
from classifier.predict import average_views, from_log_odds, log_odds, predict_paths
from foundation.atomic import atomic_write_json
from foundation.errors import UserError
from foundation.fingerprint import fingerprint
from foundation.records import config_json, jsonable
from transfer.backbone import BUNDLED, describe_weights, load_backbone

log = logging.getLogger("classifier.finetune")

#: Tie-break weight of validation loss in the checkpoint criterion ``val_auc - TIE_BREAK * val_loss``: on small
#: validation sets AUC often saturates at 1.0 and the better-calibrated epoch should win.
TIE_BREAK = 1e-3
SELECTION = "val_selection"


class HeadSolver(StrEnum):
    """How stage 1 fits the head: ``logistic`` (L-BFGS on cached feature vectors, :mod:`classifier.logistic`)
    or ``adam``."""

    LOGISTIC = "logistic"
    ADAM = "adam"


@dataclass(frozen=True)
class FinetuneConfig:
    """Everything ``paintvid finetune`` needs.

    Attributes:
        data: scraper ``manifest.csv`` or a ``DIR/{painting,photo}/`` tree (see :func:`classifier.data.load_dataset`).
        out: output folder (``models/``).
        weights: starting backbone, ``bundled`` / ``imagenet`` / a path.
        image_size: square input side in pixels (multiple of 32, at least 32).
        epochs: most epochs of stage 2 (block 5 + head; 0 skips it); head_epochs: most epochs of stage 1 (0 skips
            it; epochs there are cheap, feature vectors only).
        learning_rate / head_learning_rate: Adam step sizes of stage 2 (block 5 and head) / stage 1 (head).
        l2sp: weight of the L2-SP penalty ``sum((w - w0)^2)`` on block 5 in stage 2 (0 turns it off).
        head_solver: stage 1's fitting method (:class:`HeadSolver`); head_c: inverse L2 strengths tried by the
            logistic solver (the one with the best validation AUC, then log-loss, is refitted on train + val).
            0.3 was dropped from the default grid: never chosen in the 10 choices (stage 1 and refit) of the
            shared images' grouped CV and the slowest fit, so the CV figures stand and ``make finetune`` saves it.
        refit_head: after stage 2, refit the logistic head on the fine-tuned block 5's features (cached path with
            the logistic solver; stage 2's Adam steps on the head are then replaced by the exact optimum).
        head_block5: the logistic head weighs block 5's channel statistics too (needed for stage 2 to move block
            5; off gives them weight 0 in stage 1). Stage 2 (Adam) trains every weight of the head regardless.
        crops: clean near-native crops per image (views ``FIRST_CROP ..``) trained on and averaged, with the
            whole image, at prediction; mirror: also train on the mirrored whole image; average_mirror: also
            average the mirrored whole image at prediction (and so train on it too).
        augment_variants: shortcut-breaking training views cached per training image (:func:`classifier.pipeline.
            augmented_views`: a rescaled near-native crop first, then the whole image, alternately, each with
            :class:`classifier.pipeline.Augment`'s jitter).
        cache: cache blocks 1-4 (fast); ``False`` runs the whole network every step (for comparison).
        patience: early-stopping patience in epochs (on the checkpoint criterion).
        seed: seeds splitting, augmentation, initialisation and shuffling.
    """

    data: Path
    out: Path
    weights: str = BUNDLED
    image_size: int = 224
    epochs: int = 3
    head_epochs: int = 100
    batch_size: int = 32
    learning_rate: float = 1e-5
    head_learning_rate: float = 1e-3
    l2sp: float = 1e-3
    head_solver: HeadSolver = HeadSolver.LOGISTIC
    head_c: tuple[float, ...] = (0.003, 0.01, 0.03, 0.1)
    refit_head: bool = True
    head_block5: bool = True
    head: HeadConfig = field(default_factory=HeadConfig)
    augment: Augment = field(default_factory=Augment)
    crops: int = 8
    mirror: bool = False
    average_mirror: bool = True
    augment_variants: int = 4
    cache: bool = True
    cache_dir: Path | None = None
    patience: int = 1
    seed: int = 0
    fractions: SplitFractions = field(default_factory=SplitFractions)
    progress: bool = True

    def __post_init__(self) -> None:
        if self.image_size < 32 or self.image_size % 32:
            raise UserError(f"image size {self.image_size} must be a multiple of 32 and at least 32")
        if self.epochs < 0 or self.head_epochs < 0 or self.epochs + self.head_epochs == 0:
            raise UserError("epochs must be non-negative and not both zero")
        if self.batch_size < 1:
            raise UserError(f"batch size {self.batch_size} must be positive")
        if not 0 <= self.head.dropout < 1:
            raise UserError(f"dropout {self.head.dropout} must be in [0, 1)")
        if self.augment_variants < 0:
            raise UserError("augment variants must be non-negative")
        if not 0 <= self.crops <= FIRST_AUGMENTED - FIRST_CROP:
            raise UserError(f"crops {self.crops} must be in [0, {FIRST_AUGMENTED - FIRST_CROP}]")
        if self.l2sp < 0:
            raise UserError(f"L2-SP weight {self.l2sp} must be non-negative")
        if not self.head_c or min(self.head_c) <= 0:
            raise UserError(f"head C values {self.head_c} must be positive")

    @property
    def eval_views(self) -> tuple[int, ...]:
        """The clean views a prediction averages: the whole image (and its mirror) and the near-native crops."""
        return clean_views(self.crops, self.average_mirror)

    @property
    def train_views(self) -> tuple[int, ...]:
        """Views stage 1 trains on: the clean views (and the mirror image) plus the augmented ones."""
        mirror = (MIRROR,) if self.mirror and not self.average_mirror else ()
        return (*self.eval_views, *mirror, *augmented_views(self.augment_variants))


@dataclass(frozen=True)
class Block5Change:
    """How far training moved block 5 from the starting backbone (``changed``: the exported backbone differs).

    ``relative_change``: per layer, ``||w - w0|| / ||w0||`` over kernel and bias; ``l2sp_distance``: the
    summed ``(w - w0)^2`` that L2-SP penalises.
    """

    max_weight_change: float
    relative_change: dict[str, float]
    l2sp_distance: float
    changed: bool
    note: str


@dataclass(frozen=True)
class FinetuneOutputs:
    """The exported files: ``classifier`` (``.keras``, VGG input -> P(painting)) and ``backbone`` (``.weights.h5``)."""

    classifier: Path
    backbone: Path


@dataclass(frozen=True)
class FinetuneResult:
    """What a training run returns; ``finetune.json`` is :func:`foundation.records.jsonable` of it.

    Attributes:
        config: the run's :class:`FinetuneConfig` as JSON; weights: description of the starting backbone.
        data: ``source``, ``counts`` per split and class, ``skipped`` images, ``class_weight``, ``cache`` folder.
        history: one row per gradient epoch of ``train_log.csv`` (both stages); stage1_epochs: how many of
            them are stage 1 (0 for the logistic solver); head_fit: the logistic solver's candidates, choice and
            ``work`` (iterations, passes over the features, seconds); head_refit: the same for the refit after
            stage 2 (None without one).
        best: the history row with the best checkpoint criterion; block5: :class:`Block5Change`.
        timings_seconds: ``cache_seconds`` and ``feature_seconds`` (cached runs), ``train_seconds``,
            ``mean_epoch``, ``total``.
        test: :func:`classifier.metrics.binary_metrics` on the test split (None without one).
    """

    config: dict
    weights: str
    data: dict
    history: list[dict]
    stage1_epochs: int
    head_fit: dict | None
    head_refit: dict | None
    best: dict | None
    block5: Block5Change
    timings_seconds: dict[str, float | None]
    test: dict | None
    outputs: FinetuneOutputs


def finetune(config: FinetuneConfig) -> FinetuneResult:
    """Load and check the data of ``config``, train, export; returns the result also written to finetune.json."""
    dataset = load_dataset(config.data, seed=config.seed, fractions=config.fractions)
    return train(dataset, config)


def train(dataset: Dataset, config: FinetuneConfig, callbacks: Sequence = ()) -> FinetuneResult:
    """Train on an already loaded :class:`Dataset` (its ``split`` column decides train/val/test).

    ``callbacks`` are extra Keras callbacks (run after the built-in ones). Rerunning with the same config and
    data after an interruption resumes from the last finished epoch.
    """
    t_start = time.perf_counter()
    rows, labels = _split_rows(dataset)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()
    weights_desc = describe_weights(config.weights)
    trunk, top = _build_parts(config)
    ckpt = out / "checkpoints"
    state = _load_state(ckpt, run_fingerprint(config, dataset.table), out)
    timings: dict[str, float | None] = {}
    block5_start = _block5_weights(top)
    prepare = _CachedInputs if config.cache else _ImageInputs
    inputs = prepare(dataset.table, rows, labels, trunk, top, config, weights_desc, timings)
    fit = _StageFit(balanced_class_weight(labels[rows["train"]]), ckpt, out, config.patience, config.progress,
                    callbacks)
    t0 = time.perf_counter()
    stage1_epochs = _stage1(top, inputs, state, config, fit)
    head_refit = None
    if config.epochs:
        _stage2(top, inputs, stage1_epochs, config, fit, block5_start)
        if config.refit_head and config.head_solver == HeadSolver.LOGISTIC and inputs.vectors is not None:
            head_refit = _refit_head(top, inputs, config, fit)
    timings["train_seconds"] = time.perf_counter() - t0
    history = _read_log(out / "train_log.csv")
    classifier = M.build_classifier(trunk, top, tta=False)
    block5 = _block5_change(block5_start, _block5_weights(top))
    test_metrics = None
    if len(rows["test"]):
        test_metrics = binary_metrics(labels[rows["test"]], inputs.test_prob(classifier, rows["test"]).ravel())
    outputs = _export(classifier, trunk, top, out, state)
    result = FinetuneResult(
        config=config_json(config), weights=weights_desc,
        data={"source": dataset.source, "counts": dataset.counts(), "skipped": dataset.skipped,
              "class_weight": fit.class_weight, "cache": inputs.cache_dir},
        history=history, stage1_epochs=stage1_epochs, head_fit=state.get("head_fit"), head_refit=head_refit,
        best=_best_row(history),
        block5=block5, timings_seconds=_timings(timings, history, t_start), test=test_metrics, outputs=outputs)
    atomic_write_json(out / "finetune.json", jsonable(result))
    log.info("finetune: test accuracy %s, outputs in %s",
             "n/a" if test_metrics is None else f"{test_metrics['accuracy']:.3f}", out)
    return result


def _split_rows(dataset: Dataset) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Return ``({split: row indices}, labels float32)``; a training split of one class or no validation split
    is refused."""
    table = dataset.table
    rows = {s: np.flatnonzero(table["split"].to_numpy() == s) for s in ("train", "val", "test")}
    labels = table["label"].to_numpy().astype(np.float32)
    if len(rows["train"]) == 0 or len(np.unique(labels[rows["train"]])) < 2:
        raise UserError(f"{dataset.source}: the training split needs images of both classes")
    if len(rows["val"]) == 0:
        raise UserError(f"{dataset.source}: the validation split is empty (more images or a val split needed)")
    return rows, labels


def _build_parts(config: FinetuneConfig) -> tuple[keras.Model, keras.Model]:
    """Return the frozen ``trunk`` and the trainable ``top`` (block 5 + head), both from the starting backbone."""
    backbone = load_backbone(config.weights)
    trunk = M.build_trunk(backbone, config.image_size)
    grid = tuple(int(d) for d in trunk.output_shape[0][1:])
    return trunk, M.build_top(backbone, grid, config.head)


def _block5_weights(top: keras.Model) -> list[np.ndarray]:
    return [w.copy() for name in M.BLOCK5_LAYERS for w in top.get_layer(name).get_weights()]


def _block5_change(start: list[np.ndarray], now: list[np.ndarray]) -> Block5Change:
    change = max(float(np.abs(a - b).max()) for a, b in zip(now, start, strict=True))
    relative = {name: float(np.sqrt(sum(np.sum((now[k] - start[k]) ** 2) for k in (2 * i, 2 * i + 1)))
                            / np.sqrt(sum(np.sum(start[k] ** 2) for k in (2 * i, 2 * i + 1))))
                for i, name in enumerate(M.BLOCK5_LAYERS)}
    distance = float(sum(np.sum((a - b) ** 2) for a, b in zip(now, start, strict=True)))
    note = ("block 5 fine-tuned" if change > 0 else
            "block 5 left as in the starting weights: the head alone was kept (the exported backbone equals the "
            "input backbone)")
    return Block5Change(max_weight_change=change, relative_change=relative, l2sp_distance=distance,
                        changed=change > 0, note=note)


@dataclass(frozen=True)
class _Vectors:
    """Head inputs computed once through the frozen network (cached path): training and validation features."""

    train_x: np.ndarray
    train_y: np.ndarray
    val_items: list[tuple[int, int]]
    val_x: np.ndarray
    val_y: np.ndarray


@dataclass(frozen=True)
class _StageData:
    """One stage's model and data: the model fitted, its training and validation datasets, steps per epoch."""

    model: keras.Model
    train: object
    val: object
    steps: int


class _CachedInputs:
    """Training inputs from the on-disk cache of blocks 1-4: stage 1 on feature vectors computed once, stage 2 on
    cached block-4 activations of the augmented views, test predictions averaged over the clean views."""

    def __init__(self, table: pd.DataFrame, rows: dict, labels: np.ndarray, trunk, top, config: FinetuneConfig,
                 weights_desc: str, timings: dict) -> None:
        self.top, self.batch_size, self.views = top, config.batch_size, config.eval_views
        self.cache = FeatureCache(config.cache_dir or Path(config.out) / "cache", trunk, table["path"].tolist(),
                                  config.image_size, config.seed, weights_desc, augment=config.augment)
        self.cache_dir: str | None = str(self.cache.dir)
        t0 = time.perf_counter()
        _fill_cache(self.cache, cache_plan(config, rows["train"], len(table)), config.progress)
        timings["cache_seconds"] = time.perf_counter() - t0
        train_items = self.train_items = [(v, r) for v in config.train_views for r in rows["train"]]
        val_items = [(v, r) for v in config.eval_views for r in rows["val"]]
        train_y, val_y = labels[[r for _, r in train_items]], labels[[r for _, r in val_items]]
        # stage 2 (block 5 at every step, what dominates its time) trains on the shortcut-breaking views (by
        # default four per image: rescaled near-native crops and whole images, jittered), else on all training views
        stage2_items = [(v, r) for v, r in train_items if v >= FIRST_AUGMENTED] or train_items
        stage2_y = labels[[r for _, r in stage2_items]]
        # stage 1 trains the head on feature vectors computed once: block 5 is frozen there, so running it at
        # every step (what dominates an epoch) would only recompute the same numbers
        t0 = time.perf_counter()
        features = M.feature_model(top)
        train_x = self.cache.vectors(features, train_items, config.batch_size)
        val_x = self.cache.vectors(features, val_items, config.batch_size)
        timings["feature_seconds"] = time.perf_counter() - t0
        M.adapt_normalization(top, features=train_x)
        self.vectors: _Vectors | None = _Vectors(train_x, train_y, val_items, val_x, val_y)
        self.stages = {
            1: _StageData(M.head_model(top),
                          _vector_dataset(train_x, train_y, config.batch_size, shuffle=True, seed=config.seed),
                          _vector_dataset(val_x, val_y, config.batch_size),
                          math.ceil(len(train_x) / config.batch_size)),
            2: _StageData(top,
                          self.cache.dataset(stage2_items, stage2_y, config.batch_size, shuffle=True,
                                             seed=config.seed),
                          self.cache.dataset(val_items, val_y, config.batch_size),
                          math.ceil(len(stage2_items) / config.batch_size)),
        }

    def test_prob(self, classifier, test_rows: np.ndarray) -> np.ndarray:
        """Return P(painting) of ``test_rows`` averaged over the clean views, as :func:`classifier.predict.
        predict_paths` computes it with the exported classifier, from the cache."""
        return average_views([self.top.predict(self.cache.dataset([(v, r) for r in test_rows], None, self.batch_size),
                                               verbose=0).ravel() for v in self.views])


class _ImageInputs:
    """Training inputs decoded from the image files every step (the whole network runs; for comparison)."""

    vectors: _Vectors | None = None
    cache_dir: str | None = None

    def __init__(self, table: pd.DataFrame, rows: dict, labels: np.ndarray, trunk, top, config: FinetuneConfig,
                 weights_desc: str, timings: dict) -> None:
        self.paths, self.config = table["path"].to_numpy(), config
        sample = rows["train"][:256]
        b4, tex = trunk.predict(image_dataset(self.paths[sample], config.image_size, config.batch_size), verbose=0)
        M.adapt_normalization(top, b4, tex)
        train_ds = training_image_dataset(self.paths[rows["train"]], labels[rows["train"]], config.image_size,
                                          config.batch_size, config.seed, config.augment)
        val_ds = image_dataset(self.paths[rows["val"]], config.image_size, config.batch_size,
                               labels=labels[rows["val"]])
        fitted = M.build_classifier(trunk, top, tta=False)
        views = len(config.train_views)
        stage = _StageData(fitted, train_ds, val_ds, math.ceil(len(rows["train"]) * views / config.batch_size))
        self.stages = {1: stage, 2: stage}

    def test_prob(self, classifier, test_rows: np.ndarray) -> np.ndarray:
        """Return P(painting) of ``test_rows`` from the exported classifier on the decoded clean views."""
        return predict_paths(classifier, self.paths[test_rows].tolist(), self.config.batch_size,
                             self.config.eval_views)


@dataclass(frozen=True)
class _StageFit:
    """What every gradient stage shares: class weights, where checkpoints and logs go, early stopping."""

    class_weight: dict[int, float] | None
    ckpt: Path
    out: Path
    patience: int
    progress: bool
    extra: Sequence

    def run(self, data: _StageData, *, stage: int, first: int, epochs: int, lr: float) -> None:
        """Compile and fit one stage; epochs are numbered ``first .. first + epochs - 1`` across stages."""
        data.model.compile(optimizer=keras.optimizers.Adam(lr), loss="binary_crossentropy",
                           metrics=[keras.metrics.BinaryAccuracy(name="accuracy"), keras.metrics.AUC(name="auc")])
        best_so_far = _best_row(_read_log(self.out / "train_log.csv"))
        callbacks = [
            keras.callbacks.BackupAndRestore(str(self.ckpt / f"stage{stage}"), delete_checkpoint=True),
            _StageInfo(stage),
            keras.callbacks.ModelCheckpoint(str(self.ckpt / f"best_stage{stage}.weights.h5"), monitor=SELECTION,
                                            mode="max", save_best_only=True, save_weights_only=True,
                                            initial_value_threshold=best_so_far[SELECTION] if best_so_far else None),
            keras.callbacks.EarlyStopping(monitor=SELECTION, mode="max", patience=self.patience),
            keras.callbacks.CSVLogger(str(self.out / "train_log.csv"), append=True),
            *_tensorboard(self.out / "tensorboard" / f"stage{stage}"),
            *self.extra,
        ]
        data.model.fit(data.train, validation_data=data.val, epochs=first + epochs, initial_epoch=first,
                       steps_per_epoch=data.steps, class_weight=self.class_weight, callbacks=callbacks, shuffle=False,
                       verbose=2 if self.progress else 0)


def _stage1(top, inputs, state: dict, config: FinetuneConfig, fit: _StageFit) -> int:
    """Fit the head alone with block 5 frozen (once: a resumed run loads it); returns its gradient epochs."""
    stage1_file = fit.ckpt / "stage1.weights.h5"
    epochs = state.get("stage1_epochs")
    if config.head_epochs and epochs is None:
        M.set_block5_trainable(top, False)
        solver = config.head_solver if inputs.vectors is not None else HeadSolver.ADAM  # logistic needs vectors
        epochs = _STAGE1_SOLVERS[solver](top, inputs, state, config, fit)
        M.save_weights_atomic(top, stage1_file)
        state["stage1_epochs"] = epochs
        _save_state(fit.ckpt, state)
    elif epochs is not None and stage1_file.exists():
        top.load_weights(stage1_file)
    return epochs or 0


def _stage1_logistic(top, inputs, state: dict, config: FinetuneConfig, fit: _StageFit) -> int:
    """Stage 1 as a logistic regression on the cached feature vectors (no gradient epochs: returns 0)."""
    v = inputs.vectors
    # with a block-5 stage after it the head must not see the validation rows: they judge that stage's epochs
    state["head_fit"] = _fit_logistic(top, v.train_x, v.train_y, v.val_items, v.val_x, v.val_y, config.head_c,
                                      fit.class_weight, _head_columns(config), refit_on_val=config.epochs == 0,
                                      progress=config.progress)
    return 0


def _stage1_adam(top, inputs, state: dict, config: FinetuneConfig, fit: _StageFit) -> int:
    """Stage 1 as Adam epochs on the head; keeps the best epoch and returns how many epochs the log holds."""
    fit.run(inputs.stages[1], stage=1, first=0, epochs=config.head_epochs, lr=config.head_learning_rate)
    _load_best(inputs.stages[1].model, fit.ckpt, 1)
    return len(_read_log(fit.out / "train_log.csv"))


def _head_columns(config: FinetuneConfig) -> np.ndarray | None:
    """Return the head-input columns the logistic head may weigh (None: all of them)."""
    if config.head.texture and not config.head_block5:
        return np.arange(M.TEXTURE_DIM)  # the texture vector leads the feature vector
    return None


_STAGE1_SOLVERS = {HeadSolver.LOGISTIC: _stage1_logistic, HeadSolver.ADAM: _stage1_adam}


def _stage2(top, inputs, stage1_epochs: int, config: FinetuneConfig, fit: _StageFit, start: list) -> None:
    """Fine-tune block 5 with the head under L2-SP toward ``start``; keep the best validation epoch (undo it
    when no epoch beat an Adam stage 1 on validation)."""
    M.set_block5_trainable(top, True)
    M.set_l2sp(top, config.l2sp, start)
    fit.run(inputs.stages[2], stage=2, first=stage1_epochs, epochs=config.epochs, lr=config.learning_rate)
    M.set_l2sp(top, 0.0)
    stage1_file = fit.ckpt / "stage1.weights.h5"
    if not _load_best(inputs.stages[2].model, fit.ckpt, 2) and stage1_file.exists():
        top.load_weights(stage1_file)  # block 5 never beat the head alone: undo it


def _refit_head(top, inputs, config: FinetuneConfig, fit: _StageFit) -> dict:
    """Fit the head again as a logistic regression on the fine-tuned block 5's feature vectors (normalisation
    adapted to them); ``C`` chosen on validation, then refitted on training plus validation rows. Deterministic
    and cheap (block 5 on cached activations), so a resumed run simply repeats it."""
    features = M.feature_model(top)
    v = inputs.vectors
    train_x = inputs.cache.vectors(features, inputs.train_items, config.batch_size)
    val_x = inputs.cache.vectors(features, v.val_items, config.batch_size)
    M.adapt_normalization(top, features=train_x)
    return _fit_logistic(top, train_x, v.train_y, v.val_items, val_x, v.val_y, config.head_c, fit.class_weight,
                         _head_columns(config), refit_on_val=True, warm_start=True, progress=config.progress)


def _export(classifier, trunk, top, out: Path, state: dict) -> FinetuneOutputs:
    """Write ``classifier.keras`` and ``backbone.weights.h5``, then mark the run complete."""
    outputs = FinetuneOutputs(classifier=out / "classifier.keras", backbone=out / "backbone.weights.h5")
    M.save_model_atomic(classifier, outputs.classifier)
    M.save_weights_atomic(M.backbone_from(trunk, top), outputs.backbone)
    state["complete"] = True
    _save_state(out / "checkpoints", state)
    return outputs


def _timings(timings: dict, history: list[dict], t_start: float) -> dict[str, float | None]:
    epoch_seconds = [h["epoch_seconds"] for h in history if "epoch_seconds" in h]
    return {**timings, "mean_epoch": float(np.mean(epoch_seconds)) if epoch_seconds else None,
            "total": time.perf_counter() - t_start}


def _fit_logistic(top, train_x: np.ndarray, train_y: np.ndarray, val_items, val_x: np.ndarray,
                  val_y: np.ndarray, cs: Sequence[float], class_weight, columns: np.ndarray | None = None,
                  refit_on_val: bool = True, warm_start: bool = False, progress: bool = False) -> dict:
    """Fit the head as an L2 logistic regression on normalised features; set ``top``'s dense layer to it.

    Every ``C`` in ``cs`` is fitted on the training rows (all at once, :func:`classifier.logistic.fit_l2_logistic`:
    scikit-learn's objective and stopping rule, each read of the rows shared by every ``C``); the one with the best
    validation AUC (of the views' average per image, :func:`_average_per_image`), then lowest validation log-loss,
    is kept, or with ``refit_on_val`` refitted on training plus validation rows, starting from its training fit
    (the validation set only picks ``C``; the test split is never seen). ``columns`` (default: all) are the
    features the regression may use; the others get weight 0. ``warm_start`` starts every ``C`` from ``top``'s
    current head (the same optimum, reached sooner when the head is already close); ``progress`` shows a bar of
    the solver's iterations. Returns the candidates' scores and the solver's work.
    """
    norm = top.get_layer("feature_norm")
    columns = np.arange(train_x.shape[1]) if columns is None else np.asarray(columns)
    xt = np.asarray(norm(np.asarray(train_x, np.float32)))[:, columns]
    xv = np.asarray(norm(np.asarray(val_x, np.float32)))[:, columns]
    init = _head_as_fit(top, columns) if warm_start else None
    t0 = time.perf_counter()
    with _solver_bar(f"logistic head, {len(cs)} C", progress) as bar:
        path = fit_l2_logistic(xt, train_y, cs, sample_weights(train_y, class_weight), init=init, progress=bar)
    solver = {"iterations": path.n_iter, "passes": path.passes, "converged": path.converged,
              "seconds": time.perf_counter() - t0, "warm_start": warm_start}
    candidates, chosen = _choose_c(path, xt, train_y, xv, val_items, val_y)
    fit = path.select(chosen["C"])
    if refit_on_val:
        fit, solver["refit"] = _refit_logistic(xt, train_y, xv, val_y, chosen["C"], fit, class_weight, progress)
    if not path.converged or not fit.converged:
        log.warning("logistic head: the solver stopped before every gradient entry reached its tolerance")
    kernel = np.zeros((train_x.shape[1], 1), np.float32)
    kernel[columns, 0] = fit.coef[0]
    top.get_layer("painting").set_weights([kernel, fit.intercept.astype(np.float32)])
    refit_on = "train+val" if refit_on_val else "train"
    log.info("logistic head: C=%g (validation AUC %s), fitted on %s", chosen["C"], chosen["val_auc"], refit_on)
    return {"solver": HeadSolver.LOGISTIC.value, "chosen": chosen, "candidates": candidates,
            "features_used": int(len(columns)), "features_total": int(train_x.shape[1]), "refit_on": refit_on,
            "work": solver}


def _choose_c(path: LogisticFit, xt: np.ndarray, train_y: np.ndarray, xv: np.ndarray, val_items,
              val_y: np.ndarray) -> tuple[list[dict], dict]:
    """Score every ``C`` of ``path`` and return ``(candidates, chosen)``: one row per ``C`` (training log-loss;
    validation log-loss, AUC and accuracy of the views' average per image) and the row of the best validation AUC,
    then lowest validation log-loss. ``xt (n, d)`` / ``xv (m, d)``: normalised training / validation rows;
    ``val_items``: each validation row's ``(view, image)``; ``train_y (n,)``, ``val_y (m,)`` in {0, 1}."""
    image_of = np.array([r for _, r in val_items])
    images, inverse = np.unique(image_of, return_inverse=True)
    y_img = np.zeros(len(images))
    y_img[inverse] = val_y
    train_p, val_p = path.proba(xt), path.proba(xv)
    candidates, best = [], None
    for j, c in enumerate(path.cs):
        p = _average_per_image(inverse, val_p[:, j])
        row = {"C": c, "train_log_loss": float(log_loss(train_y, train_p[:, j], labels=[0, 1])),
               "val_log_loss": float(log_loss(y_img, p, labels=[0, 1])),
               "val_auc": float(roc_auc_score(y_img, p)) if len(np.unique(y_img)) == 2 else None,
               "val_accuracy": float(((p >= 0.5) == y_img).mean())}
        candidates.append(row)
        # AUCs equal up to the order of summation are a tie: log-loss decides it
        key = (round(row["val_auc"] or 0.0, 9), -row["val_log_loss"])
        if best is None or key > best[0]:
            best = (key, row)
    return candidates, best[1]


def _refit_logistic(xt: np.ndarray, train_y: np.ndarray, xv: np.ndarray, val_y: np.ndarray, c: float,
                    init: LogisticFit, class_weight, progress: bool) -> tuple[LogisticFit, dict]:
    """Fit ``C = c`` again on training plus validation rows (``xt (n, d)`` then ``xv (m, d)``), starting from
    ``init`` (its training fit); return the one-row fit and the solver's work."""
    y_all = np.concatenate([train_y, val_y])
    t0 = time.perf_counter()
    with _solver_bar(f"logistic head, C={c:g} on train+val", progress) as bar:
        fit = fit_l2_logistic(np.concatenate([xt, xv]), y_all, [c], sample_weights(y_all, class_weight),
                              init=init, progress=bar)
    return fit, {"iterations": fit.n_iter, "passes": fit.passes, "converged": fit.converged,
                 "seconds": time.perf_counter() - t0}


@contextmanager
def _solver_bar(desc: str, enabled: bool, tol: float = TOL):
    """Yield a progress callback for :func:`classifier.logistic.fit_l2_logistic`: a tqdm bar of iterations whose
    postfix shows how many ``C`` are still running and the largest gradient entry against ``tol``."""
    with tqdm(desc=desc, unit="it", disable=not enabled) as bar:
        def update(worst: np.ndarray) -> None:
            bar.update(1)
            bar.set_postfix(running=int((worst > tol).sum()), max_grad=f"{worst.max():.2e}", tol=f"{tol:g}",
                            refresh=False)
        yield update


def _head_as_fit(top, columns: np.ndarray) -> LogisticFit:
    """Return ``top``'s current head (its weights on ``columns``) as a one-row :class:`LogisticFit`."""
    kernel, bias = top.get_layer("painting").get_weights()
    return LogisticFit((1.0,), kernel[columns, 0][None].astype(np.float64), bias.astype(np.float64), 0, 0, True)


def _average_per_image(image: np.ndarray, prob: np.ndarray) -> np.ndarray:
    """Return P(painting) per image from per-view ``prob`` (``image``: each row's image, ``0..n-1``), averaged
    as :func:`classifier.predict.average_views` does (mean log-odds)."""
    return from_log_odds(np.bincount(image, log_odds(prob)) / np.bincount(image))


def _vector_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, shuffle: bool = False, seed: int = 0):
    """Return a ``tf.data.Dataset`` of ``(features, label)`` batches from in-memory arrays."""
    ds = tf.data.Dataset.from_tensor_slices((np.asarray(x, np.float32), np.asarray(y, np.float32)))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(2)


def _load_best(model, ckpt: Path, stage: int) -> bool:
    """Load the stage's best checkpoint into ``model`` if that stage saved one; returns whether it did."""
    best = ckpt / f"best_stage{stage}.weights.h5"
    if best.exists():
        model.load_weights(best)
    return best.exists()


def cache_plan(config: FinetuneConfig, train_rows: np.ndarray, n_images: int) -> dict[int, np.ndarray]:
    """Return the cache rows the recipe needs, ``{view: row indices}``: every training view (``config.
    train_views``) of ``train_rows`` and every clean view (``config.eval_views``) of all ``n_images`` rows."""
    return {**{v: np.asarray(train_rows) for v in config.train_views},
            **{v: np.arange(n_images) for v in config.eval_views}}


def _fill_cache(cache: FeatureCache, needed: dict[int, np.ndarray], progress: bool) -> None:
    """Compute the cache rows ``{view: row indices}`` that are missing, under one progress bar."""
    missing = {v: int((~cache.done(v)[idx]).sum()) for v, idx in needed.items()}
    total = sum(missing.values())
    if total == 0:
        return
    with tqdm(total=total, desc="caching blocks 1-4", unit="img", disable=not progress) as bar:
        for variant, idx in needed.items():
            cache.ensure(variant, idx, progress=bar.update)


def _tensorboard(log_dir: Path) -> list:
    """Return ``[TensorBoard callback]``, or ``[]`` with a warning when the tensorboard package is missing."""
    if importlib.util.find_spec("tensorboard") is None:
        log.warning("tensorboard is not installed: no TensorBoard logs (pip install tensorboard)")
        return []
    return [keras.callbacks.TensorBoard(str(log_dir), write_graph=False)]


class _StageInfo(keras.callbacks.Callback):
    """Adds ``stage``, ``epoch_seconds`` and the checkpoint criterion to the epoch logs (before CSVLogger)."""

    def __init__(self, stage: int):
        super().__init__()
        self.stage = stage
        self._t0 = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        logs["stage"] = self.stage
        logs["epoch_seconds"] = time.perf_counter() - self._t0
        if "val_auc" in logs and "val_loss" in logs:
            logs[SELECTION] = float(logs["val_auc"]) - TIE_BREAK * min(float(logs["val_loss"]), 10.0)


def balanced_class_weight(train_labels: np.ndarray) -> dict[int, float] | None:
    """Return balanced class weights when the training labels are imbalanced (minority below 45 %), else None."""
    counts = np.bincount(train_labels.astype(int), minlength=2)
    if counts.min() / counts.sum() >= 0.45:
        return None
    return {c: float(counts.sum() / (2 * counts[c])) for c in (0, 1)}


def _read_log(path: Path) -> list[dict]:
    if not path.exists() or path.stat().st_size == 0:
        return []
    return pd.read_csv(path).to_dict("records")


def _best_row(history: list[dict]) -> dict | None:
    rows = [h for h in history if SELECTION in h and not pd.isna(h[SELECTION])]
    return max(rows, key=lambda h: h[SELECTION]) if rows else None


def run_fingerprint(config: FinetuneConfig, table: pd.DataFrame) -> str:
    """Return the resume key of a run: every option but ``progress``, and the table's paths, labels and splits."""
    return fingerprint([config_json(config, exclude=("progress",)), table[["path", "label", "split"]].to_numpy()])


def _load_state(ckpt: Path, fingerprint: str, out: Path) -> dict:
    """Return the resume state; a different config/data or a finished run starts over (old logs removed)."""
    path = ckpt / "state.json"
    state = json.loads(path.read_text()) if path.exists() else {}
    if state.get("fingerprint") == fingerprint and not state.get("complete"):
        log.info("resuming training from %s", ckpt)
        return state
    shutil.rmtree(ckpt, ignore_errors=True)
    shutil.rmtree(out / "tensorboard", ignore_errors=True)
    (out / "train_log.csv").unlink(missing_ok=True)
    state = {"fingerprint": fingerprint, "stage1_epochs": None, "complete": False}
    _save_state(ckpt, state)
    return state


def _save_state(ckpt: Path, state: dict) -> None:
    atomic_write_json(ckpt / "state.json", state)


__all__ = ["CLASS_NAMES", "Block5Change", "FinetuneConfig", "FinetuneOutputs", "FinetuneResult", "HeadSolver",
           "balanced_class_weight", "cache_plan", "finetune", "run_fingerprint", "train"]
