"""Checking uploads before any work starts, and copying them into a job folder under names the studio chooses.

An upload is judged by its content (ffmpeg/OpenCV for clips, OpenCV for paintings), never by its name; the name a
browser sent never becomes a path: :func:`store_upload` writes ``<dest>/<name><suffix>`` where ``name`` is the
studio's and ``suffix`` comes from a short list of known extensions (``.bin`` otherwise). Of a painted keyframe's
name only the frame number it holds is used (:func:`check_keyframes`, :func:`keyframe_name`).
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from foundation.errors import UserError, check_input_file
from media.image_io import read_image
from media.video_io import VideoInfo, probe
from video.keyframes import ASPECT_TOLERANCE

VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".ogv", ".wmv"})
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})
_NUMBER = re.compile(r"\d+")


@dataclass(frozen=True)
class UploadLimits:
    """Caps on what the studio accepts (checked before anything is written).

    max_bytes: largest upload (each file); max_frames: most frames a job may stylise (after the seconds/frames
    choice); max_width: widest output a job may ask for, and widest source frame accepted (pixels).
    """

    max_bytes: int = 500 * 1024 * 1024
    max_frames: int = 3000
    max_width: int = 1024
    max_source_width: int = 7680

    def __post_init__(self) -> None:
        if self.max_bytes < 1 or self.max_frames < 1 or self.max_width < 16 or self.max_source_width < 16:
            raise UserError("upload limits must be positive (bytes, frames) and at least 16 pixels (widths)")


def _label(path: str | os.PathLike, label: str) -> str:
    """Return the label used in messages: the role of the file, never the server's temporary path."""
    return f"{label} ({Path(path).name})"


def _check_size(path: str | os.PathLike | None, label: str, expected: str, limits: UploadLimits) -> Path:
    if path is None or str(path) == "":
        raise UserError(f"{label}: no file given, expected {expected}")
    try:
        path = check_input_file(path, expected)
    except UserError as exc:
        raise UserError(f"{label}: {str(exc).split(': ', 1)[-1]}") from None
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise UserError(f"{_label(path, label)}: {size / 2**20:.1f} MB is more than the "
                        f"{limits.max_bytes / 2**20:.0f} MB upload limit")
    return path


def check_clip(path: str | os.PathLike | None, limits: UploadLimits, label: str = "clip") -> VideoInfo:
    """Return the probed :class:`VideoInfo` of an uploaded clip; raise :class:`UserError` with a one-line reason.

    Reasons: no file, empty, over ``max_bytes``, not a video, unreadable, zero frames, a frame wider than
    ``max_source_width``.
    """
    path = _check_size(path, label, "a video file", limits)
    if _is_still_image(path):  # ffmpeg would read a photo as a one-frame video
        raise UserError(f"{_label(path, label)}: is a still image, not a video")
    try:
        info = probe(path)
    except UserError as exc:
        raise UserError(f"{_label(path, label)}: {str(exc).split(': ', 1)[-1]}") from None
    if info.frame_count < 1:
        raise UserError(f"{_label(path, label)}: contains no video frames")
    if info.width > limits.max_source_width:
        raise UserError(f"{_label(path, label)}: frames are {info.width} pixels wide, more than the "
                        f"{limits.max_source_width} accepted")
    return info


def _is_still_image(path: Path) -> bool:
    """Return True if ``path`` is a single-frame image (PIL reads only the header)."""
    try:
        with Image.open(path) as im:
            return getattr(im, "n_frames", 1) == 1
    except (OSError, ValueError, Image.DecompressionBombError):
        return False


def check_painting(path: str | os.PathLike | None, limits: UploadLimits, label: str = "painting") -> np.ndarray:
    """Return an uploaded painting as (H, W, 3) uint8 BGR; raise :class:`UserError` naming the problem."""
    path = _check_size(path, label, "an image file", limits)
    try:
        image = read_image(path)
    except UserError as exc:
        raise UserError(f"{_label(path, label)}: {str(exc).split(': ', 1)[-1]}") from None
    if image.shape[1] > limits.max_source_width or image.shape[0] > limits.max_source_width:
        raise UserError(f"{_label(path, label)}: {image.shape[1]}x{image.shape[0]} is larger than the "
                        f"{limits.max_source_width} pixels accepted")
    return image


