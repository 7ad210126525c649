"""Splitting a frame sequence into shots at hard cuts: ``find_shots(frames, ShotsConfig)`` -> ``[Shot, ...]``.

Temporal coherence only has to hold inside a shot, so shots are the independent units of a long run. Cuts come
from one of three sources (``--shots auto|none|FILE``):

- ``auto``: a content detector in the manner of PySceneDetect's ``ContentDetector`` (which cannot be a
  dependency: its wheel requires ``opencv-python``, a second OpenCV build beside ``opencv-contrib-python-headless``).
  The score of frame t is the mean absolute change of hue, saturation, value and of an edge map from frame t-1
  (0..255). Frame t starts a new shot when its score is at least ``threshold`` *and* at least ``ratio`` times the
  median score of the frames before it in the current shot, so a fast pan that keeps every score high is not cut
  at every frame, and no shot is shorter than ``min_frames``;
- ``none``: one shot;
- a CSV file of cut frames (one 0-based frame index per row, the first frame of each new shot, optional header
  ``frame``; further columns ignored). :func:`write_cuts_csv` writes that format, so a user can edit the cuts a
  run detected and pass the file back.

Frame indices here are 0-based indices of the frames a run reads (after ``--start`` / ``--fps``), as in
``--style-schedule``. ``Shot.end`` is exclusive.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import cv2
import numpy as np

from foundation.atomic import atomic_write
from foundation.errors import UserError, check_input_file

#: Frames are compared at most this wide: enough for a cut, cheap at any resolution.
DETECT_WIDTH = 160


@dataclass(frozen=True)
class Shot:
    """Frames ``start <= t < end`` (0-based indices of the frames read) between two cuts."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end:
            raise ValueError(f"a shot needs 0 <= start < end, got {self.start}, {self.end}")

    def __len__(self) -> int:
        return self.end - self.start

    def __contains__(self, t: object) -> bool:
        return isinstance(t, int) and self.start <= t < self.end


class ShotMode(StrEnum):
    """Where the cuts come from."""

    AUTO = "auto"
    NONE = "none"
    FILE = "file"


@dataclass(frozen=True)
class ShotsConfig:
    """How a run splits into shots.

    Attributes:
        mode: ``auto`` (detect), ``none`` (one shot) or ``file`` (read ``file``).
        file: CSV of cut frames with ``mode=file``.
        threshold: smallest content score (mean change, 0..255) of a cut with ``auto``.
        ratio: a cut's score must also be this many times the median score of the shot so far.
        min_frames: no detected shot is shorter than this (a flash or a whip pan is not two cuts).
    """

    mode: ShotMode = ShotMode.AUTO
    file: Path | None = None
    threshold: float = 27.0
    ratio: float = 3.0
    min_frames: int = 8

    def __post_init__(self) -> None:
        if (self.mode is ShotMode.FILE) != (self.file is not None):
            raise UserError("--shots: a cuts file goes with mode 'file' and only with it")
        if not self.threshold > 0 or not self.ratio >= 1:
            raise UserError(f"shot detection needs threshold > 0 and ratio >= 1, got {self.threshold}, {self.ratio}")
        if self.min_frames < 1:
            raise UserError(f"--min-shot-frames must be at least 1, got {self.min_frames}")


def parse_shots_option(text: str, **detector) -> ShotsConfig:
    """Return the :class:`ShotsConfig` of ``--shots auto|none|FILE`` (``detector``: threshold, ratio, min_frames).

    A FILE must exist now, so a typo fails before any work.
    """
    if text in (ShotMode.AUTO.value, ShotMode.NONE.value):
        return ShotsConfig(mode=ShotMode(text), **detector)
    path = check_input_file(text, "a CSV file of cut frames (or use --shots auto / none)")
    return ShotsConfig(mode=ShotMode.FILE, file=path, **detector)


def find_shots(frames: Iterable[np.ndarray], n_frames: int, config: ShotsConfig = ShotsConfig()) -> list[Shot]:
    """Return the shots of a sequence of ``n_frames`` frames (each (H, W, 3) uint8 BGR), in order, covering it.

    ``frames`` is consumed only with ``mode=auto`` (streamed: one frame held at a time).
    """
    if n_frames < 1:
        raise ValueError("a sequence needs at least one frame")
    if config.mode is ShotMode.NONE:
        cuts: list[int] = []
    elif config.mode is ShotMode.FILE:
        cuts = read_cuts_csv(config.file, n_frames)
    else:
        cuts = detect_cuts(frames, config)
        if cuts and cuts[-1] >= n_frames:
            raise ValueError(f"{n_frames} frames announced but a cut was found at frame {cuts[-1]}")
    return shots_from_cuts(cuts, n_frames)


