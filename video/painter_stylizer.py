"""The any-painting painter (Magenta's arbitrary-style networks on onnxruntime) as a frame styliser.

``painter_stylizer(...)`` returns ``f(frames (B, H, W, 3) uint8 BGR) -> (B, H, W, 3) uint8 BGR`` for consecutive
batches of one video (it counts frames in ``next_index``, like :func:`video.arbitrary_stylizer.arbitrary_stylizer`),
so :class:`video.fast_stylizer.NetworkStylizer` streams it with its smoothing along flow, which is what keeps the
painted marks steady: each output is blended with the previous output carried along the input's motion where the
flow is certain (:mod:`media.smoothing`).

Each frame is painted at :func:`transfer.arbitrary.magenta.paint_size` (its long side ``384 / stroke_scale``) and
brought back to the frame's size with a bicubic resize. Several paintings blend through their style vectors
(Magenta's 100 numbers interpolate smoothly), per frame with the weights of :mod:`media.schedule`; ``strength``
interpolates from the first frame's own style vector (0) to the paintings' (1), once for the whole clip so that it
cannot flicker.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from foundation.errors import UserError
from media.image_io import read_image
from transfer.arbitrary.magenta import MagentaPainter, check_stroke_scale, paint_frame
from transfer.color import ColorMode, match_histogram, restore_colors


@dataclass(frozen=True)
class PainterOptions:
    """How the painter paints: ``strength`` in [0, 1]; ``stroke_scale`` in [0.25, 4] (2 = marks twice as large
    relative to the frame); ``colors``: keep the frames' colours (``luminance``) or recolour the paintings to the
    first frame before their style is taken (``histogram``)."""

    strength: float = 1.0
    stroke_scale: float = 1.0
    colors: ColorMode = ColorMode.NONE

    def __post_init__(self) -> None:
        if not 0.0 <= self.strength <= 1.0:
            raise UserError(f"strength {self.strength} is outside [0, 1]")
        check_stroke_scale(self.stroke_scale)
        object.__setattr__(self, "colors", ColorMode(self.colors))


def painting_vectors(painter: MagentaPainter, paintings: Sequence[Path], first_frame: np.ndarray | None,
                     options: PainterOptions) -> np.ndarray:
    """Return ``(S, 100) float32``: one style vector per painting, pulled toward ``first_frame``'s own vector by
    ``1 - strength``; with ``colors=histogram`` each painting is first recoloured to ``first_frame``."""
    vectors = []
    for path in paintings:
        image = read_image(path)
        if options.colors is ColorMode.HISTOGRAM and first_frame is not None:
            image = match_histogram(image, first_frame)
        vectors.append(painter.style_vector(image))
    stacked = np.stack(vectors)
    if options.strength < 1.0:
        if first_frame is None:
            raise ValueError("strength below 1 needs the first frame")
        own = painter.style_vector(first_frame)
        stacked = options.strength * stacked + (1.0 - options.strength) * own[None]
    return stacked.astype(np.float32)


def painter_stylizer(painter: MagentaPainter, vectors: np.ndarray, weights_at: Callable[[int], tuple[float, ...]],
                     options: PainterOptions = PainterOptions()) -> Callable[[np.ndarray], np.ndarray]:
    """Return the batch styliser (see the module docstring); frame ``k`` gets ``weights_at(k) @ vectors``.

    Args:
        vectors: (S, 100) float32 from :func:`painting_vectors`.
        weights_at: frame index -> S weights summing to 1 (:func:`video.arbitrary_stylizer.frame_weights`).
    """

    def stylize(frames: np.ndarray) -> np.ndarray:
        start = stylize.next_index
        out = []
        for k, frame in enumerate(frames):
            vector = np.asarray(weights_at(start + k), np.float32) @ vectors
            painted = paint_frame(painter, frame, vector, options.stroke_scale)
            out.append(restore_colors(options.colors, painted, frame))
        stylize.next_index = start + len(frames)
        return np.stack(out)

    stylize.next_index = 0
    return stylize
