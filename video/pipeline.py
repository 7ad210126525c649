"""Temporally coherent video style transfer (Ruder et al. 2016/2018): ``stylize_video(VideoConfig) -> VideoResult``.

Stages, each resumable from the work directory (:mod:`video.workdir`): extract the frames, compute flows and
certainties (:mod:`video.prepare`), stylise every missing frame of every pass through the frame loop
(:mod:`video.loop`) with :class:`video.optimization_stylizer.OptimizationStylizer`, then run the loop once more
from the stored frames into the MP4 writer (:class:`video.sink.VideoSink`).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from foundation.fingerprint import file_digest, fingerprint
from foundation.records import jsonable
from media.schedule import parse_schedule
from media.video_io import VideoInfo, output_fps, probe, selected_span
from transfer.backbone import BUNDLED, IMAGENET, describe_weights
from transfer.color import prepare_inputs, restore_colors
from transfer.losses import blend_grams
from transfer.seeding import seed_everything
from transfer.stylize import blend_weights, build_objective, load_styles, style_grams_for
from video.config import VideoConfig
from video.loop import FrameItem, run_frames
from video.optimization_stylizer import OptimizationStylizer
from video.output import side_by_side_path
from video.prepare import compute_flows, extract_frames
from video.results import FrameSize, RunSummary, VideoResult
from video.sink import VideoSink
from video.workdir import WorkDir


def stage_keys(config: VideoConfig) -> dict[str, str]:
    """Fingerprints of the settings each stage depends on (frames < flow < stylize)."""
    video = Path(config.video)
    stat = video.stat()
    frames = {"video": str(video.resolve()), "size": stat.st_size, "mtime": stat.st_mtime, "read": config.read}
    flow = {"frames": frames, "flow": config.flow, "flow_dir": config.flow_dir}
    spec = config.style
    weights_id = spec.weights if spec.weights in (BUNDLED, IMAGENET) else file_digest(spec.weights)
    stylize = {
        "flow": flow,
        "styles": [file_digest(p) for p in spec.styles],
        "style": {**jsonable(spec), "styles": None, "weights": weights_id},
        "loss": config.loss,
        "init": config.init,
        "first_init": config.first_init,
        "iterations": [config.first_iterations, config.iterations, config.pass_iterations],
        "optimizer": [config.optimizer, config.adam_learning_rate, config.stall_tolerance],
        "long_term": config.long_term,
        "passes": [config.passes, config.pass_blend],
        "schedule": config.style_schedule,
        "preserve_colors": config.preserve_colors,
        "seed": config.seed,
    }
    return {"frames": fingerprint(frames), "flow": fingerprint(flow), "stylize": fingerprint(stylize)}


class _WorkDirSink:
    """Writes each stylised frame of a pass as a lossless PNG, then saves the run record (so a kill loses nothing)."""

    def __init__(self, workdir: WorkDir, out_pass: int | None, save):
        self.workdir, self.out_pass, self.save = workdir, out_pass, save

    def write(self, index: int, original: np.ndarray, stylized: np.ndarray) -> None:
        self.workdir.write_png(self.workdir.stylized(index, self.out_pass), stylized)
        self.save()

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


class _StoredFrames:
    """The encode stage's styliser: each frame as it goes into the video, read back from the work directory."""

    batch_size = 1

    def __init__(self, config: VideoConfig, workdir: WorkDir):
        self.config, self.workdir = config, workdir

    def stylize(self, items: list[FrameItem]) -> list[np.ndarray]:
        return [final_frame(self.config, self.workdir, item.index) for item in items]

    def postfix(self) -> dict:
        return {}


def final_frame(config: VideoConfig, workdir: WorkDir, i: int) -> np.ndarray:
    """Return stylised frame i as it goes into the video (content colours restored in luminance mode)."""
    return restore_colors(config.preserve_colors, workdir.read_png(workdir.stylized(i)),
                          workdir.read_png(workdir.frame(i)))


def _frames_of(workdir: WorkDir, order: list[int]):
    return (FrameItem(i, workdir.read_png(workdir.frame(i))) for i in order)


def _schedule(config: VideoConfig, n_styles: int, fps: float):
    return parse_schedule(config.style_schedule, n_styles, fps) if config.style_schedule else None


def _grams_at(config: VideoConfig, objective, workdir: WorkDir, styles: list[np.ndarray], fps: float):
    """Return ``grams_at(i)``: the (blended or scheduled) style Gram targets of frame i."""
    first = workdir.read_png(workdir.frame(1))
    _, styles = prepare_inputs(config.preserve_colors, first, styles)  # once per run: a fixed style target
    style_grams = style_grams_for(objective, config.style, styles, first.shape[1])
    schedule = _schedule(config, len(styles), fps)

    def grams_at(i: int) -> dict:
        weights = schedule.weights_at(i - 1) if schedule is not None else blend_weights(config.style)
        return blend_grams(style_grams, weights)

    return grams_at


def _prepare(config: VideoConfig, workdir: WorkDir, keys: dict, info: VideoInfo) -> int:
    """Reconcile the work directory with ``keys``, extract the frames and compute the flows; return the count."""
    workdir.reconcile(keys, log=lambda m: _log(config, m))
    n = extract_frames(workdir, Path(config.video), config.read, config.progress, info)
    offsets = config.long_term if config.passes == 1 else sorted({*config.long_term, 1})
    compute_flows(workdir, n, offsets, config.flow, config.flow_dir, config.progress)
    return n


