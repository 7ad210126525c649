"""The teacher's targets for distillation, cached on disk: content crops x style vectors -> the teacher's paintings.

One cache folder holds:

- ``vectors.npz`` — the style vector ``(100,)`` of every training and held-out painting (``train``, ``heldout``
  arrays and their file names), computed once by the teacher's style-prediction network;
- ``train_NNNN.npz`` / ``heldout_NNNN.npz`` — shards of ``shard_size`` samples: ``content (n, S, S, 3) uint8``
  BGR crops, ``vector (n, 100) float32`` and the teacher's ``target (n, S, S, 3) uint8`` BGR painting of the crop.

Each shard is drawn from its own seed (``seed``, kind, shard index) and written atomically, so an interrupted run
resumes at the first missing shard and a finished cache is reused as is. Training shards use training paintings
only (half of the vectors a random mix of two of them, since the teacher paints any vector); held-out shards use
held-out paintings only.

Content crops: a photo or a video frame scaled so that its short side is between ``size`` and ``1.6 * size`` (the
scale a 640x360 frame is painted at, ``transfer.arbitrary.magenta.paint_size``), a random ``size x size`` crop.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm.auto import tqdm

from foundation.atomic import atomic_write, atomic_write_json
from foundation.errors import UserError
from media.image_io import read_image
from media.video_io import ReadOptions, iter_frames
from transfer.arbitrary.magenta import STYLE_DIM, MagentaPainter
from transfer.arbitrary.paintings import PaintingSplit
from transfer.fast.data import find_sources


@dataclass(frozen=True)
class TargetOptions:
    """How many teacher targets, and of what.

    Attributes:
        size: side of the square crops (a multiple of 8).
        train_samples, heldout_samples: samples with training / held-out paintings.
        shard_size: samples per shard file.
        video_frames: frames taken (one per second at most) from each content video.
        mix_fraction: share of training samples whose vector mixes two training paintings.
        seed: seeds the sampling.
    """

    size: int = 256
    train_samples: int = 4000
    heldout_samples: int = 200
    shard_size: int = 100
    video_frames: int = 30
    mix_fraction: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.size < 16 or self.size % 8:
            raise UserError(f"target size {self.size} must be a multiple of 8, at least 16")
        if self.train_samples < 1 or self.heldout_samples < 0 or self.shard_size < 1:
            raise UserError("give at least one training sample and shards of at least one")
        if not 0.0 <= self.mix_fraction <= 1.0:
            raise UserError(f"mix fraction {self.mix_fraction} is outside [0, 1]")


@dataclass(frozen=True)
class TargetSet:
    """Samples loaded from the cache: ``content``/``target`` (N, S, S, 3) uint8 BGR, ``vector`` (N, 100)."""

    content: np.ndarray
    vector: np.ndarray
    target: np.ndarray

    def __len__(self) -> int:
        return len(self.content)


@dataclass(frozen=True)
class Targets:
    """The cache's training and held-out samples."""

    train: TargetSet
    heldout: TargetSet


def load_content(paths: Sequence[str | Path], video_frames: int, long_side: int = 640) -> list[np.ndarray]:
    """Return content pictures (H, W, 3) uint8 BGR: every image under ``paths`` and up to ``video_frames`` frames
    (one per second) of every video, each shrunk to at most ``long_side`` on its long side.

    Raises:
        UserError: no usable picture.
    """
    sources = find_sources(paths)
    pictures = []
    for path in sources.images:
        try:
            pictures.append(_shrink(read_image(path), long_side))
        except UserError:
            continue
    for path in sources.videos:
        try:
            frames = iter_frames(path, ReadOptions(fps=1.0, frames=video_frames))
            pictures.extend(_shrink(frame, long_side) for _, frame in frames)
        except UserError:
            continue
    if not pictures:
        raise UserError(f"{', '.join(str(p) for p in paths)}: no readable content pictures")
    return pictures


