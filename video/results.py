"""What a video run returns and records in ``run.json``: frozen dataclasses the CLI, notebooks and benchmarks read.

``run.json`` holds :func:`foundation.records.jsonable` of a :class:`VideoResult` plus the run's ``config`` (and, for
the optimisation path, the stage ``keys``); :func:`read_result` turns it back into a :class:`VideoResult`, so a
renamed field fails in a test instead of printing ``?``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from foundation.errors import UserError


@dataclass(frozen=True)
class FrameSize:
    """Size of the stylised frames in pixels."""

    height: int
    width: int


@dataclass(frozen=True)
class RunSummary:
    """Losses and cost of the optimisation path over the last pass (per output frame, all passes' cost counted)."""

    mean_style_loss: float
    mean_content_loss: float
    mean_seconds_per_frame: float
    first_frame_iterations: int | None
    mean_later_iterations: float


@dataclass(frozen=True)
class Throughput:
    """Where the wall time of a streaming (fast-network) run went."""

    setup_seconds: float
    time_share: dict[str, float]
    busy_fraction_of_wall: dict[str, float]
    encoder_process_cpu_seconds: float


@dataclass(frozen=True)
class ShotRecord:
    """One shot of an optimisation run and its last attempt (``video.distributed``'s status file).

    start, end: 0-based frames of the shot (end exclusive); frames: their count. status: ``done`` (or, in a
    run record written by a failed run, ``running`` / ``failed`` / ``pending``). attempt: how often the shot was
    started, over all runs of the work directory. host, pid, threads: where the last attempt ran (threads: its
    TensorFlow intra-op threads, None in the driver's process). seconds: its duration. result: what it computed
    (``frames_computed``, ``flow_seconds``, ``stylize_seconds``).
    """

    shot: int
    start: int
    end: int
    frames: int
    status: str
    attempt: int
    host: str
    pid: int
    threads: int | None
    seconds: float
    result: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_status(cls, status: dict) -> ShotRecord:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in status.items() if k in known})


@dataclass(frozen=True)
class VideoResult:
    """The outcome of one video run (either method).

    Attributes:
        method: ``optimize`` or ``fast``. output / side_by_side / workdir: the files written.
        n_frames: frames in the output. size: their size (the output size). output_fps: frame rate of the output.
        fps: frames stylised per second of this run's wall time (decode and encode included).
        stage_seconds: busy seconds per stage (optimisation: prepare, stylize, encode; fast: decode, stylize,
            smooth, encode). resumed: True when everything was already done and nothing was recomputed.
        summary: optimisation path only. frames: optimisation path only, ``{"PASS:FRAME": {frame, pass,
            iterations, stopped_early, seconds, losses}}``. weights_used: the VGG16 weights (optimisation path).
        throughput, model: fast path only. shots: optimisation path only, one :class:`ShotRecord` per shot.
        working_size: the size the method painted at (``size`` when the frames were not upsampled).
        peak_rss_mb: the run's peak resident memory in MiB (``getrusage``; the whole process so far).
    """

    method: str
    output: str
    side_by_side: str | None
    workdir: str
    n_frames: int
    size: FrameSize
    output_fps: float
    fps: float
    wall_seconds: float
    stage_seconds: dict[str, float]
    resumed: bool = False
    summary: RunSummary | None = None
    frames: dict[str, dict] = field(default_factory=dict)
    weights_used: str | None = None
    throughput: Throughput | None = None
    model: dict[str, Any] | None = None
    shots: list[ShotRecord] = field(default_factory=list)
    working_size: FrameSize | None = None
    peak_rss_mb: float | None = None


def result_from_json(data: dict) -> VideoResult:
    """Return the :class:`VideoResult` stored in a ``run.json`` dict (extra keys such as ``config`` are ignored)."""
    known = {f.name for f in fields(VideoResult)}
    values = {k: v for k, v in data.items() if k in known}
    values["size"] = FrameSize(**values["size"])
    if values.get("working_size"):
        values["working_size"] = FrameSize(**values["working_size"])
    if values.get("summary"):
        values["summary"] = RunSummary(**values["summary"])
    if values.get("throughput"):
        values["throughput"] = Throughput(**values["throughput"])
    values["shots"] = [ShotRecord.from_status(s) for s in values.get("shots") or []]
    return VideoResult(**values)


def read_result(run_json: str | Path) -> VideoResult:
    """Return the :class:`VideoResult` recorded in ``run_json``; UserError when it is missing or not a run record."""
    path = Path(run_json)
    try:
        return result_from_json(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise UserError(f"{path}: not a run record of `paintvid video` ({type(exc).__name__}: {exc})") from None
