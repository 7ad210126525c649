"""Painted keyframes: which frame each one paints, read, checked and brought to the working frame size.

A keyframe is named by the 1-based number of the frame it paints among the frames a run reads (after ``--start``
and ``--fps``; the work directory's ``frames/000001.png``... are those frames, ready to paint over). Given as
``--keyframe N=FILE`` (repeatable) or ``--keyframes DIR`` (image files named by frame number: ``0090.png``,
``frame_90.jpg``; the last number in the name counts). Every problem is a one-line :class:`UserError` naming the
file: unparsable option, unreadable image, duplicate or out-of-range frame number, another shape, or content that
does not match its frame (:func:`check_content`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from foundation.errors import UserError
from media.image_io import IMAGE_SUFFIXES, read_image
from media.structure import structure_map

#: A keyframe whose aspect differs from the frames' by more than this (relative) is refused, not stretched.
ASPECT_TOLERANCE = 0.05
#: Content check: frames are compared at most this wide (shapes, not brush strokes, decide the match).
MATCH_WIDTH = 256
#: A keyframe whose structure score against its own frame is below this does not show that frame.
MIN_STRUCTURE = 0.2
#: ... nor one that matches another frame, more than one frame away, better by more than this.
MISMATCH_MARGIN = 0.15
_NUMBER = re.compile(r"\d+")


@dataclass(frozen=True)
class Keyframe:
    """A painted frame: ``frame`` the 1-based number of the frame it paints, ``path`` the image file."""

    frame: int
    path: Path


def parse_keyframe_option(text: str) -> Keyframe:
    """Return the :class:`Keyframe` of ``--keyframe N=FILE``; UserError when the text is not of that form."""
    number, sep, path = text.partition("=")
    number = number.strip()
    if not sep or not path or not number.isdigit():
        raise UserError(f"--keyframe {text!r}: expected N=FILE, the frame number (from 1) and the painted image, "
                        "e.g. 1=painted_0001.png")
    if int(number) < 1:
        raise UserError(f"--keyframe {text!r}: frame numbers start at 1")
    return Keyframe(int(number), Path(path))


def keyframes_from_folder(folder: str | Path) -> tuple[Keyframe, ...]:
    """Return the keyframes of a folder of images named by frame number (the last number in each file's name)."""
    folder = Path(folder)
    if not folder.exists():
        raise UserError(f"{folder}: no such folder of keyframes")
    if not folder.is_dir():
        raise UserError(f"{folder}: is a file, not a folder of keyframes (use --keyframe N=FILE for one image)")
    found = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
            continue
        numbers = _NUMBER.findall(path.stem)
        if not numbers:
            raise UserError(f"{path}: a keyframe's name must hold its frame number, e.g. 0090.png")
        if int(numbers[-1]) < 1:
            raise UserError(f"{path}: frame numbers start at 1")
        found.append(Keyframe(int(numbers[-1]), path))
    if not found:
        raise UserError(f"{folder}: no image files named by frame number (e.g. 0001.png) in this folder")
    return tuple(found)


def check_numbers(keyframes: Sequence[Keyframe], n_frames: int) -> tuple[Keyframe, ...]:
    """Return ``keyframes`` sorted by frame; UserError on a duplicate frame or one outside 1..n_frames."""
    if not keyframes:
        raise UserError("give at least one keyframe (--keyframe N=FILE or --keyframes DIR)")
    ordered = sorted(keyframes, key=lambda k: k.frame)
    for before, after in zip(ordered, ordered[1:], strict=False):
        if before.frame == after.frame:
            raise UserError(f"{after.path}: frame {after.frame} already has a keyframe ({before.path}); give one "
                            "painted image per frame")
    for k in ordered:
        if not 1 <= k.frame <= n_frames:
            raise UserError(f"{k.path}: keyframe for frame {k.frame} is outside the {n_frames} frames selected "
                            f"(1..{n_frames})")
    return tuple(ordered)


def read_keyframe(keyframe: Keyframe) -> np.ndarray:
    """Return the keyframe's (H, W, 3) uint8 BGR image (UserError if it is not a readable image)."""
    return read_image(keyframe.path)


def fit_keyframe(keyframe: Keyframe, image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, bool]:
    """Return (the image at the working ``size`` (W, H), whether it was resized); UserError for another shape."""
    w, h = size
    ih, iw = image.shape[:2]
    if (iw, ih) == (w, h):
        return image, False
    if abs(iw / ih - w / h) > ASPECT_TOLERANCE * (w / h):
        raise UserError(f"{keyframe.path}: keyframe is {iw}x{ih} but the frames are {w}x{h} (another shape); paint "
                        "over the frame itself")
    interpolation = cv2.INTER_AREA if iw > w else cv2.INTER_CUBIC
    return cv2.resize(image, (w, h), interpolation=interpolation), True


def match_scores(keyframe: np.ndarray, frames: Sequence[np.ndarray]) -> np.ndarray:
    """Return the (T,) float scores in [0, 1] of a keyframe against each frame ((H, W, 3) uint8 BGR, the keyframe's
    size): the magnitude of :func:`media.structure.structure_score` (the mean local correlation over the frame's
    non-flat windows), compared at most :data:`MATCH_WIDTH` wide. The magnitude, because a painter may invert the
    tones (a correlation near -1 is the same shapes); unrelated content averages near 0."""
    small = _small(keyframe)
    return np.array([_abs_structure(_small(f), small) for f in frames], dtype=np.float64)


def _abs_structure(frame: np.ndarray, keyframe: np.ndarray) -> float:
    corr, valid = structure_map(frame, keyframe)
    return abs(float(corr[valid].mean())) if valid.any() else 1.0


def check_content(keyframe: Keyframe, scores: np.ndarray, first_frame: int = 1) -> float:
    """Return the keyframe's score against its own frame; UserError if it does not show that frame.

    Args:
        scores: :func:`match_scores` against consecutive frames numbered from ``first_frame`` (1-based), the
            keyframe's own among them.
    """
    own = float(scores[keyframe.frame - first_frame])
    best = int(np.argmax(scores))
    best_frame, best_score = best + first_frame, float(scores[best])
    if abs(best_frame - keyframe.frame) > 1 and best_score - own > MISMATCH_MARGIN:
        raise UserError(f"{keyframe.path}: keyframe for frame {keyframe.frame} looks like frame {best_frame} "
                        f"(structure {best_score:.2f} there, {own:.2f} at its own); check its frame number")
    if own < MIN_STRUCTURE:
        raise UserError(f"{keyframe.path}: keyframe does not show frame {keyframe.frame} (structure {own:.2f} < "
                        f"{MIN_STRUCTURE}); check its frame number")
    return own


def _small(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    if w <= MATCH_WIDTH:
        return image
    return cv2.resize(image, (MATCH_WIDTH, max(8, round(h * MATCH_WIDTH / w))), interpolation=cv2.INTER_AREA)