def shots_from_cuts(cuts: list[int], n_frames: int) -> list[Shot]:
    """Return the shots between ``cuts`` (sorted first frames of new shots, each in 1..n_frames-1)."""
    bounds = [0, *cuts, n_frames]
    return [Shot(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def detect_cuts(frames: Iterable[np.ndarray], config: ShotsConfig = ShotsConfig()) -> list[int]:
    """Return the 0-based indices of frames that start a new shot (never 0), by the rule in the module docstring."""
    cuts: list[int] = []
    shot_scores: list[float] = []
    previous = None
    shot_start = 0
    for t, frame in enumerate(frames):
        signature = _signature(frame)
        if previous is not None:
            score = content_score(previous, signature)
            steady = float(np.median(shot_scores)) if shot_scores else 0.0
            if (score >= config.threshold and score >= config.ratio * steady
                    and t - shot_start >= config.min_frames):
                cuts.append(t)
                shot_start, shot_scores = t, []
            else:
                shot_scores.append(score)
        previous = signature
    return cuts


def content_scores(frames: Iterable[np.ndarray]) -> list[float]:
    """Return the content score of every frame after the first against its predecessor (for tuning, plots)."""
    scores, previous = [], None
    for frame in frames:
        signature = _signature(frame)
        if previous is not None:
            scores.append(content_score(previous, signature))
        previous = signature
    return scores


def content_score(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> float:
    """Return the mean change (0..255) of hue, saturation, value and edges between two frame signatures."""
    (hsv_a, edges_a), (hsv_b, edges_b) = a, b
    if hsv_a.shape != hsv_b.shape:
        raise ValueError(f"frames of different sizes: {hsv_a.shape[:2]} and {hsv_b.shape[:2]}")
    diff = np.abs(hsv_a - hsv_b)
    diff[..., 0] = np.minimum(diff[..., 0], 256 - diff[..., 0]) * 2  # hue is an angle (0..255 full circle)
    edge_change = 255.0 * float(np.mean(edges_a != edges_b))
    return float(np.mean(diff.reshape(-1, 3), axis=0).sum() + edge_change) / 4.0


def _signature(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (HSV int16 (h, w, 3), dilated edges bool (h, w)) of a (H, W, 3) uint8 BGR frame, at most 160 wide."""
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"expected a (H, W, 3) uint8 BGR frame, got {frame.shape} {frame.dtype}")
    if frame.shape[1] > DETECT_WIDTH:
        h = max(1, round(frame.shape[0] * DETECT_WIDTH / frame.shape[1]))
        frame = cv2.resize(frame, (DETECT_WIDTH, h), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(frame, cv2.COLOR_BGR2HSV_FULL).astype(np.int16)
    value = hsv[..., 2].astype(np.uint8)
    median = float(np.median(value))
    edges = cv2.Canny(value, int(max(0, 0.67 * median)), int(min(255, 1.33 * median)))
    edges = cv2.dilate(edges, np.ones((3, 3), np.uint8)) > 0  # a one-pixel shift is not an edge change
    return hsv, edges


def read_cuts_csv(path: str | Path, n_frames: int) -> list[int]:
    """Return the cut frames of a user's CSV (see the module docstring), checked against ``n_frames`` frames.

    Raises :class:`UserError` naming the file and the row of the first problem: not a whole number, out of
    1..n_frames-1, or not after the previous cut.
    """
    path = check_input_file(path, "a CSV file of cut frames")
    cuts: list[int] = []
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text CSV file") from None
    for row_number, row in enumerate(csv.reader(lines), start=1):
        cell = row[0].strip() if row else ""
        if not cell or cell.startswith("#") or (not cuts and cell.lower() == "frame" and row_number == 1):
            continue
        try:
            cut = int(cell)
        except ValueError:
            raise UserError(f"{path}: row {row_number}: {cell!r} is not a frame number") from None
        if not 0 < cut < n_frames:
            raise UserError(f"{path}: row {row_number}: cut frame {cut} is outside 1..{n_frames - 1} "
                            f"(0-based first frame of a new shot, {n_frames} frames read)")
        if cuts and cut <= cuts[-1]:
            raise UserError(f"{path}: row {row_number}: cut frame {cut} does not come after {cuts[-1]}")
        cuts.append(cut)
    return cuts


def write_cuts_csv(path: str | Path, shots: list[Shot], fps: float | None = None) -> Path:
    """Write the cuts between ``shots`` in the format :func:`read_cuts_csv` reads (with seconds if ``fps``)."""
    def write(tmp: Path) -> None:
        with tmp.open("w", newline="") as f:
            out = csv.writer(f)
            out.writerow(["frame", "seconds"] if fps else ["frame"])
            for shot in shots[1:]:
                out.writerow([shot.start, f"{shot.start / fps:.3f}"] if fps else [shot.start])

    return atomic_write(path, write)
