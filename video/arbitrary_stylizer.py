"""The arbitrary-style network as a frame styliser: any painting (or a blend, or a schedule of them), no training.

``arbitrary_stylizer(...)`` returns ``f(frames (B, H, W, 3) uint8 BGR) -> (B, H, W, 3) uint8 BGR`` for consecutive
batches of one video (it counts frames in ``next_index``, as :func:`video.fast_stylizer.scheduled_stylizer` does),
so :class:`video.fast_stylizer.NetworkStylizer` streams it like a fast-mode network, with the same optional
smoothing along flow. Several paintings are blended by interpolating their feature statistics per frame with the
weights of :mod:`media.schedule` (not by blending outputs: one network pass per frame whatever the count).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf

from foundation.errors import UserError
from media.image_io import read_image
from media.schedule import parse_schedule
from transfer.arbitrary.network import ArbitraryNet
from transfer.arbitrary.statistics import StyleCode, blend, stack
from transfer.color import ColorMode, match_histogram, restore_colors


def painting_codes(net: ArbitraryNet, paintings: Sequence[Path], first_frame: np.ndarray | None = None,
                   colors: ColorMode = ColorMode.NONE) -> list[StyleCode]:
    """Return one ``(1, 1, 1, C)`` code per painting; with ``colors=histogram`` each painting's colours are first
    matched to ``first_frame`` (once, so the code does not change from frame to frame).

    Raises:
        UserError: a painting cannot be read or is too small.
    """
    codes = []
    for path in paintings:
        image = read_image(path)
        if ColorMode(colors) is ColorMode.HISTOGRAM and first_frame is not None:
            image = match_histogram(image, first_frame)
        try:
            codes.append(net.style_code(image))
        except UserError as exc:
            raise UserError(f"{path}: {exc}") from None
    return codes


def frame_weights(n_styles: int, schedule_text: str | None, fps: float | None,
                  blend: Sequence[float] | None) -> Callable[[int], tuple[float, ...]]:
    """Return ``frame index -> one weight per painting (sum 1)``: the schedule's, else the fixed ``blend``
    (equal weights when ``None``).

    Raises:
        UserError: a bad schedule, or a blend with the wrong count or a non-positive sum.
    """
    if schedule_text:
        try:
            return parse_schedule(schedule_text, n_styles, fps).weights_at
        except ValueError as exc:
            raise UserError(f"--style-schedule: {exc}") from None
    weights = np.ones(n_styles) if blend is None else np.asarray(blend, np.float64)
    if len(weights) != n_styles or weights.sum() <= 0 or (weights < 0).any():
        raise UserError(f"--blend needs {n_styles} non-negative weights with a positive sum, got {list(weights)}")
    fixed = tuple(float(w) for w in weights / weights.sum())
    return lambda _index: fixed


def arbitrary_stylizer(net: ArbitraryNet, codes: Sequence[StyleCode], weights_at: Callable[[int], tuple[float, ...]],
                       strength: float = 1.0, colors: ColorMode = ColorMode.NONE) -> Callable[[np.ndarray], np.ndarray]:
    """Return the batch styliser (see the module docstring): frame ``k`` gets the statistics of the paintings
    blended with ``weights_at(k)`` (:func:`frame_weights`); ``strength`` in [0, 1] as in
    :meth:`ArbitraryNet.stylize`; ``colors=luminance`` puts each output's luminance under its frame's colours.

    Raises:
        UserError: a strength outside [0, 1].
    """
    if not 0.0 <= strength <= 1.0:
        raise UserError(f"strength {strength} is outside [0, 1]")
    stacked = stack(codes)  # (S, ...)

    @tf.function(reduce_retracing=True)
    def run(frames, weights):
        code = blend(stacked, weights)  # weights (B, S) -> (B, ...)
        out = net.stylize(tf.cast(frames, tf.float32), code, strength)
        return tf.cast(tf.clip_by_value(tf.round(out), 0.0, 255.0), tf.uint8)

    def stylize(frames: np.ndarray) -> np.ndarray:
        start = stylize.next_index
        weights = np.array([weights_at(start + k) for k in range(len(frames))], np.float32)
        stylize.next_index = start + len(frames)
        out = run(tf.convert_to_tensor(frames), tf.constant(weights)).numpy()
        if ColorMode(colors) is ColorMode.LUMINANCE:
            out = np.stack([restore_colors(colors, o, f) for o, f in zip(out, frames, strict=True)])
        return out

    stylize.next_index = 0
    return stylize
