"""Temporally coherent video style transfer (Ruder et al. 2016/2018): ``stylize_video(VideoConfig) -> VideoResult``.

Stages, each resumable from the work directory (:mod:`video.workdir`): extract the frames and split them into shots
at hard cuts (:mod:`video.prepare`, :mod:`media.shots`); then each shot, in this process or as a Ray task
(:mod:`video.distributed`), computes its flows and certainties and stylises every missing frame of every pass
through the frame loop (:mod:`video.shot_job`, :mod:`video.loop`,
:class:`video.optimization_stylizer.OptimizationStylizer`); once all shots are done the loop runs once more from
the stored frames into the MP4 writer (:class:`video.sink.VideoSink`).
"""

from __future__ import annotations

import functools
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from foundation.fingerprint import file_digest, fingerprint
from foundation.records import jsonable
from media.frame_pairs import iter_frame_pairs
from media.schedule import parse_schedule
from media.shots import Shot
from media.video_io import VideoInfo, output_fps, probe, selected_span
from transfer.backbone import BUNDLED, IMAGENET, describe_weights
from transfer.color import restore_colors
from transfer.seeding import seed_everything
from transfer.stylize import load_styles
from video.config import VideoConfig
from video.distributed import ClusterConfig, ShotJob, read_status, run_shots
from video.loop import FrameItem, run_frames
from video.output import side_by_side_path
from video.prepare import extract_frames, find_run_shots
from video.results import FrameSize, RunSummary, ShotRecord, VideoResult
from video.shot_job import frames_of, read_records, stylize_shot
from video.sink import VideoSink
from video.upsample_sink import UpsamplingSink, peak_rss_mb
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
        "iterations": [config.first_iterations, config.iterations, config.pass_iterations,
                       config.coarse_iterations, config.disocclusion],
        "optimizer": [config.optimizer, config.adam_learning_rate, config.stall_tolerance, config.lbfgs_memory],
        "long_term": config.long_term,
        "passes": [config.passes, config.pass_blend],
        "schedule": config.style_schedule,
        "preserve_colors": config.preserve_colors,
        "seed": config.seed,
        # the detector's settings (or the cuts file's bytes) with the frames decide the cuts
        "shots": {"config": config.shots, "file": file_digest(config.shots.file) if config.shots.file else None},
    }
    return {"frames": fingerprint(frames), "flow": fingerprint(flow), "stylize": fingerprint(stylize)}


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


def _schedule(config: VideoConfig, n_styles: int, fps: float):
    return parse_schedule(config.style_schedule, n_styles, fps) if config.style_schedule else None


def _prepare(config: VideoConfig, workdir: WorkDir, keys: dict, info: VideoInfo, fps: float) -> list[Shot]:
    """Reconcile the work directory with ``keys``, extract the frames and find the shots (flows are each shot's
    job); return the shots."""
    workdir.reconcile(keys, log=lambda m: _log(config, m))
    n = extract_frames(workdir, Path(config.video), config.read, config.progress, info)
    return find_run_shots(workdir, n, config.shots, fps, keys["frames"], config.progress)


def _stylize_shots(config: VideoConfig, workdir: WorkDir, shots: list[Shot], fps: float, keys: dict
                   ) -> tuple[list[ShotRecord], dict]:
    """Run every shot (in this process, or as Ray tasks with ``config.cluster``); return their records and the
    merged per-frame records."""
    n = shots[-1].end
    jobs = [ShotJob(k + 1, shot) for k, shot in enumerate(shots)]
    # one shot gains nothing from a local Ray instance; an explicit cluster is always used
    cluster = config.cluster if len(jobs) > 1 or config.cluster.resolved_address else ClusterConfig()
    quiet = replace(config, progress=False) if cluster.uses_ray else config  # workers draw no bars: one bar here
    job = functools.partial(stylize_shot, quiet, n, fps, keys["stylize"])
    folders = ["stylized"] if config.passes == 1 else [f"pass{p}" for p in range(1, config.passes + 1)]

    def frames_done() -> int:
        return sum(len(list((workdir.root / f).glob("0*.png"))) for f in folders)

    try:
        statuses = run_shots(jobs, job, cluster, workdir.root, frames_done, n * config.passes, config.progress)
    finally:
        frames = {k: v for j in jobs for k, v in read_records(workdir, j.number).items()}
        workdir.save_run({**workdir.load_run(), "keys": keys, "frames": frames,
                          "shots": [read_status(workdir.root, j.number) or _pending(j) for j in jobs]})
    return [ShotRecord.from_status(s) for s in statuses], frames


