"""Training pairs for the fast network, as a ``tf.data`` pipeline.

Two kinds of pairs, both ``(prev, cur, flow, certainty)`` with flow ``cur -> prev``:
- from still images (any folder, e.g. the scraper's photographs, or single files) with a known random motion
  (:mod:`transfer.fast.motion`): exact flow and occlusion;
- from consecutive frames of the user's videos, with flow from :mod:`media.flow` and certainty from the
  forward-backward check of :mod:`media.consistency`. Flow is slow, so a fixed number of these pairs is
  computed once at start-up and reused.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import tensorflow as tf

from foundation.errors import UserError
from media.consistency import certainty
from media.flow import FlowMethod, estimate_flow
from media.image_io import IMAGE_SUFFIXES, read_image
from media.video_io import ReadOptions, expected_frames, iter_frames, probe
from transfer.fast.motion import MotionOptions, synthetic_pair

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"})

Pair = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class ContentSources:
    """Image files and video files found under the user's ``--content`` paths."""

    images: tuple[Path, ...]
    videos: tuple[Path, ...]


@dataclass(frozen=True)
class PairOptions:
    """How pairs are made.

    Attributes:
        size: side of the square training crops (a multiple of the network's stride).
        motion: ranges of the synthetic motion.
        video_pairs: how many real pairs to precompute from the videos (spread evenly over them).
        video_fraction: probability that a pair is a real video pair (when there are any).
        flow_method: the optical flow of video pairs.
        seed: seeds the sampling.
    """

    size: int = 256
    motion: MotionOptions = MotionOptions()
    video_pairs: int = 200
    video_fraction: float = 0.5
    flow_method: FlowMethod = FlowMethod.DIS
    seed: int = 0


def find_sources(paths: Sequence[str | Path]) -> ContentSources:
    """Return the images and videos under ``paths`` (folders searched recursively, files taken by suffix).

    Raises:
        UserError: a path does not exist, or nothing usable was found.
    """
    images: list[Path] = []
    videos: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise UserError(f"{path}: no such file or folder (content for training)")
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            suffix = f.suffix.lower()
            if suffix in IMAGE_SUFFIXES:
                images.append(f)
            elif suffix in VIDEO_SUFFIXES:
                videos.append(f)
            elif not path.is_dir():
                raise UserError(f"{f}: not an image or video file (content for training)")
    if not images and not videos:
        raise UserError(f"{', '.join(str(p) for p in paths) or '(none)'}: no images or videos to train on")
    return ContentSources(tuple(images), tuple(videos))


def random_crop(image: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Return a random (size, size, C) crop after resizing the short side to between size and 1.5 * size.

    Any number of channels (two frames stacked as 6 channels get the same crop).
    """
    h, w = image.shape[:2]
    short = rng.uniform(size, 1.5 * size)
    scale = short / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    # cv2.resize takes at most 4 channels at a time
    resized = np.concatenate([cv2.resize(image[..., i : i + 3], (nw, nh), interpolation=interp).reshape(nh, nw, -1)
                              for i in range(0, image.shape[2], 3)], axis=2)
    y = int(rng.integers(0, nh - size + 1))
    x = int(rng.integers(0, nw - size + 1))
    return resized[y : y + size, x : x + size]


def video_pairs(videos: Sequence[Path], count: int, size: int, flow_method: FlowMethod | str,
                seed: int = 0) -> list[Pair]:
    """Return up to ``count`` real pairs (prev, cur float32 [0, 255], flow cur->prev, certainty (S, S, 1)).

    Each video contributes about ``count / len(videos)`` pairs of consecutive frames spread over its length,
    cropped at the same random place in both frames.
    """
    if count <= 0 or not videos:
        return []
    rng = np.random.default_rng(seed)
    per_video = max(1, count // len(videos))
    out: list[Pair] = []
    for path in videos:
        info = probe(path)
        n = expected_frames(info, ReadOptions())
        if n < 2:
            continue
        wanted = set(np.linspace(1, n - 1, num=min(per_video, n - 1)).round().astype(int).tolist())
        previous = None
        for index, frame in iter_frames(path, ReadOptions()):
            if index in wanted and previous is not None:
                out.append(_crop_and_flow(previous, frame, size, rng, flow_method))
            previous = frame
            if index >= max(wanted):
                break
    return out[:count]


def _crop_and_flow(prev: np.ndarray, cur: np.ndarray, size: int, rng: np.random.Generator,
                   flow_method: FlowMethod | str) -> Pair:
    """Return one real pair: the same random crop of both frames, the flow cur -> prev and its certainty."""
    both = random_crop(np.concatenate([prev, cur], axis=2), size, rng)
    a, b = np.ascontiguousarray(both[..., :3]), np.ascontiguousarray(both[..., 3:])
    back = estimate_flow(b, a, flow_method)
    forward = estimate_flow(a, b, flow_method)
    cert = certainty(back, forward)
    return a.astype(np.float32), b.astype(np.float32), back, cert[..., None]


def iter_pairs(sources: ContentSources, options: PairOptions, real: Sequence[Pair] = ()) -> Iterator[Pair]:
    """Yield an endless seeded stream of pairs: synthetic from images, or one of the precomputed ``real`` ones.

    Unreadable images are skipped (and reported once); with no image at all only ``real`` pairs are used.
    """
    rng = np.random.default_rng(options.seed)
    images = list(sources.images)
    bad: set[Path] = set()
    while True:
        use_real = real and (not images or rng.random() < options.video_fraction)
        if use_real:
            yield real[int(rng.integers(len(real)))]
            continue
        if not images:
            raise UserError("no readable content images left to train on")
        path = images[int(rng.integers(len(images)))]
        try:
            image = read_image(path)
        except UserError as exc:
            if path not in bad:
                print(f"paintvid: skipping {exc}")
                bad.add(path)
            images.remove(path)
            continue
        yield synthetic_pair(random_crop(image, options.size, rng), rng, options.motion)


def pair_dataset(sources: ContentSources, options: PairOptions, batch_size: int, real: Sequence[Pair] = ()):
    """Return a ``tf.data.Dataset`` of batches ``(prev, cur, flow, certainty)``.

    Shapes: (B, S, S, 3) float32 BGR [0, 255] twice, (B, S, S, 2) float32 flow cur->prev, (B, S, S, 1) float32.
    """
    s = options.size
    signature = (
        tf.TensorSpec((s, s, 3), tf.float32),
        tf.TensorSpec((s, s, 3), tf.float32),
        tf.TensorSpec((s, s, 2), tf.float32),
        tf.TensorSpec((s, s, 1), tf.float32),
    )
    ds = tf.data.Dataset.from_generator(lambda: iter_pairs(sources, options, real), output_signature=signature)
    return ds.batch(batch_size, drop_remainder=True).prefetch(2)
