"""Training a fast style network: ``train_style(TrainConfig) -> TrainResult``.

One run lives in a work directory (default ``OUT.train/`` beside the output ``.keras``):

- ``checkpoints/ckpt-N.*`` — network + optimiser + step (``tf.train.CheckpointManager``); a rerun of the same
  command resumes from the newest one. ``checkpoints/ckpt-N.json`` beside each holds the options and the loss
  history up to step N.
- ``logs/`` — TensorBoard scalars (every loss part, steps/s); ``previews/step_NNNNNN.png`` — fixed test frames
  stylised every ``preview_every`` steps (originals on the top row).

At the end the network is exported (float32 variables, precision chosen at load) to ``config.output`` and a
JSON report is written beside it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import keras
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from foundation.atomic import atomic_write_json
from foundation.errors import UserError
from foundation.records import config_json, jsonable
from media.image_io import read_image, resize_to_width, write_image
from transfer import losses
from transfer.backbone import BUNDLED, describe_weights, load_backbone
from transfer.fast.data import PairOptions, find_sources, pair_dataset, video_pairs
from transfer.fast.losses import PARTS, TEMPORAL_WEIGHT, FastLossWeights, PerceptualTarget, pair_losses
from transfer.fast.network import NetworkSpec, Preset, build_network, save_network, with_precision
from transfer.features import CONTENT_LAYER, DEFAULT_PRECISION, STYLE_LAYERS, FeatureExtractor, Precision, preprocess
from transfer.resume import checkpoint_json, refuse_other_options
from transfer.seeding import seed_everything
from transfer.tensorboard import scalar


@dataclass(frozen=True)
class TrainConfig:
    """Everything one training run needs.

    Attributes:
        style: the style painting; output: the ``.keras`` file to export.
        content: folders/files of images and videos to train on.
        workdir: checkpoints, logs and previews (default ``OUTPUT.train/``).
        network: the network's shape (``NetworkSpec.preset("slim")`` for CPUs).
        loss: term weights; ``loss.temporal = 0`` trains the non-temporal baseline of the ablation.
        weights: VGG16 backbone of the loss (``bundled``, ``imagenet`` or a path).
        precision: compute dtype of network and VGG during training (default
            :data:`transfer.features.DEFAULT_PRECISION`: ``bfloat16`` on CPUs with AVX-512 BF16 or AMX, else
            ``float32``).
        pairs: crop size, motion ranges, real video pairs.
        style_size: width the style image is resized to before its Gram matrices are taken.
        batch_size: pairs per step (each pair is two images).
        steps, learning_rate: Adam schedule (constant rate).
        checkpoint_every, preview_every, log_every: in steps.
    """

    style: Path
    output: Path
    content: tuple[Path, ...]
    workdir: Path | None = None
    network: NetworkSpec = field(default_factory=lambda: NetworkSpec.preset(Preset.SLIM))
    loss: FastLossWeights = field(default_factory=lambda: FastLossWeights(temporal=TEMPORAL_WEIGHT))
    weights: str = BUNDLED
    precision: Precision = DEFAULT_PRECISION
    pairs: PairOptions = field(default_factory=PairOptions)
    style_size: int = 256
    content_layer: str = CONTENT_LAYER
    style_layers: tuple[str, ...] = STYLE_LAYERS
    style_layer_weights: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 1.0)
    batch_size: int = 2
    steps: int = 1200
    learning_rate: float = 1e-3
    checkpoint_every: int = 200
    preview_every: int = 200
    log_every: int = 10
    preview_frames: int = 4
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        if Path(self.output).suffix != ".keras":
            raise UserError(f"{self.output}: the model must be saved as a .keras file")
        if self.pairs.size % self.network.stride:
            raise UserError(f"training size {self.pairs.size} must be a multiple of {self.network.stride}")
        if self.steps < 1 or self.batch_size < 1 or self.learning_rate <= 0:
            raise UserError("steps and batch size must be >= 1 and the learning rate > 0")
        if len(self.style_layer_weights) != len(self.style_layers):
            raise UserError("give one style layer weight per style layer")
        if not self.content:
            raise UserError("give --content: image folders, images or videos to train on")

    @property
    def resolved_workdir(self) -> Path:
        return Path(self.workdir) if self.workdir else Path(self.output).with_suffix(".train")

    @classmethod
    def quick(cls, style: Path, output: Path, content: tuple[Path, ...], **overrides) -> TrainConfig:
        """Return the ``FAST=1`` configuration: a narrow slim network on 128 px crops, a few minutes on 2 cores."""
        base = cls(
            style=style, output=output, content=content,
            network=NetworkSpec.preset(Preset.SLIM, width=0.5),
            pairs=PairOptions(size=128, video_pairs=24),
            style_size=128, batch_size=2, steps=300, learning_rate=3e-3,
            checkpoint_every=100, preview_every=100,
        )
        return replace(base, **overrides)


@dataclass(frozen=True)
class ContentCounts:
    """What the run trained on: content ``images``, ``videos`` and the real ``video_pairs`` taken from them."""

    images: int
    videos: int
    video_pairs: int


@dataclass(frozen=True)
class TrainTimings:
    """Seconds of the run: ``setup`` (data, networks, checkpoint restore), ``train`` (steps and export), ``total``."""

    setup: float
    train: float
    total: float


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train_style` returns; the JSON beside the model is :func:`foundation.records.jsonable` of it.

    Attributes:
        output: the exported ``.keras``; options: the :class:`TrainConfig` as JSON; weights_used: the loss's VGG.
        parameters: trainable and other weights of the network; resumed_from_step: 0 for a fresh run.
        final_losses / history: the last / every logged row (``step``, mean ``total`` and each loss part over the
            logging interval, ``steps_per_second``).
    """

    output: Path
    options: dict
    weights_used: str
    content: ContentCounts
    parameters: int
    resumed_from_step: int
    steps: int
    timings_seconds: TrainTimings
    final_losses: dict[str, float]
    history: list[dict]