def check_keyframes(paths: list[str | os.PathLike], info: VideoInfo, n_frames: int,
                    limits: UploadLimits) -> dict[int, Path]:
    """Return {frame (1-based): path} of uploaded painted keyframes; raise :class:`UserError` naming the file.

    A keyframe's frame is the last number in its file name (``0090.png``, ``frame_90.jpg``: frame 90), counted among
    the ``n_frames`` frames the job reads, as ``paintvid video --keyframes DIR``. Reasons: none given, a name without
    a frame number, a frame outside 1..n_frames, two files for one frame, not an image (the painting checks), a
    shape other than the clip's.
    """
    if not paths:
        raise UserError("keyframes: no file given, expected painted frames named by frame number, e.g. 0001.png")
    found: dict[int, Path] = {}
    for path in paths:
        path = Path(path)
        numbers = _NUMBER.findall(path.stem)
        if not numbers or int(numbers[-1]) < 1:
            raise UserError(f"{_label(path, 'keyframe')}: the name must hold the frame number (from 1), e.g. 0090.png")
        frame = int(numbers[-1])
        if not 1 <= frame <= n_frames:
            raise UserError(f"{_label(path, 'keyframe')}: frame {frame} is outside the {n_frames} frames the job "
                            f"reads (1..{n_frames})")
        if frame in found:
            raise UserError(f"{_label(path, 'keyframe')}: frame {frame} already has a keyframe "
                            f"({found[frame].name}); give one painted image per frame")
        image = check_painting(path, limits, label="keyframe")
        h, w = image.shape[:2]
        if abs(w / h - info.width / info.height) > ASPECT_TOLERANCE * info.width / info.height:
            raise UserError(f"{_label(path, 'keyframe')}: {w}x{h} is another shape than the clip's "
                            f"{info.width}x{info.height}; paint over the frame itself")
        found[frame] = path
    return dict(sorted(found.items()))


def keyframe_name(frame: int, src: str | os.PathLike) -> str:
    """Return the job file name of the keyframe painting ``frame``: ``input/keyframe_0090.png`` (suffix checked)."""
    return f"input/keyframe_{int(frame):04d}{safe_suffix(src, IMAGE_SUFFIXES)}"


def check_job_size(info: VideoInfo, frames: int, width: int, limits: UploadLimits, label: str = "clip") -> None:
    """Raise :class:`UserError` when a job would stylise more than ``max_frames`` frames or wider than ``max_width``.

    ``frames`` is what the job's seconds/frames choice selects from the clip (``media.video_io.expected_frames``).
    """
    if frames < 1:
        raise UserError(f"{label}: the chosen start/seconds/frames select no frames of this clip "
                        f"({info.frame_count} frames, {info.duration:.1f} s)")
    if frames > limits.max_frames:
        raise UserError(f"{label}: {frames} frames selected, more than the {limits.max_frames} a job may stylise; "
                        "choose fewer seconds or frames")
    if width > limits.max_width:
        raise UserError(f"width {width} is more than the {limits.max_width} pixels the studio allows")


def safe_suffix(path: str | os.PathLike, allowed: frozenset[str]) -> str:
    """Return the lower-cased suffix of ``path`` if it is one of ``allowed``, else ``.bin``."""
    suffix = Path(path).suffix.lower()
    return suffix if suffix in allowed else ".bin"


def store_upload(src: str | os.PathLike, dest_dir: Path, name: str, allowed: frozenset[str]) -> Path:
    """Copy ``src`` to ``dest_dir/<name><suffix>`` and return that path (``name`` is chosen by the studio)."""
    if not name.isidentifier():
        raise ValueError(f"store_upload: {name!r} is not a plain name")
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / f"{name}{safe_suffix(src, allowed)}"
    shutil.copyfile(src, dest)
    return dest

