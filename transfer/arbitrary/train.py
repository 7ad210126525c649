"""Training the arbitrary-style decoder: ``train_arbitrary(ArbitraryConfig) -> ArbitraryResult``.

Each step takes a batch of frame pairs (:mod:`transfer.fast.data`: still images moved by an exact synthetic
motion, and real consecutive video frames with estimated flow) and gives each pair one random training painting.
The terms: content (the output's encoder features against the transformed target features), the Gram style term
over Gatys et al.'s layers against that painting, total variation, the temporal term on the stylised pair
(``c * (out_t - warp(out_{t-1}))^2``, so stability is learnt, not only filtered at inference), and reconstruction
(the frame passed through at strength 0 must come back unchanged, ``mean (out - frame)^2``). The weights depend
on the design (:meth:`ArbitraryLossWeights.for_transform`): the ``wct`` decoder learns to reconstruct (content,
reconstruction, temporal; no style term, the transform carries the style), the ``adain`` one to paint (style).

A fifth of the paintings (by artwork, :mod:`transfer.arbitrary.paintings`) is never trained on; every
``eval_every`` steps the losses on fixed content crops are logged for held-out and for training paintings side by
side, so generalisation is measured, not assumed.

Work directory (default ``OUTPUT.train/``): ``checkpoints/`` (decoder + optimiser + step, resumed by a rerun of the
same command; ``ckpt-N.json`` beside each holds the options and histories), ``logs/`` (TensorBoard),
``previews/step_NNNNNN.png`` (content crops, top row, under held-out paintings). At the end the decoder is
written to ``OUTPUT`` (``.npz``) and a JSON record beside it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from foundation.atomic import atomic_write_json
from foundation.errors import UserError
from foundation.records import config_json, jsonable
from media.image_io import read_image, resize_to_width, write_image
from transfer import losses
from transfer.arbitrary.network import ArbitraryNet, ArbitrarySpec, build_arbitrary, design_spec, save_arbitrary
from transfer.arbitrary.paintings import PaintingSplit, find_paintings, split_paintings
from transfer.arbitrary.statistics import StyleCode, stack
from transfer.backbone import BUNDLED, describe_weights, load_backbone
from transfer.fast.data import PairOptions, find_sources, pair_dataset, video_pairs
from transfer.fast.losses import temporal_output_loss, to_vgg
from transfer.features import DEFAULT_PRECISION, STYLE_LAYERS, FeatureExtractor, Precision, preprocess
from transfer.resume import checkpoint_json, refuse_other_options
from transfer.seeding import seed_everything
from transfer.tensorboard import scalar

PARTS = ("content", "style", "tv", "temporal", "reconstruction")


@dataclass(frozen=True)
class ArbitraryLossWeights:
    """Weights of the training terms (0 switches one off; ``temporal = 0`` is the ablation without it).

    The defaults are the ``adain`` design's; :meth:`for_transform` gives each design's. Units: content is the mean
    squared encoder feature error, temporal and reconstruction mean squared pixel errors on [0, 255].
    """

    content: float = 1.0
    style: float = 10.0
    tv: float = 1e-4
    temporal: float = 5.0
    reconstruction: float = 0.0

    @classmethod
    def for_transform(cls, transform: str) -> ArbitraryLossWeights:
        """Return the default weights of the ``wct`` or ``adain`` design (see the module docstring)."""
        if transform == "wct":
            # temporal 0.01 (24d9861) was about 0.2 % of the total, and the decoder learnt no steadiness from it
            return cls(content=1.0, style=0.0, tv=0.0, temporal=1.0, reconstruction=0.01)
        return cls()


@dataclass(frozen=True)
class ArbitraryConfig:
    """Everything one training run needs.

    Attributes:
        paintings: folders/files of paintings (a ``heldout_fraction`` of the artworks is never trained on).
        content: folders/files of photographs and videos (frames of the videos give the real pairs).
        output: the ``.npz`` weights file; workdir: checkpoints, logs, previews (default ``OUTPUT.train/``).
        network: the network's shape; loss: the terms' weights (``None``: the network's design's defaults);
            weights: the VGG16 backbone (encoder and loss), ``bundled``/``imagenet``/path.
        precision: compute dtype of encoder, decoder and loss VGG (default :data:`transfer.features.DEFAULT_PRECISION`:
            ``bfloat16`` on CPUs with AVX-512 BF16 or AMX, else ``float32``).
        pairs: crop size, motion ranges, real video pairs; batch_size: pairs per step (each pair is two images).
        steps, learning_rate: Adam with cosine decay to ``learning_rate / 10`` over ``steps``.
        eval_paintings: held-out (and as many training) paintings of the periodic evaluation.
    """

    paintings: tuple[Path, ...]
    content: tuple[Path, ...]
    output: Path
    workdir: Path | None = None
    network: ArbitrarySpec = field(default_factory=ArbitrarySpec)
    loss: ArbitraryLossWeights | None = None
    weights: str = BUNDLED
    precision: Precision = DEFAULT_PRECISION
    pairs: PairOptions = field(default_factory=lambda: PairOptions(size=128, video_pairs=300))
    style_layers: tuple[str, ...] = STYLE_LAYERS
    heldout_fraction: float = 0.2
    batch_size: int = 4
    steps: int = 6000
    learning_rate: float = 1e-3
    checkpoint_every: int = 250
    preview_every: int = 500
    eval_every: int = 250
    log_every: int = 25
    eval_paintings: int = 8
    max_paintings: int | None = None
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        if self.loss is None:
            object.__setattr__(self, "loss", ArbitraryLossWeights.for_transform(self.network.transform))
        if Path(self.output).suffix != ".npz":
            raise UserError(f"{self.output}: arbitrary-style weights are saved as a .npz file")
        if self.pairs.size % self.network.stride:
            raise UserError(f"training size {self.pairs.size} must be a multiple of {self.network.stride}")
        if self.steps < 1 or self.batch_size < 1 or self.learning_rate <= 0:
            raise UserError("steps and batch size must be >= 1 and the learning rate > 0")
        if not self.content:
            raise UserError("give --content: image folders, images or videos to train on")
        if not self.paintings:
            raise UserError("give --paintings: folders or files of paintings to train on")

    @property
    def resolved_workdir(self) -> Path:
        return Path(self.workdir) if self.workdir else Path(self.output).with_suffix(".train")

    @classmethod
    def quick(cls, paintings, content, output, transform: str = "wct", **overrides) -> ArbitraryConfig:
        """Return the ``FAST=1`` recipe: a narrow decoder on 64 px crops and 24 paintings, a few minutes."""
        base = cls(paintings=tuple(paintings), content=tuple(content), output=Path(output),
                   network=design_spec(transform, channels=(32, 16, 8), style_size=128),
                   pairs=PairOptions(size=64, video_pairs=16), batch_size=2, steps=120, learning_rate=3e-3,
                   checkpoint_every=40, preview_every=60, eval_every=40, log_every=10, eval_paintings=2,
                   max_paintings=24)
        return replace(base, **overrides)


@dataclass(frozen=True)
class PaintingCounts:
    """How many paintings trained and were held out, and the held-out ones evaluated."""

    train: int
    heldout: int
    evaluated: int


@dataclass(frozen=True)
class ArbitraryResult:
    """What :func:`train_arbitrary` returns; the JSON beside the weights is ``jsonable`` of it.

    Attributes:
        history: every logged row (step, mean total and parts, steps/s); evaluation: every periodic row with
            ``heldout_*`` and ``train_*`` losses (unweighted) on the same content crops.
    """

    output: Path
    options: dict
    weights_used: str
    paintings: PaintingCounts
    heldout_files: list[str]
    parameters: int
    resumed_from_step: int
    steps: int
    seconds: dict[str, float]
    final_losses: dict[str, float]
    final_evaluation: dict[str, float]
    history: list[dict]
    evaluation: list[dict]


@dataclass
class StyleBank:
    """Per-painting targets held as variables (kept out of the graph): style codes and Gram matrices.

    ``codes``: the :class:`StyleCode` fields stacked, ``mean``/``std`` (N, 1, 1, C) and with ``wct`` the
    covariances (N, C_e, C_e) and (N, 3, 3); ``grams[layer]``: (N, C_l, C_l) float32.
    """

    codes: dict[str, tf.Variable]
    grams: dict[str, tf.Variable]

    @property
    def size(self) -> int:
        return int(self.codes["mean"].shape[0])

    def take(self, index: tf.Tensor) -> tuple[StyleCode, dict[str, tf.Tensor]]:
        """Return the codes and Gram targets of paintings ``index`` (B,) int32."""
        code = StyleCode(**{name: tf.gather(v, index) for name, v in self.codes.items()})
        return code, {name: tf.gather(g, index) for name, g in self.grams.items()}


def build_bank(net: ArbitraryNet, gram_net: FeatureExtractor, files, style_layers, progress: bool,
               label: str) -> StyleBank:
    """Return the :class:`StyleBank` of ``files`` (each read, resized to the spec's style size, encoded once).

    Raises:
        UserError: no painting could be read.
    """
    codes, grams = [], {name: [] for name in style_layers}
    for path in tqdm(files, desc=f"paintings ({label})", disable=not progress, unit="img", dynamic_ncols=True):
        try:
            image = read_image(path)
            code = net.style_code(image)
        except UserError as exc:
            print(f"paintvid: skipping {exc}")
            continue
        feats = gram_net(tf.constant(preprocess(resize_to_width(image, net.spec.style_size))))
        codes.append(code)
        for name in style_layers:
            grams[name].append(losses.gram_matrix(feats[name])[0])
    if not codes:
        raise UserError(f"none of the {len(files)} {label} paintings could be read")
    return StyleBank({name: tf.Variable(v, trainable=False) for name, v in stack(codes).fields().items()},
                     {name: tf.Variable(tf.stack(g), trainable=False) for name, g in grams.items()})


@dataclass(frozen=True)
class LossNets:
    """The VGG extractor of the style term and the layer weights of the style loss."""

    style: FeatureExtractor
    layer_weights: dict[str, float]


def batch_losses(net: ArbitraryNet, nets: LossNets, images: tf.Tensor, code: StyleCode,
                 grams: dict[str, tf.Tensor], with_style: bool = True) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """Return ``(output, {"content", "style", "tv"})`` (unweighted scalars) of a batch, one painting per sample.

    Args:
        images: (B, S, S, 3) float32 BGR [0, 255], S a multiple of the net's stride.
        code: (B, 1, 1, C) style codes; grams: {layer: (B, C_l, C_l)} targets.
        with_style: ``False`` skips the Gram term's VGG pass (its weight is 0) and reports it as 0.
    """
    out, target = net.forward(images, code, clip=False, recolour=False)
    content = losses.content_loss(net.encode(net.pool(out)), tf.stop_gradient(target))
    style = tf.constant(0.0)
    if with_style:
        feats = nets.style(to_vgg(out))
        out_grams = {name: losses.gram_matrix(feats[name]) for name in nets.layer_weights}
        style = losses.style_loss(out_grams, grams, nets.layer_weights)
    return out, {"content": content, "style": style, "tv": losses.total_variation(out)}


def reconstruction_loss(net: ArbitraryNet, images: tf.Tensor, code: StyleCode) -> tf.Tensor:
    """Return ``mean (net(images, strength 0) - images)^2`` (scalar, [0, 255] units): the pass-through error."""
    out, _ = net.forward(images, code, strength=0.0, clip=False, recolour=False)
    return tf.reduce_mean(tf.square(out - tf.cast(images, tf.float32)))


def make_train_step(net: ArbitraryNet, nets: LossNets, bank: StyleBank, optimizer, weights: ArbitraryLossWeights):
    """Return the compiled step ``(prev, cur, flow, cert, index) -> (total, weighted parts)`` with Adam's update."""
    w = {name: getattr(weights, name) for name in PARTS}

    @tf.function(reduce_retracing=True)
    def step(prev, cur, flow, cert, index):
        b = tf.shape(prev)[0]
        code, grams = bank.take(tf.concat([index, index], axis=0))
        with tf.GradientTape() as tape:
            out, parts = batch_losses(net, nets, tf.concat([prev, cur], axis=0), code, grams, weights.style > 0)
            parts["temporal"] = temporal_output_loss(out[b:], out[:b], flow, cert)
            # ``cur`` is the second half of the batch, and so are its codes
            parts["reconstruction"] = (reconstruction_loss(net, cur, StyleCode(**{k: v[b:] for k, v in
                                                                                 code.fields().items()}))
                                       if weights.reconstruction > 0 else tf.constant(0.0))
            weighted = {name: w[name] * parts[name] for name in PARTS}
            total = tf.add_n(list(weighted.values()))
        variables = net.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(total, variables), variables, strict=True))
        return total, weighted

    return step


