"""One shot of an optimisation run as a unit of work: its flows, then every pass over its frames.

``stylize_shot(config, n_frames, fps, stylize_key, job)`` is what :func:`video.distributed.run_shots` calls, in
this process or in a Ray worker. It reads and writes only the work directory: frames it finds stylised are
skipped (a retried or rerun shot resumes at its first missing frame), its per-frame records live in
``shots/000002_frames.json`` (saved after every frame), and no flow or warp crosses the shot's borders.
"""

from __future__ import annotations

import json
import time

import numpy as np

from foundation.atomic import atomic_write_json
from media.schedule import parse_schedule
from transfer.color import prepare_inputs
from transfer.losses import blend_grams
from transfer.seeding import seed_everything
from transfer.stylize import blend_weights, build_objective, load_styles, style_grams_for
from video.config import VideoConfig
from video.distributed import ShotJob
from video.loop import FrameItem, run_frames
from video.optimization_stylizer import OptimizationStylizer
from video.prepare import compute_flows
from video.workdir import WorkDir

#: The objective and style targets of the run this process works on (a Ray worker keeps them between shots).
_CONTEXT: dict[str, tuple] = {}


class WorkDirSink:
    """Writes each stylised frame of a pass as a lossless PNG, then saves the records (so a kill loses nothing)."""

    def __init__(self, workdir: WorkDir, out_pass: int | None, save):
        self.workdir, self.out_pass, self.save = workdir, out_pass, save

    def write(self, index: int, original: np.ndarray, stylized: np.ndarray) -> None:
        self.workdir.write_png(self.workdir.stylized(index, self.out_pass), stylized)
        self.save()

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def frames_of(workdir: WorkDir, order: list[int]):
    """Yield the content frames ``order`` (1-based) as loop items, read one at a time."""
    return (FrameItem(i, workdir.read_png(workdir.frame(i))) for i in order)


def flow_offsets(config: VideoConfig) -> list[int]:
    """Return the frame offsets whose flows the run needs (multi-pass always needs the neighbours')."""
    return sorted(config.long_term if config.passes == 1 else {*config.long_term, 1})


def records_path(workdir: WorkDir, number: int):
    return workdir.root / "shots" / f"{number:06d}_frames.json"


def read_records(workdir: WorkDir, number: int) -> dict:
    """Return shot ``number``'s per-frame records so far (``{"PASS:FRAME": {...}}``)."""
    path = records_path(workdir, number)
    return json.loads(path.read_text()) if path.exists() else {}


def stylize_shot(config: VideoConfig, n_frames: int, fps: float, stylize_key: str, job: ShotJob) -> dict:
    """Stylise every missing frame of every pass of ``job``'s shot; return what this call computed."""
    workdir = WorkDir(config.resolved_workdir)
    frames = range(job.shot.start + 1, job.shot.end + 1)
    t0 = time.perf_counter()
    compute_flows(workdir, n_frames, flow_offsets(config), config.flow, config.flow_dir, config.progress, frames)
    flowed = time.perf_counter()
    passes = [None] if config.passes == 1 else list(range(1, config.passes + 1))
    missing = sum(not workdir.stylized(i, p).exists() for p in passes for i in frames)
    missing += sum(not workdir.stylized(i).exists() for i in frames) if config.passes > 1 else 0
    if missing == 0:
        return {"frames_computed": 0, "flow_seconds": flowed - t0, "stylize_seconds": 0.0}
    objective, grams_at = _context(config, workdir, fps, stylize_key)
    records = read_records(workdir, job.number)
    computed = 0
    for p in range(1, config.passes + 1):
        out_pass = None if config.passes == 1 else p
        order = list(frames) if p % 2 == 1 else list(reversed(frames))
        todo = [i for i in order if not workdir.stylized(i, out_pass).exists()]
        stylizer = OptimizationStylizer(config, workdir, objective, grams_at, frames, p, records, job.number,
                                        grams_at_width=grams_at)
        desc = "stylize" if config.passes == 1 else f"pass {p}/{config.passes} ({'fwd' if p % 2 else 'bwd'})"
        if job.number > 1 or job.shot.end < n_frames:
            desc = f"shot {job.number} {desc}"
        sink = WorkDirSink(workdir, out_pass, lambda: atomic_write_json(records_path(workdir, job.number), records))
        run_frames(frames_of(workdir, todo), stylizer, sink, total=len(frames), initial=len(frames) - len(todo),
                   desc=desc, progress=config.progress)
        computed += len(todo)
    if config.passes > 1:
        for i in frames:
            if not workdir.stylized(i).exists():
                workdir.copy_atomic(workdir.stylized(i, config.passes), workdir.stylized(i))
    return {"frames_computed": computed, "flow_seconds": flowed - t0, "stylize_seconds": time.perf_counter() - flowed}


def _context(config: VideoConfig, workdir: WorkDir, fps: float, stylize_key: str) -> tuple:
    """Return (objective, grams_at) of the run ``stylize_key``, built once per process."""
    if stylize_key not in _CONTEXT:
        _CONTEXT.clear()  # one run at a time: free the previous run's network
        seed_everything(config.seed)
        objective = build_objective(config.style)
        _CONTEXT[stylize_key] = (objective, grams_at_of(config, objective, workdir, load_styles(config.style), fps))
    return _CONTEXT[stylize_key]


def grams_at_of(config: VideoConfig, objective, workdir: WorkDir, styles: list[np.ndarray], fps: float):
    """Return ``grams_at(i, width=None)``: the (blended or scheduled) style Gram targets of frame i, for a content
    of ``width`` pixels (default the frames' own; the pyramid's coarse level asks for half, with the style images
    resized alike so the strokes keep their size relative to the frame; cached per width)."""
    first = workdir.read_png(workdir.frame(1))
    _, styles = prepare_inputs(config.preserve_colors, first, styles)  # once per run: a fixed style target
    by_width = {first.shape[1]: style_grams_for(objective, config.style, styles, first.shape[1])}
    schedule = parse_schedule(config.style_schedule, len(styles), fps) if config.style_schedule else None

    def grams_at(i: int, width: int | None = None) -> dict:
        width = first.shape[1] if width is None else width
        if width not in by_width:
            by_width[width] = style_grams_for(objective, config.style, styles, width)
        weights = schedule.weights_at(i - 1) if schedule is not None else blend_weights(config.style)
        return blend_grams(by_width[width], weights)

    return grams_at