def _shrink(image: np.ndarray, long_side: int) -> np.ndarray:
    scale = long_side / max(image.shape[:2])
    if scale >= 1.0:
        return image
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def random_crop(image: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Return a ``(size, size, 3)`` uint8 crop of ``image`` scaled so that its short side is in
    ``[size, 1.6 * size]``, mirrored at random."""
    short = rng.uniform(size, 1.6 * size)
    scale = short / min(image.shape[:2])
    w, h = max(size, round(image.shape[1] * scale)), max(size, round(image.shape[0] * scale))
    resized = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    y, x = rng.integers(0, h - size + 1), rng.integers(0, w - size + 1)
    crop = resized[y:y + size, x:x + size]
    return np.ascontiguousarray(crop[:, ::-1] if rng.random() < 0.5 else crop)


def style_vectors(painter: MagentaPainter, split: PaintingSplit, cache: Path, progress: bool = True
                  ) -> dict[str, np.ndarray]:
    """Return ``{"train": (P, 100), "heldout": (Q, 100)}`` float32, read from ``cache/vectors.npz`` or computed
    (unreadable paintings are skipped) and written there."""
    path = cache / "vectors.npz"
    if path.is_file():
        with np.load(path) as data:
            return {"train": data["train"], "heldout": data["heldout"]}
    out: dict[str, np.ndarray] = {}
    names: dict[str, list[str]] = {}
    for kind, files in (("train", split.train), ("heldout", split.heldout)):
        vectors, names[kind] = [], []
        for f in tqdm(files, desc=f"style vectors ({kind})", disable=not progress, unit="painting"):
            try:
                vectors.append(painter.style_vector(read_image(f)))
            except UserError:
                continue
            names[kind].append(str(f))
        out[kind] = np.asarray(vectors, np.float32).reshape(-1, STYLE_DIM)
    if not len(out["train"]):
        raise UserError("no readable training painting")
    atomic_write(path, lambda tmp: _save_npz(tmp, out))
    atomic_write_json(cache / "paintings.json", names)
    return out


def _save_npz(tmp: Path, arrays: dict[str, np.ndarray]) -> None:
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def sample_vectors(bank: np.ndarray, n: int, mix_fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Return ``(n, 100)`` float32 vectors: rows of ``bank`` (P, 100), a ``mix_fraction`` of them mixed with
    another row by a uniform weight."""
    first = bank[rng.integers(0, len(bank), n)]
    second = bank[rng.integers(0, len(bank), n)]
    alpha = rng.uniform(0.0, 1.0, (n, 1)) * (rng.random((n, 1)) < mix_fraction)
    return ((1.0 - alpha) * first + alpha * second).astype(np.float32)


def make_shard(painter_fn: Callable[[np.ndarray, np.ndarray], np.ndarray], pictures: Sequence[np.ndarray],
               bank: np.ndarray, n: int, options: TargetOptions, rng: np.random.Generator,
               mix_fraction: float) -> dict[str, np.ndarray]:
    """Return one shard ``{"content", "vector", "target"}`` of ``n`` samples; ``painter_fn(crop (S, S, 3) uint8,
    vector (100,)) -> (S, S, 3) uint8`` is the teacher."""
    content = np.stack([random_crop(pictures[rng.integers(0, len(pictures))], options.size, rng) for _ in range(n)])
    vector = sample_vectors(bank, n, mix_fraction, rng)
    target = np.stack([painter_fn(c, v) for c, v in zip(content, vector, strict=True)])
    return {"content": content, "vector": vector, "target": target}


def build_targets(painter: MagentaPainter, pictures: Sequence[np.ndarray], vectors: dict[str, np.ndarray],
                  cache: Path, options: TargetOptions, progress: bool = True) -> Targets:
    """Write the missing shards of ``cache`` (resuming after the last complete one) and return all samples."""
    cache.mkdir(parents=True, exist_ok=True)
    _check_options(cache, options)

    def teacher(crop: np.ndarray, vector: np.ndarray) -> np.ndarray:
        return painter.paint(crop[None], vector)[0]

    loaded = {}
    for kind, total, mix in (("train", options.train_samples, options.mix_fraction),
                             ("heldout", options.heldout_samples, 0.0)):
        counts = _shard_counts(total, options.shard_size)
        if kind == "heldout" and not len(vectors["heldout"]):
            counts = []
        bar = tqdm(total=total, desc=f"teacher targets ({kind})", disable=not progress, unit="sample")
        for i, n in enumerate(counts):
            path = cache / f"{kind}_{i:04d}.npz"
            if not path.is_file():
                rng = np.random.default_rng([options.seed, int(kind == "heldout"), i])
                shard = make_shard(teacher, pictures, vectors[kind], n, options, rng, mix)
                atomic_write(path, lambda tmp, s=shard: _save_npz(tmp, s))
            bar.update(n)
        bar.close()
        loaded[kind] = _load_shards(cache, kind, len(counts), options.size)
    return Targets(train=loaded["train"], heldout=loaded["heldout"])


def _shard_counts(total: int, shard: int) -> list[int]:
    return [min(shard, total - start) for start in range(0, total, shard)]


def _load_shards(cache: Path, kind: str, count: int, size: int) -> TargetSet:
    parts: dict[str, list[np.ndarray]] = {"content": [], "vector": [], "target": []}
    for i in range(count):
        with np.load(cache / f"{kind}_{i:04d}.npz") as data:
            for key in parts:
                parts[key].append(data[key])
    if not count:
        empty = np.zeros((0, size, size, 3), np.uint8)
        return TargetSet(empty, np.zeros((0, STYLE_DIM), np.float32), empty)
    return TargetSet(**{k: np.concatenate(v) for k, v in parts.items()})


def _check_options(cache: Path, options: TargetOptions) -> None:
    """Record the options in ``cache/targets.json``; refuse a cache made with other options.

    Raises:
        UserError: naming the cache and the options that differ.
    """
    path = cache / "targets.json"
    current = {k: getattr(options, k) for k in ("size", "shard_size", "video_frames", "mix_fraction", "seed")}
    if path.is_file():
        saved = json.loads(path.read_text()).get("options", {})
        differ = sorted(k for k in current if saved.get(k) != current[k])
        if differ:
            raise UserError(f"{cache}: teacher targets were made with other options ({', '.join(differ)}); "
                            "give another --cache folder")
    else:
        atomic_write_json(path, {"options": current})