@dataclass
class _Checkpoints:
    """The restorable training state: optimiser, step counter, checkpoint manager and the loss history so far."""

    optimizer: keras.optimizers.Optimizer
    step: tf.Variable
    manager: tf.train.CheckpointManager
    history: list[dict]


def train_style(config: TrainConfig) -> TrainResult:
    """Train (or resume training) the network of ``config``; export it and return the result (also as JSON)."""
    started = time.perf_counter()
    style = read_image(config.style)
    sources = find_sources(config.content)
    seed_everything(config.seed)
    workdir = config.resolved_workdir
    workdir.mkdir(parents=True, exist_ok=True)

    net = build_network(config.network, config.precision, seed=config.seed)
    extractor, grams = _loss_network(config, style)
    real = video_pairs(sources.videos, config.pairs.video_pairs, config.pairs.size, config.pairs.flow_method,
                       config.seed)
    if not sources.images and not real:
        raise UserError("content videos gave no frame pairs (need at least 2 frames each)")
    dataset = pair_dataset(sources, config.pairs, config.batch_size, real)
    preview_batch = _preview_frames(sources, config, real)
    state = _restore(net, config, workdir)
    resumed_from = int(state.step.numpy())
    setup_seconds = time.perf_counter() - started

    layer_weights = dict(zip(config.style_layers, config.style_layer_weights, strict=True))
    target = PerceptualTarget(extractor, grams, config.content_layer, layer_weights)
    train_step = _make_train_step(net, state.optimizer, target, config.loss)
    loop_started = _train_loop(config, net, train_step, dataset, state, preview_batch, workdir)

    save_network(with_precision(net, "float32"), config.output)
    finished = time.perf_counter()
    result = TrainResult(
        output=Path(config.output), options=config_json(config), weights_used=describe_weights(config.weights),
        content=ContentCounts(images=len(sources.images), videos=len(sources.videos), video_pairs=len(real)),
        parameters=int(net.count_params()), resumed_from_step=resumed_from, steps=config.steps,
        timings_seconds=TrainTimings(setup=setup_seconds, train=finished - loop_started, total=finished - started),
        final_losses=state.history[-1] if state.history else {}, history=state.history,
    )
    atomic_write_json(Path(config.output).with_suffix(".json"), jsonable(result))
    return result


def _restore(net, config: TrainConfig, workdir: Path) -> _Checkpoints:
    """Return the training state, restored from the newest checkpoint of ``workdir`` when there is one.

    Raises:
        UserError: the checkpoints were trained with other options (see :func:`_check_resume`).
    """
    optimizer = keras.optimizers.Adam(config.learning_rate)
    optimizer.build(net.trainable_variables)
    step = tf.Variable(0, dtype=tf.int64, name="step")
    ckpt = tf.train.Checkpoint(net=net, optimizer=optimizer, step=step)
    manager = tf.train.CheckpointManager(ckpt, workdir / "checkpoints", max_to_keep=3)
    history: list[dict] = []
    if manager.latest_checkpoint:
        saved = checkpoint_json(manager.latest_checkpoint)
        _check_resume(saved.get("options"), config)
        ckpt.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        history = list(saved.get("history", []))
    return _Checkpoints(optimizer, step, manager, history)


def _train_loop(config: TrainConfig, net, train_step, dataset, state: _Checkpoints, preview_batch: np.ndarray,
                workdir: Path) -> float:
    """Run the steps left up to ``config.steps``: log means every ``log_every`` steps, write previews and
    checkpoints on their schedules. Appends to ``state.history``; returns when the loop started."""
    resumed_from = int(state.step.numpy())
    writer = tf.summary.create_file_writer(str(workdir / "logs"))
    bar = tqdm(total=config.steps, initial=resumed_from, desc=f"train {Path(config.style).name}",
               disable=not config.progress, unit="step", dynamic_ncols=True)
    loop_started = time.perf_counter()
    batches = iter(dataset)
    running: dict[str, list[float]] = {}
    while int(state.step.numpy()) < config.steps:
        prev, cur, flow, cert = next(batches)
        total, parts = train_step(prev, cur, flow, cert)
        state.step.assign_add(1)
        n = int(state.step.numpy())
        for k, v in {"total": float(total), **{k: float(v) for k, v in parts.items()}}.items():
            running.setdefault(k, []).append(v)
        bar.update(1)
        last = n == config.steps
        if n % config.log_every == 0 or last:
            rate = (n - resumed_from) / max(time.perf_counter() - loop_started, 1e-9)
            _log_interval(state.history, running, n, rate, writer, bar)
            running = {}
        if n % config.preview_every == 0 or last:
            _write_preview(net, preview_batch, workdir / "previews" / f"step_{n:06d}.png")
        if n % config.checkpoint_every == 0 or last:
            path = state.manager.save(checkpoint_number=n)
            atomic_write_json(f"{path}.json", {"step": n, "options": config_json(config), "history": state.history})
    bar.close()
    writer.flush()
    return loop_started