def evaluate_bank(net: ArbitraryNet, nets: LossNets, bank: StyleBank, frames: np.ndarray) -> dict[str, float]:
    """Return the mean unweighted content, style and reconstruction losses of every (frame, painting) of ``bank``."""
    totals = {"content": 0.0, "style": 0.0}
    x = tf.constant(frames)
    n = len(frames)
    for i in range(bank.size):
        code, grams = bank.take(tf.fill([n], i))
        _, parts = batch_losses(net, nets, x, code, grams)
        for k in totals:
            totals[k] += float(parts[k]) / bank.size
    # at strength 0 the painting plays no part: one pass serves every painting of the bank
    totals["reconstruction"] = float(reconstruction_loss(net, x, bank.take(tf.fill([n], 0))[0]))
    return totals


def train_arbitrary(config: ArbitraryConfig) -> ArbitraryResult:
    """Train (or resume) the decoder of ``config``; write the weights and the JSON record; return the result."""
    started = time.perf_counter()
    split = _split(config)
    sources = find_sources(config.content)
    seed_everything(config.seed)
    workdir = config.resolved_workdir
    workdir.mkdir(parents=True, exist_ok=True)
    net = build_arbitrary(config.network, config.weights, config.precision, seed=config.seed,
                          meta={"weights": config.weights})
    backbone = load_backbone(config.weights)
    gram_exact = FeatureExtractor(backbone, config.style_layers, Precision.FLOAT32)
    nets = LossNets(FeatureExtractor(backbone, config.style_layers, config.precision),
                    {name: 1.0 for name in config.style_layers})
    bank = build_bank(net, gram_exact, split.train, config.style_layers, config.progress, "training")
    evaluated = split.heldout[: config.eval_paintings]
    eval_banks = {"heldout": build_bank(net, gram_exact, evaluated, config.style_layers, False, "held-out"),
                  "train": build_bank(net, gram_exact, split.train[: config.eval_paintings], config.style_layers,
                                      False, "training")} if evaluated else {}
    real = video_pairs(sources.videos, config.pairs.video_pairs, config.pairs.size, config.pairs.flow_method,
                       config.seed)
    if not sources.images and not real:
        raise UserError("content videos gave no frame pairs (need at least 2 frames each)")
    dataset = pair_dataset(sources, config.pairs, config.batch_size, real)
    frames = _eval_frames(sources, config, real)
    state = _restore(net, config, workdir)
    resumed_from = int(state.step.numpy())
    setup = time.perf_counter() - started
    step_fn = make_train_step(net, nets, bank, state.optimizer, config.loss)
    loop = _Loop(config, net, nets, workdir, frames, eval_banks)
    loop_started = time.perf_counter()
    loop.run(step_fn, iter(dataset), state, bank.size)
    header_meta = {"recipe": _recipe_name(config), "steps": config.steps, "backbone": describe_weights(config.weights)}
    save_arbitrary(net, config.output, header_meta)
    finished = time.perf_counter()
    result = ArbitraryResult(
        output=Path(config.output), options=config_json(config), weights_used=describe_weights(config.weights),
        paintings=PaintingCounts(train=bank.size, heldout=len(split.heldout), evaluated=len(evaluated)),
        heldout_files=[str(p) for p in split.heldout], parameters=sum(int(np.prod(v.shape))
                                                                      for v in net.trainable_variables),
        resumed_from_step=resumed_from, steps=config.steps,
        seconds={"setup": setup, "train": finished - loop_started, "total": finished - started},
        final_losses=state.history[-1] if state.history else {},
        final_evaluation=state.evaluation[-1] if state.evaluation else {},
        history=state.history, evaluation=state.evaluation,
    )
    atomic_write_json(Path(config.output).with_suffix(".json"), jsonable(result))
    return result


