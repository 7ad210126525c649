"""One shot of a keyframe run: every frame built from the painted keyframes around it (:mod:`media.propagation`).

For the frames between keyframes a < b: a backward sweep from b carries b's marks to each frame (flow accumulated
frame to frame, :func:`media.propagation.compose`) and keeps them (uint8, about 1.6 MB per 640x360 frame of the
gap); a forward sweep from a does the same for a and blends the two on the fly (:func:`media.propagation.combine`,
linear weights by distance). Frames before the shot's first keyframe come from it alone, those after the last
from the last. What neither keyframe saw is painted in their colours (the fill); the fill, unlike carried marks,
follows each frame's input and would shimmer, so it is blended with the previous output along the flow
(:func:`media.smoothing.blend_along_flow`) in proportion to its share. A :class:`FillPainter` may paint that part
instead (e.g. a painting network conditioned on the keyframes). Keyframes themselves are output as painted.
Nothing crosses the shot's borders.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from media.propagation import (
    Look,
    blend_weight,
    carry_look,
    colour_model,
    combine,
    compose,
    identity_carry,
    to_uint8,
    unseen_share,
)
from media.smoothing import blend_along_flow

#: Blend of the previous output into the fill (where neither keyframe is certain), along the flow.
DEFAULT_FILL_SMOOTHING = 0.5


class FrameSource(Protocol):
    """Frames and consecutive flows of a run, by 1-based frame number."""

    def frame(self, i: int) -> np.ndarray:
        """Return input frame i, (H, W, 3) uint8 BGR."""
        ...

    def step(self, i: int, j: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (flow i -> j (H, W, 2) float32, its certainty (H, W) float32 in [0, 1]) for |i - j| = 1 (the
        certainty of :func:`media.propagation.step_certainty`)."""
        ...


class FillPainter(Protocol):
    """Paints what no keyframe saw in a frame (the fill), in place of the keyframes' colour model."""

    def __call__(self, frame: np.ndarray, styles: dict[int, float], colours: np.ndarray) -> np.ndarray:
        """Return the (H, W, 3) float32 0..255 fill of ``frame`` ((H, W, 3) uint8 BGR input).

        Args:
            styles: {keyframe number: weight}, weights summing to 1 (the blend by distance).
            colours: (H, W, 3) float32 0..255, the colour model's fill (the keyframes' local colours).
        """
        ...


#: Below this largest unseen share in a frame, a :class:`FillPainter` is not called (nothing it paints shows).
FILL_PAINT_MIN = 0.02


@dataclass(frozen=True)
class PropagationSettings:
    """How a shot is built: ``fill_smoothing`` in [0, 1] (0 = off), ``detail`` keeps the contrast of the brush
    texture where two keyframes blend (False: a plain linear blend, for comparison)."""

    fill_smoothing: float = DEFAULT_FILL_SMOOTHING
    detail: bool = True


def carried_looks(source: FrameSource, key: int, keyframe: np.ndarray, frames: Sequence[int]) -> Iterator[
        tuple[int, Look]]:
    """Yield (i, the keyframe's :class:`Look` at frame i) for ``frames``, consecutive and moving away from ``key``."""
    model = colour_model(keyframe, source.frame(key))
    carry = identity_carry(*keyframe.shape[:2])
    previous = key
    for i in frames:
        flow, certainty = source.step(i, previous)
        carry = compose(carry, flow, certainty)
        yield i, carry_look(keyframe, model, source.frame(i), carry)
        previous = i


def segments(frames: range, keys: Sequence[int]) -> list[tuple[int | None, int | None]]:
    """Return the (keyframe before, keyframe after) pairs that cover ``frames`` (None at a shot's open ends)."""
    inside = sorted(k for k in keys if k in frames)
    if not inside:
        raise ValueError(f"no keyframe among frames {frames.start}..{frames.stop - 1}")
    pairs: list[tuple[int | None, int | None]] = []
    if inside[0] > frames.start:
        pairs.append((None, inside[0]))
    pairs += list(zip(inside[:-1], inside[1:], strict=True))
    if inside[-1] < frames.stop - 1:
        pairs.append((inside[-1], None))
    return pairs