def _log_interval(history: list[dict], running: dict[str, list[float]], n: int, rate: float, writer, bar) -> None:
    """Append the interval's mean losses (and ``rate`` steps/s) to ``history``, TensorBoard and the bar."""
    mean = {k: float(np.mean(v)) for k, v in running.items()}
    history.append({"step": n, **mean, "steps_per_second": rate})
    with writer.as_default(step=n):
        for k, v in mean.items():
            scalar(f"loss/{k}", v, n)
        scalar("steps_per_second", rate, n)
    bar.set_postfix(loss=f"{mean['total']:.4g}", style=f"{mean['style']:.3g}", temporal=f"{mean['temporal']:.3g}")


def _loss_network(config: TrainConfig, style: np.ndarray):
    """Return the VGG feature extractor of the loss and the style's target Gram matrices (float32)."""
    backbone = load_backbone(config.weights)
    layers = (config.content_layer, *config.style_layers)
    exact = FeatureExtractor(backbone, layers, Precision.FLOAT32)
    feats = exact(tf.constant(preprocess(resize_to_width(style, config.style_size))))
    grams = {name: losses.gram_matrix(feats[name]) for name in config.style_layers}
    extractor = exact if config.precision is Precision.FLOAT32 else FeatureExtractor(backbone, layers, config.precision)
    return extractor, grams


def _make_train_step(net, optimizer, target: PerceptualTarget, weights: FastLossWeights):
    """Return the compiled step ``(prev, cur, flow, cert) -> (total, parts)`` that also applies Adam's update."""

    @tf.function(reduce_retracing=True)
    def train_step(prev, cur, flow, cert):
        with tf.GradientTape() as tape:
            total, parts = pair_losses(net, prev, cur, flow, cert, target, weights)
        variables = net.trainable_variables
        gradients = tape.gradient(total, variables)
        optimizer.apply_gradients(zip(gradients, variables, strict=True))
        return total, parts

    return train_step


def _preview_frames(sources, config: TrainConfig, real) -> np.ndarray:
    """Return fixed (N, S, S, 3) float32 test frames: centre crops of the first images, else video frames."""
    s = config.pairs.size
    frames = []
    for path in sources.images[: config.preview_frames]:
        try:
            image = read_image(path)
        except UserError:
            continue
        h, w = image.shape[:2]
        scale = s / min(h, w)
        image = cv2.resize(image, (max(s, round(w * scale)), max(s, round(h * scale))), interpolation=cv2.INTER_AREA)
        y, x = (image.shape[0] - s) // 2, (image.shape[1] - s) // 2
        frames.append(image[y : y + s, x : x + s].astype(np.float32))
    for pair in real[: max(0, config.preview_frames - len(frames))]:
        frames.append(pair[1])
    return np.stack(frames) if frames else np.zeros((0, s, s, 3), np.float32)


def _write_preview(net, frames: np.ndarray, path: Path) -> None:
    """Write originals (top row) above their stylisation (bottom row) as one PNG."""
    if not len(frames):
        return
    out = np.asarray(net(frames))
    top = np.concatenate(list(frames), axis=1)
    bottom = np.concatenate(list(out), axis=1)
    write_image(path, np.clip(np.rint(np.concatenate([top, bottom], axis=0)), 0, 255).astype(np.uint8))


#: Options that may change between a run and its resumption (more steps continue training).
_RESUMABLE_CHANGES = ("steps", "checkpoint_every", "preview_every", "log_every", "progress", "workdir", "output")


def _comparable_options(options: dict) -> dict:
    out = {k: v for k, v in options.items() if k not in _RESUMABLE_CHANGES}
    out["style"] = str(Path(out["style"]).resolve())
    out["content"] = sorted(str(Path(c).resolve()) for c in out["content"])
    return out


def _check_resume(saved_options: dict | None, config: TrainConfig) -> None:
    """Refuse to resume checkpoints that were trained with other options (style, content, losses, network...),
    comparing paths resolved.

    Raises:
        UserError: naming the work directory and the options that differ.
    """
    if saved_options:
        refuse_other_options(_comparable_options(saved_options), _comparable_options(config_json(config)),
                             config.resolved_workdir)


__all__ = ["PARTS", "ContentCounts", "TrainConfig", "TrainResult", "TrainTimings", "train_style"]