def _recipe_name(config: ArbitraryConfig) -> str:
    return "quick" if config.max_paintings else "default"


def _split(config: ArbitraryConfig) -> PaintingSplit:
    split = split_paintings(find_paintings(config.paintings), config.heldout_fraction)
    if config.max_paintings:
        split = PaintingSplit(split.train[: config.max_paintings], split.heldout[: config.max_paintings])
    return split


def _eval_frames(sources, config: ArbitraryConfig, real) -> np.ndarray:
    """Return fixed (N, S, S, 3) float32 content crops: centre crops of the first images, else video frames."""
    s = config.pairs.size
    frames = []
    for path in sources.images[:: max(1, len(sources.images) // 4)][:4]:
        try:
            image = read_image(path)
        except UserError:
            continue
        h, w = image.shape[:2]
        small = resize_to_width(image, max(s, round(w * s / min(h, w))))
        y, x = (small.shape[0] - s) // 2, (small.shape[1] - s) // 2
        if y >= 0 and x >= 0 and small.shape[0] >= s:
            frames.append(small[y : y + s, x : x + s].astype(np.float32))
    frames += [pair[1] for pair in real[: max(0, 4 - len(frames))]]
    return np.stack(frames) if frames else np.zeros((0, s, s, 3), np.float32)


@dataclass
class _State:
    """The restorable training state plus the histories so far."""

    optimizer: keras.optimizers.Optimizer
    step: tf.Variable
    manager: tf.train.CheckpointManager
    history: list[dict]
    evaluation: list[dict]


def _restore(net: ArbitraryNet, config: ArbitraryConfig, workdir: Path) -> _State:
    """Return the training state, restored from the newest checkpoint of ``workdir`` when there is one."""
    schedule = keras.optimizers.schedules.CosineDecay(config.learning_rate, config.steps, alpha=0.1)
    optimizer = keras.optimizers.Adam(schedule)
    optimizer.build(net.trainable_variables)
    step = tf.Variable(0, dtype=tf.int64, name="step")
    ckpt = tf.train.Checkpoint(decoder=net.decoder, gain=net.detail_gain, optimizer=optimizer, step=step)
    manager = tf.train.CheckpointManager(ckpt, workdir / "checkpoints", max_to_keep=3)
    history: list[dict] = []
    evaluation: list[dict] = []
    if manager.latest_checkpoint:
        saved = checkpoint_json(manager.latest_checkpoint)
        refuse_other_options(saved.get("options"), config_json(config), config.resolved_workdir, _RESUMABLE)
        ckpt.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        history, evaluation = list(saved.get("history", [])), list(saved.get("evaluation", []))
    return _State(optimizer, step, manager, history, evaluation)


#: Options that may change between a run and its resumption.
_RESUMABLE = ("steps", "checkpoint_every", "preview_every", "eval_every", "log_every", "progress", "workdir", "output")




@dataclass
class _Loop:
    """The training loop's schedule: logging, evaluation, previews and checkpoints."""

    config: ArbitraryConfig
    net: ArbitraryNet
    nets: LossNets
    workdir: Path
    frames: np.ndarray
    eval_banks: dict[str, StyleBank]

    def run(self, step_fn, batches, state: _State, paintings: int) -> None:
        """Run the steps left up to ``config.steps``; appends to ``state.history`` and ``state.evaluation``."""
        c = self.config
        resumed = int(state.step.numpy())
        writer = tf.summary.create_file_writer(str(self.workdir / "logs"))
        bar = tqdm(total=c.steps, initial=resumed, desc="train arbitrary", disable=not c.progress, unit="step",
                   dynamic_ncols=True)
        started = time.perf_counter()
        running: dict[str, list[float]] = {}
        while int(state.step.numpy()) < c.steps:
            n = int(state.step.numpy()) + 1
            prev, cur, flow, cert = next(batches)
            index = np.random.default_rng([c.seed, n]).integers(0, paintings, c.batch_size).astype(np.int32)
            total, parts = step_fn(prev, cur, flow, cert, tf.constant(index))
            state.step.assign(n)
            for k, v in {"total": float(total), **{k: float(v) for k, v in parts.items()}}.items():
                running.setdefault(k, []).append(v)
            bar.update(1)
            last = n == c.steps
            with writer.as_default(step=n):
                if n % c.log_every == 0 or last:
                    self._log(state, running, n, (n - resumed) / max(time.perf_counter() - started, 1e-9), bar)
                    running = {}
                if (n % c.eval_every == 0 or last) and self.eval_banks:
                    self._evaluate(state, n)
            if n % c.preview_every == 0 or last:
                self._preview(self.workdir / "previews" / f"step_{n:06d}.png")
            if n % c.checkpoint_every == 0 or last:
                path = state.manager.save(checkpoint_number=n)
                atomic_write_json(f"{path}.json", {"step": n, "options": config_json(c), "history": state.history,
                                                   "evaluation": state.evaluation})
        bar.close()
        writer.flush()

    def _log(self, state: _State, running: dict[str, list[float]], n: int, rate: float, bar) -> None:
        mean = {k: float(np.mean(v)) for k, v in running.items()}
        state.history.append({"step": n, **mean, "steps_per_second": rate})
        for k, v in mean.items():
            scalar(f"loss/{k}", v, n)
        scalar("steps_per_second", rate, n)
        bar.set_postfix(loss=f"{mean['total']:.4g}", content=f"{mean['content']:.3g}", style=f"{mean['style']:.3g}",
                        temporal=f"{mean['temporal']:.3g}", recon=f"{mean['reconstruction']:.3g}")

    def _evaluate(self, state: _State, n: int) -> None:
        row: dict[str, float] = {"step": n}
        for label, bank in self.eval_banks.items():
            for k, v in evaluate_bank(self.net, self.nets, bank, self.frames).items():
                row[f"{label}_{k}"] = v
                scalar(f"eval/{label}_{k}", v, n)
        state.evaluation.append(row)

    def _preview(self, path: Path) -> None:
        """Write the content crops (top row) above their stylisation with each held-out preview painting."""
        held = self.eval_banks.get("heldout")
        if not len(self.frames) or held is None:
            return
        rows = [np.concatenate(list(self.frames), axis=1)]
        # the first (up to) four held-out paintings, whose codes the evaluation bank already holds
        for code in (held.take(tf.constant([i]))[0] for i in range(min(4, held.size))):
            rows.append(np.concatenate(list(np.asarray(self.net.stylize(self.frames, code))), axis=1))
        write_image(path, np.clip(np.rint(np.concatenate(rows, axis=0)), 0, 255).astype(np.uint8))


__all__ = ["PARTS", "ArbitraryConfig", "ArbitraryLossWeights", "ArbitraryResult", "train_arbitrary"]
