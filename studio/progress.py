"""Live progress of a running job, read from its work directory by polling (no hooks into the video runner).

Only the work directory's layout is relied on: ``frames/NNNNNN.png`` (all extracted before stylising starts) and
``stylized/NNNNNN.png`` (one per finished frame), each written atomically. Speed comes from the stylised frames'
file times; the current loss from per-frame records when the runner has written some (``run.json``'s ``frames``,
or the per-shot ``shots/*_frames.json``), so the page keeps working when the runner changes how it records them.
Fast mode streams straight into the MP4 and reports only when it is done.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Progress:
    """What a job's work directory says about it.

    frames_done: stylised frames on disk; frames_total: frames of the run (None before extraction finished);
    seconds_per_frame: mean over the frames stylised so far (None before the first); eta_seconds: for the rest;
    loss: total loss of the latest stylised frame; latest_frame: its PNG (None before the first).
    """

    frames_done: int = 0
    frames_total: int | None = None
    seconds_per_frame: float | None = None
    eta_seconds: float | None = None
    loss: float | None = None
    latest_frame: Path | None = None

    def describe(self) -> str:
        """Return one line for the page, e.g. ``3 / 10 frames · 4.2 s/frame · ETA 29 s · loss 1.3e+05``."""
        if self.frames_total is None:
            return "preparing frames and optical flow" if not self.frames_done else f"{self.frames_done} frames"
        parts = [f"{self.frames_done} / {self.frames_total} frames"]
        if self.seconds_per_frame is not None:
            parts.append(f"{self.seconds_per_frame:.1f} s/frame")
        if self.eta_seconds is not None:
            parts.append(f"ETA {format_seconds(self.eta_seconds)}")
        if self.loss is not None:
            parts.append(f"loss {self.loss:.3g}")
        return " · ".join(parts)


def format_seconds(seconds: float) -> str:
    """Return ``42 s``, ``3 min 05 s`` or ``1 h 02 min``."""
    s = max(0, int(math.ceil(seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def read_run_json(workdir: Path) -> dict:
    """Return ``workdir/run.json`` or ``{}`` when it is absent or unreadable."""
    try:
        return json.loads((Path(workdir) / "run.json").read_text())
    except (OSError, ValueError):
        return {}


def read_progress(workdir: Path) -> Progress:
    """Return the :class:`Progress` of the optimisation run in ``workdir`` (all zeros before it started)."""
    workdir = Path(workdir)
    done = sorted((workdir / "stylized").glob("[0-9]*.png"))
    total = read_run_json(workdir).get("n_frames")
    if not total and done:  # stylising has begun, so every frame has been extracted
        total = len(list((workdir / "frames").glob("[0-9]*.png"))) or None
    per_frame = seconds_per_frame(done)
    eta = per_frame * max(0, total - len(done)) if per_frame is not None and total else None
    latest = max(frame_records(workdir), key=lambda f: (f.get("pass", 1), f.get("frame", 0)), default=None)
    loss = latest.get("losses", {}).get("total") if latest else None
    return Progress(frames_done=len(done), frames_total=int(total) if total else None, seconds_per_frame=per_frame,
                    eta_seconds=eta, loss=float(loss) if loss is not None else None,
                    latest_frame=done[-1] if done else None)


def seconds_per_frame(stylized: list[Path]) -> float | None:
    """Return the (lower) median time between consecutive stylised frames, None for fewer than 2.

    The median, not the mean: a server restart between two frames is one long gap and must not set the ETA.
    """
    times = sorted(p.stat().st_mtime for p in stylized if p.exists())
    gaps = sorted(b - a for a, b in zip(times, times[1:], strict=False))
    return gaps[(len(gaps) - 1) // 2] if gaps else None


def frame_records(workdir: Path) -> list[dict]:
    """Return the per-frame records (``frame``, ``pass``, ``seconds``, ``losses``) found in ``workdir``, if any."""
    records = dict(read_run_json(workdir).get("frames") or {})
    for path in sorted((Path(workdir) / "shots").glob("*_frames.json")):
        try:
            records.update(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return [r for r in records.values() if isinstance(r, dict)]