def render_shot(source: FrameSource, frames: range, keyframes: dict[int, np.ndarray],
                settings: PropagationSettings = PropagationSettings(),
                fill_painter: FillPainter | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (i, output frame (H, W, 3) uint8 BGR) for every frame of the shot ``frames`` (1-based), in order.

    ``keyframes``: {frame number: (H, W, 3) uint8 BGR painted image at the frames' size}; at least one inside.
    ``fill_painter`` paints what no keyframe saw (default: the keyframes' colour model).
    """
    for i, out, _ in render_shot_parts(source, frames, keyframes, settings, fill_painter):
        yield i, out


def render_shot_parts(source: FrameSource, frames: range, keyframes: dict[int, np.ndarray],
                      settings: PropagationSettings = PropagationSettings(),
                      fill_painter: FillPainter | None = None) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Yield (i, output frame, (H, W) float32 share in [0, 1] of it that no keyframe saw) as :func:`render_shot`."""
    pieces = segments(frames, list(keyframes))
    previous: tuple[int, np.ndarray] | None = None
    seen = np.zeros(next(iter(keyframes.values())).shape[:2], np.float32)
    if frames.start in keyframes:  # the shot opens on a keyframe
        previous = (frames.start, keyframes[frames.start])
        yield *previous, seen
    for a, b in pieces:
        for i, out, unseen in _segment(source, a, b, frames, keyframes, settings, previous, fill_painter):
            previous = (i, out)
            yield i, out, seen if unseen is None else unseen


def _styles(a: int | None, b: int | None, weight_b: float) -> dict[int, float]:
    """Return {keyframe: weight} of the blend by distance (one keyframe at a shot's open end)."""
    if a is None or b is None:
        return {a if b is None else b: 1.0}
    return {a: 1.0 - weight_b, b: weight_b}


def _painted_fill(painter: FillPainter | None, frame: np.ndarray, look_a: Look | None, look_b: Look | None,
                  styles: dict[int, float]) -> np.ndarray | None:
    """Return the painter's fill of ``frame``, or None (the colour model's) without a painter or anything unseen."""
    if painter is None or unseen_share(look_a, look_b).max() < FILL_PAINT_MIN:
        return None
    colours = sum(w * look.fill for w, look in zip(styles.values(), [x for x in (look_a, look_b) if x is not None],
                                                   strict=True))
    return np.asarray(painter(frame, styles, np.asarray(colours, np.float32)), np.float32)


def _segment(source: FrameSource, a: int | None, b: int | None, frames: range, keyframes: dict[int, np.ndarray],
             settings: PropagationSettings, previous: tuple[int, np.ndarray] | None,
             fill_painter: FillPainter | None) -> Iterator[tuple[int, np.ndarray, np.ndarray | None]]:
    """Yield the frames strictly between keyframes a and b (an open end: the shot's border), then b itself, each
    with the share no keyframe saw (None for b)."""
    start = frames.start if a is None else a + 1
    stop = frames.stop if b is None else b
    between = range(start, stop)
    from_b: dict[int, Look] = {}
    if b is not None:
        from_b = {i: _pack(look) for i, look in carried_looks(source, b, keyframes[b], between[::-1])}
    forward = carried_looks(source, a, keyframes[a], between) if a is not None else ((i, None) for i in between)
    for i, look_a in forward:
        look_b = _unpack(from_b.pop(i)) if b is not None else None
        weight_b = blend_weight(i, a, b) if a is not None and b is not None else float(a is None)
        fill = _painted_fill(fill_painter, source.frame(i), look_a, look_b, _styles(a, b, weight_b))
        image, fill_share = combine(look_a, look_b, weight_b, settings.detail, fill)
        out = to_uint8(image)
        if previous is not None and previous[0] == i - 1 and settings.fill_smoothing > 0:
            flow, certainty = source.step(i, i - 1)
            out = blend_along_flow(out, previous[1], flow, certainty * fill_share, settings.fill_smoothing, "cubic")
        previous = (i, out)
        yield i, out, fill_share
    if b is not None:
        yield b, keyframes[b], None


def _pack(look: Look) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return a look as uint8 arrays (a quarter of the memory; carried marks are stored as the output would be)."""
    return to_uint8(look.image), to_uint8(look.fill), np.rint(look.certainty * 255).astype(np.uint8)


def _unpack(packed: tuple[np.ndarray, np.ndarray, np.ndarray]) -> Look:
    image, fill, certainty = packed
    return Look(image.astype(np.float32), fill.astype(np.float32), certainty.astype(np.float32) / 255.0)
