"""Style transitions over time: which blend of the given styles each output frame is stylised with.

A schedule is written ``WHEN:STYLE,WHEN:STYLE,...`` (``--style-schedule``):

- ``WHEN`` is a 0-based index of an OUTPUT frame (``12``; after ``--every``/``--fps`` frame selection, so frame 0
  is the first frame written) or a time in seconds from the start of the output (``4s``, ``2.5s``), converted to
  the nearest frame index with the output frame rate: ``round(seconds * fps)``.
- ``STYLE`` is the 0-based index of one of the given styles.
- Times must strictly increase. Between two consecutive keys the blend cross-fades linearly from the first key's
  style to the second's; before the first key and after the last the style of that key is held.

So ``"0:0,4:0,8:1"`` holds style 0 up to frame 4, then cross-fades to style 1, reaching it at frame 8: frame 6
is half of each. :meth:`Schedule.weights_at` gives one weight per style (summing to 1), which is what
``transfer.losses.blend_grams`` takes to interpolate the styles' Gram matrices, or what blends the outputs of
per-style fast networks.

Note: the work directory numbers frames from 1 (``frames/000001.png`` is frame index 0 here).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from foundation.errors import UserError

_FRAME = re.compile(r"\d+")
_SECONDS = re.compile(r"(\d+(?:\.\d*)?|\.\d+)s")
_STYLE = re.compile(r"\d+")
_FORM = "WHEN:STYLE, WHEN a frame index like 12 or seconds like 4s, STYLE a 0-based style index"


@dataclass(frozen=True)
class Schedule:
    """Keyframes ``(frame index, style index)`` with strictly increasing frame indices, over ``n_styles`` styles."""

    keys: tuple[tuple[int, int], ...]
    n_styles: int

    def __post_init__(self) -> None:
        if self.n_styles < 1:
            raise ValueError(f"a schedule needs at least one style, got n_styles={self.n_styles}")
        if not self.keys:
            raise ValueError("a schedule needs at least one key")
        for frame, style in self.keys:
            if frame < 0 or not 0 <= style < self.n_styles:
                raise ValueError(f"bad schedule key ({frame}, {style}) for {self.n_styles} styles")
        frames = [f for f, _ in self.keys]
        if any(b <= a for a, b in zip(frames, frames[1:], strict=False)):
            raise ValueError(f"schedule frames must strictly increase, got {frames}")

    @classmethod
    def constant(cls, style: int, n_styles: int) -> Schedule:
        """Return the schedule that uses ``style`` on every frame."""
        return cls(keys=((0, style),), n_styles=n_styles)

    def weights_at(self, frame_index: int) -> tuple[float, ...]:
        """Return the blend weight of each style at output frame ``frame_index`` (``n_styles`` floats, sum 1)."""
        if frame_index < 0:
            raise ValueError(f"frame index must be non-negative, got {frame_index}")
        weights = [0.0] * self.n_styles
        first_frame, first_style = self.keys[0]
        last_frame, last_style = self.keys[-1]
        if frame_index <= first_frame:
            weights[first_style] = 1.0
            return tuple(weights)
        if frame_index >= last_frame:
            weights[last_style] = 1.0
            return tuple(weights)
        for (f0, s0), (f1, s1) in zip(self.keys, self.keys[1:], strict=False):
            if f0 <= frame_index < f1:
                t = (frame_index - f0) / (f1 - f0)
                weights[s0] += 1.0 - t
                weights[s1] += t
                break
        return tuple(weights)

    def weights_for(self, n_frames: int) -> list[tuple[float, ...]]:
        """Return :meth:`weights_at` for frame indices ``0 .. n_frames - 1``."""
        return [self.weights_at(i) for i in range(n_frames)]

    def is_constant(self) -> bool:
        """Return True if every frame gets the same single style (no transition at all)."""
        return len({s for _, s in self.keys}) == 1

    def describe(self) -> str:
        """Return a one-line description, e.g. ``style 0 over frames 0-4, style 0 -> 1 over frames 4-8, style 1 from
        frame 8 on`` for ``"0:0,4:0,8:1"``."""
        (first_frame, first_style), (last_frame, last_style) = self.keys[0], self.keys[-1]
        parts = [f"style {first_style} until frame {first_frame}"] if first_frame > 0 else []
        for (f0, s0), (f1, s1) in zip(self.keys, self.keys[1:], strict=False):
            change = f"{s0}" if s0 == s1 else f"{s0} -> {s1}"
            parts.append(f"style {change} over frames {f0}-{f1}")
        parts.append(f"style {last_style} from frame {last_frame} on")
        return ", ".join(parts)


def parse_schedule(text: str, n_styles: int, fps: float | None = None) -> Schedule:
    """Return the :class:`Schedule` written as ``"WHEN:STYLE,WHEN:STYLE,..."`` (see the module docstring).

    Args:
        text: the schedule, e.g. ``"0:0,4:0,8:1"`` or ``"0:0,2s:0,4.5s:1"``; spaces around items are ignored.
        n_styles: how many styles were given (style indices must lie in ``0 .. n_styles - 1``).
        fps: output frames per second, needed only when a time is given in seconds.

    Raises:
        UserError: empty or unparsable schedule, a style index out of range, times that do not strictly
            increase, or seconds without a positive frame rate; the one-line message quotes the bad item.
    """
    if n_styles < 1:
        raise UserError("style schedule: no styles given")
    items = [item.strip() for item in str(text).split(",")]
    if not any(items):
        raise UserError(f'style schedule is empty: give {_FORM}, e.g. "0:0,4s:1"')
    keys: list[tuple[int, int]] = []
    previous: tuple[str, int] | None = None
    for item in items:
        if not item:
            raise UserError(f'style schedule "{text}" has an empty item (two commas or a trailing comma)')
        when, sep, style_text = (s.strip() for s in item.partition(":"))
        if not sep or not _STYLE.fullmatch(style_text) or not (_FRAME.fullmatch(when) or _SECONDS.fullmatch(when)):
            raise UserError(f'style schedule: "{item}" is not {_FORM}')
        style = int(style_text)
        if style >= n_styles:
            given = "1 style is given (index 0)" if n_styles == 1 else f"{n_styles} styles are given (0-{n_styles - 1})"
            raise UserError(f'style schedule: "{item}" names style {style}, but only {given}')
        frame = _frame_of(when, item, fps)
        if previous is not None and frame <= previous[1]:
            raise UserError(f'style schedule: "{item}" (frame {frame}) is not later than "{previous[0]}" '
                            f"(frame {previous[1]}); times must strictly increase")
        keys.append((frame, style))
        previous = (item, frame)
    return Schedule(keys=tuple(keys), n_styles=n_styles)


def _frame_of(when: str, item: str, fps: float | None) -> int:
    """Return the 0-based output frame index of ``when`` (already known to be ``N`` or ``Xs``)."""
    if _FRAME.fullmatch(when):
        return int(when)
    if fps is None or not fps > 0:
        raise UserError(f'style schedule: "{item}" is in seconds but the frame rate is unknown; give frame indices')
    return round(float(when[:-1]) * fps)