def _stylize_passes(config: VideoConfig, workdir: WorkDir, n: int, objective, grams_at, run: dict) -> None:
    """Stylise every missing frame of every pass (odd passes forward, even passes backward)."""
    for p in range(1, config.passes + 1):
        out_pass = None if config.passes == 1 else p
        order = list(range(1, n + 1)) if p % 2 == 1 else list(range(n, 0, -1))
        todo = [i for i in order if not workdir.stylized(i, out_pass).exists()]
        stylizer = OptimizationStylizer(config, workdir, objective, grams_at, n, p, run["frames"])
        desc = "stylize" if config.passes == 1 else f"pass {p}/{config.passes} ({'fwd' if p % 2 else 'bwd'})"
        run_frames(_frames_of(workdir, todo), stylizer, _WorkDirSink(workdir, out_pass, lambda: workdir.save_run(run)),
                   total=n, initial=n - len(todo), desc=desc, progress=config.progress)
    if config.passes > 1:
        for i in range(1, n + 1):
            if not workdir.stylized(i).exists():
                workdir.copy_atomic(workdir.stylized(i, config.passes), workdir.stylized(i))


def _encode(config: VideoConfig, workdir: WorkDir, info: VideoInfo, n: int, fps: float) -> None:
    start, duration = selected_span(info, config.read)
    sink = VideoSink(config.output, fps, side_by_side=config.side_by_side, audio_from=config.video,
                     audio_start=start, audio_duration=duration)
    run_frames(_frames_of(workdir, list(range(1, n + 1))), _StoredFrames(config, workdir), sink, total=n,
               desc="encode", progress=config.progress)


def stylize_video(config: VideoConfig) -> VideoResult:
    """Stylise ``config.video`` into ``config.output`` (MP4); record the result in ``run.json`` and return it."""
    started = time.perf_counter()
    info = probe(config.video)
    fps = output_fps(info, config.read)
    styles = load_styles(config.style)
    _schedule(config, len(styles), fps)  # a bad schedule fails before any work
    seed_everything(config.seed)
    workdir = WorkDir(config.resolved_workdir)
    keys = stage_keys(config)
    n = _prepare(config, workdir, keys, info)
    prepared = time.perf_counter()
    run = workdir.load_run()
    frames = run.get("frames", {}) if run.get("keys") == keys else {}
    run = {"keys": keys, "config": jsonable(config), "weights_used": describe_weights(config.style.weights),
           "frames": frames}
    first = workdir.read_png(workdir.frame(1))
    _log(config, f"weights: {run['weights_used']}; {n} frames at {first.shape[1]}x{first.shape[0]}; "
                 f"work directory {workdir.root}")
    done_before = sum(workdir.stylized(i).exists() for i in range(1, n + 1))
    objective = build_objective(config.style)
    _stylize_passes(config, workdir, n, objective, _grams_at(config, objective, workdir, styles, fps), run)
    stylized = time.perf_counter()
    _encode(config, workdir, info, n, fps)
    finished = time.perf_counter()
    result = VideoResult(
        method="optimize", output=str(config.output),
        side_by_side=str(side_by_side_path(config.output)) if config.side_by_side else None,
        workdir=str(workdir.root), n_frames=n, size=FrameSize(int(first.shape[0]), int(first.shape[1])),
        output_fps=fps, fps=(n - done_before) / (finished - started), wall_seconds=finished - started,
        stage_seconds={"prepare": prepared - started, "stylize": stylized - prepared, "encode": finished - stylized},
        resumed=done_before == n, summary=summarize(list(run["frames"].values()), config.passes),
        frames=run["frames"], weights_used=run["weights_used"],
    )
    workdir.save_run({**run, **jsonable(result)})
    return result


def summarize(frame_stats: list[dict], passes: int) -> RunSummary | None:
    """Return the run's :class:`RunSummary` from its per-frame records (None before any frame is done)."""
    last_pass = [f for f in frame_stats if f["pass"] == passes] or frame_stats
    if not last_pass:
        return None
    first = [f["iterations"] for f in frame_stats if f["frame"] == 1 and f["pass"] == 1]
    return RunSummary(
        mean_style_loss=float(np.mean([f["losses"]["style"] for f in last_pass])),
        mean_content_loss=float(np.mean([f["losses"]["content"] for f in last_pass])),
        # per output frame, all passes included
        mean_seconds_per_frame=sum(f["seconds"] for f in frame_stats) / len({f["frame"] for f in frame_stats}),
        first_frame_iterations=first[0] if first else None,
        # every pass counts: with --passes 2 a later frame costs its first-pass and its second-pass iterations
        mean_later_iterations=_mean_later_iterations(frame_stats),
    )


def _mean_later_iterations(frame_stats: list[dict]) -> float:
    """Return the mean over frames 2..n of the iterations each received, summed over all passes."""
    per_frame: dict[int, int] = {}
    for f in frame_stats:
        if f["frame"] != 1:
            per_frame[f["frame"]] = per_frame.get(f["frame"], 0) + f["iterations"]
    return float(np.mean(list(per_frame.values()))) if per_frame else 0.0


def _log(config: VideoConfig, message: str) -> None:
    if config.progress:
        tqdm.write(message)