def _pending(job: ShotJob) -> dict:
    return {"shot": job.number, "start": job.shot.start, "end": job.shot.end, "frames": len(job.shot),
            "status": "pending", "attempt": 0}


def _encode(config: VideoConfig, workdir: WorkDir, info: VideoInfo, n: int, fps: float) -> UpsamplingSink:
    """Write the stored frames into the MP4 (upsampled to ``config.output_width`` on the way); return the sink."""
    start, duration = selected_span(info, config.read)
    sink = UpsamplingSink(VideoSink(config.output, fps, side_by_side=config.side_by_side, audio_from=config.video,
                                    audio_start=start, audio_duration=duration), config.upsample)
    run_frames(_encode_items(config, workdir, info, n), _StoredFrames(config, workdir), sink, total=n,
               desc="encode", progress=config.progress)
    return sink


def _encode_items(config: VideoConfig, workdir: WorkDir, info: VideoInfo, n: int):
    """Return the encode loop's items: the stored content frames, with the input frame at the output size (decoded
    again from the video, one at a time) when an output width is set."""
    stored = frames_of(workdir, list(range(1, n + 1)))
    if config.output_width is None:
        return stored
    pairs = iter_frame_pairs(config.video, config.read, config.output_width, info)
    return (FrameItem(item.index, item.frame, full) for item, (_, _, full) in zip(stored, pairs, strict=True))


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
    shots = _prepare(config, workdir, keys, info, fps)
    n = shots[-1].end
    prepared = time.perf_counter()
    weights_used = describe_weights(config.style.weights)
    first = workdir.read_png(workdir.frame(1))
    _log(config, f"weights: {weights_used}; {n} frames at {first.shape[1]}x{first.shape[0]} in {len(shots)} "
                 f"shot(s); work directory {workdir.root}")
    workdir.save_run({"keys": keys, "config": jsonable(config), "weights_used": weights_used})
    done_before = sum(workdir.stylized(i).exists() for i in range(1, n + 1))
    shot_records, frames = _stylize_shots(config, workdir, shots, fps, keys)
    stylized = time.perf_counter()
    sink = _encode(config, workdir, info, n, fps)
    finished = time.perf_counter()
    result = VideoResult(
        method="optimize", output=str(config.output),
        side_by_side=str(side_by_side_path(config.output)) if config.side_by_side else None,
        workdir=str(workdir.root), n_frames=n, size=FrameSize(*sink.size),
        working_size=FrameSize(int(first.shape[0]), int(first.shape[1])), peak_rss_mb=peak_rss_mb(),
        output_fps=fps, fps=(n - done_before) / (finished - started), wall_seconds=finished - started,
        stage_seconds={"prepare": prepared - started, "stylize": stylized - prepared, "encode": finished - stylized,
                       "upsample": sink.busy_seconds,
                       **stylize_breakdown(frames, shot_records)},
        resumed=done_before == n, summary=summarize(list(frames.values()), config.passes),
        frames=frames, weights_used=weights_used, shots=shot_records,
    )
    workdir.save_run({"keys": keys, "config": jsonable(config), **jsonable(result)})
    return result


def stylize_breakdown(frames: dict, shots: list[ShotRecord]) -> dict[str, float]:
    """Return where the stylise stage's time went, summed over frames and shots: ``flow`` (flows and certainties
    this run computed), ``warp`` (earlier results warped in), ``vgg`` (loss-and-gradient passes) and
    ``optimizer_overhead`` (the optimiser's own work)."""
    parts = {"flow": sum(float(s.result.get("flow_seconds", 0.0)) for s in shots)}
    for key in ("warp", "vgg", "optimizer_overhead"):
        parts[key] = sum(f.get("stage_seconds", {}).get(key, 0.0) for f in frames.values())
    return parts


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
    """Return the mean over frames that start no shot of the iterations each received, summed over all passes."""
    per_frame: dict[int, int] = {}
    for f in frame_stats:
        if not f.get("first_of_shot", f["frame"] == 1):
            per_frame[f["frame"]] = per_frame.get(f["frame"], 0) + f["iterations"]
    return float(np.mean(list(per_frame.values()))) if per_frame else 0.0


def _log(config: VideoConfig, message: str) -> None:
    if config.progress:
        tqdm.write(message)
