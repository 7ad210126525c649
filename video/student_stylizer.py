"""The distilled any-painting student (:mod:`transfer.arbitrary.student`) as a frame styliser.

``student_stylizer(...)`` returns ``f(frames (B, H, W, 3) uint8 BGR) -> (B, H, W, 3) uint8 BGR`` for consecutive
batches of one video, like :func:`video.painter_stylizer.painter_stylizer` does with the teacher, and paints the
same way: the style vectors come from the teacher's style-prediction network once per painting
(:func:`video.painter_stylizer.painting_vectors`, which also applies ``strength`` and the colour options); frame
``k`` gets ``weights_at(k) @ vectors`` (schedules and blends); each batch is painted in one network call at
:func:`transfer.arbitrary.magenta.paint_size` (long side ``384 / stroke_scale``) and resized back.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from transfer.arbitrary.magenta import paint_size
from transfer.arbitrary.student import StudentNet, paint_batch
from transfer.color import restore_colors
from video.painter_stylizer import PainterOptions


def paint_frames(net: StudentNet, frames: np.ndarray, vectors: np.ndarray, stroke_scale: float) -> np.ndarray:
    """Return ``frames`` ((B, H, W, 3) uint8 BGR) painted by the student at the stroke scale's size, at (H, W).

    Args:
        vectors: (B, 100) float32, one style vector per frame (or (100,) for all).
    """
    b, h, w = frames.shape[:3]
    pw, ph = paint_size(w, h, stroke_scale)
    if (pw, ph) == (w, h):
        return paint_batch(net, frames, vectors)
    shrink = cv2.INTER_AREA if pw < w else cv2.INTER_CUBIC
    small = np.stack([cv2.resize(f, (pw, ph), interpolation=shrink) for f in frames])
    painted = paint_batch(net, small, vectors)
    grow = cv2.INTER_CUBIC if pw < w else cv2.INTER_AREA
    return np.stack([cv2.resize(p, (w, h), interpolation=grow) for p in painted])


def student_stylizer(net: StudentNet, vectors: np.ndarray, weights_at: Callable[[int], tuple[float, ...]],
                     options: PainterOptions = PainterOptions()) -> Callable[[np.ndarray], np.ndarray]:
    """Return the batch styliser (see the module docstring); frame ``k`` gets ``weights_at(k) @ vectors``.

    Args:
        vectors: (S, 100) float32 from :func:`video.painter_stylizer.painting_vectors`.
        weights_at: frame index -> S weights summing to 1 (:func:`video.arbitrary_stylizer.frame_weights`).
    """

    def stylize(frames: np.ndarray) -> np.ndarray:
        start = stylize.next_index
        per_frame = np.stack([np.asarray(weights_at(start + k), np.float32) @ vectors for k in range(len(frames))])
        painted = paint_frames(net, frames, per_frame.astype(np.float32), options.stroke_scale)
        stylize.next_index = start + len(frames)
        return np.stack([restore_colors(options.colors, p, f) for p, f in zip(painted, frames, strict=True)])

    stylize.next_index = 0
    return stylize
