"""Keyframe-guided stylisation: ``stylize_video_keyframes(KeyframeVideoConfig) -> VideoResult``.

The painted keyframes are the style: every other frame is built from the keyframes around it in its shot
(:mod:`video.keyframe_propagation`). Stages, each resumable from the work directory (:mod:`video.workdir`): the
frames and the shots (:mod:`video.prepare`; each shot needs a keyframe, and nothing crosses a cut), the keyframes'
content check against their frames (:mod:`video.keyframes`), each shot's consecutive flows both ways with their
forward-backward certainties (``flow/``, ``certainty/``: :func:`media.propagation.step_certainty`, not the
optimisation path's), each shot's frames (``stylized/``; a shot whose frames all exist is not
redone), then the MP4 with the source's audio and, if asked, the side-by-side video. ``run.json`` records the
result; a finished run with the same settings and files is not redone.
"""

from __future__ import annotations

import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from foundation.errors import UserError
from foundation.fingerprint import file_digest, fingerprint
from foundation.records import jsonable
from media.flo import read_flo, write_flo
from media.flow import FlowMethod, estimate_flow
from media.propagation import step_certainty
from media.shots import Shot, ShotsConfig
from media.video_io import ReadOptions, VideoInfo, expected_frames, frame_size, output_fps, probe, selected_span
from video.keyframe_propagation import DEFAULT_FILL_SMOOTHING, PropagationSettings, render_shot
from video.keyframes import Keyframe, check_content, check_numbers, fit_keyframe, match_scores, read_keyframe
from video.loop import FrameItem, run_frames
from video.output import check_video_output, default_workdir, finished_record, side_by_side_path
from video.prepare import extract_frames, find_run_shots
from video.results import FrameSize, ShotRecord, VideoResult, result_from_json
from video.sink import VideoSink
from video.workdir import WorkDir

#: Input frames the propagation keeps in memory (a backward sweep's frames are read again going forward), and
#: consecutive flows (each is used by one sweep and the smoothing right after).
FRAMES_KEPT = 64
STEPS_KEPT = 8
#: The content check compares a keyframe with the frames this many frames either side of its own.
MATCH_WINDOW = 30
#: Changes when the propagation makes other frames from the same inputs (a work directory's frames are redone).
PROPAGATION_VERSION = 2


@dataclass(frozen=True)
class KeyframeVideoConfig:
    """Everything one keyframe run needs.

    Attributes:
        video, output: input clip and output ``.mp4``; ``workdir`` defaults to ``OUTPUT.work/`` beside the output.
        keyframes: the painted frames (:class:`video.keyframes.Keyframe`: 1-based frame number, image file); any
            size of the frames' shape (resized to the working size with a notice).
        read: which frames, at which size and rate (``media.video_io.ReadOptions``).
        flow: optical flow carrying the marks (``media.flow.FlowMethod``; ``dis`` by default: accurate and fast).
        fill_smoothing: blend in [0, 1] of the previous output into what neither keyframe saw (0 = off).
        detail: keep the brush texture's contrast where two keyframes blend (False: plain linear blend).
        check_content: refuse a keyframe that does not show its frame (a wrong frame number).
        side_by_side: also write ``OUTPUT_side_by_side.mp4``; audio: copy the source's audio.
        shots: where the hard cuts are (``media.shots``); every shot needs a keyframe of its own.
    """

    video: Path
    keyframes: tuple[Keyframe, ...]
    output: Path
    workdir: Path | None = None
    read: ReadOptions = field(default_factory=ReadOptions)
    flow: FlowMethod = FlowMethod.DIS
    fill_smoothing: float = DEFAULT_FILL_SMOOTHING
    detail: bool = True
    check_content: bool = True
    side_by_side: bool = False
    audio: bool = True
    shots: ShotsConfig = field(default_factory=ShotsConfig)
    progress: bool = True

    def __post_init__(self) -> None:
        check_video_output(self.output)
        try:
            object.__setattr__(self, "flow", FlowMethod(self.flow))
        except ValueError:
            raise UserError(f"flow {self.flow!r} is not one of {', '.join(m.value for m in FlowMethod)}") from None
        if not 0.0 <= self.fill_smoothing <= 1.0:
            raise UserError(f"smoothing {self.fill_smoothing} is outside [0, 1]")
        if not self.keyframes:
            raise UserError("give at least one keyframe (--keyframe N=FILE or --keyframes DIR)")
        object.__setattr__(self, "keyframes", tuple(self.keyframes))

    @property
    def resolved_workdir(self) -> Path:
        return default_workdir(self.output, self.workdir)


class WorkDirFrames:
    """The run's frames and consecutive flows as :class:`video.keyframe_propagation.FrameSource` reads them; the
    last ``keep`` frames and :data:`STEPS_KEPT` flows read stay in memory."""

    def __init__(self, workdir: WorkDir, keep: int = FRAMES_KEPT):
        self.workdir, self.keep = workdir, keep
        self._frames: dict[int, np.ndarray] = {}
        self._steps: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def frame(self, i: int) -> np.ndarray:
        if i not in self._frames:
            if len(self._frames) >= self.keep:
                self._frames.pop(next(iter(self._frames)))
            self._frames[i] = self.workdir.read_png(self.workdir.frame(i))
        return self._frames[i]

    def step(self, i: int, j: int) -> tuple[np.ndarray, np.ndarray]:
        if (i, j) not in self._steps:
            if len(self._steps) >= STEPS_KEPT:
                self._steps.pop(next(iter(self._steps)))
            self._steps[(i, j)] = read_flo(self.workdir.flow(i, j)), self.workdir.read_certainty(i, j)
        return self._steps[(i, j)]


def compute_steps(workdir: WorkDir, frames: range, method: FlowMethod, progress: bool = True) -> None:
    """Make sure ``flow/i_j.flo`` and ``certainty/i_j.png`` (:func:`media.propagation.step_certainty`) exist both
    ways for every pair of consecutive frames in ``frames`` (1-based, one shot); skips what exists."""
    todo = [i for i in frames[1:] if not all(p.exists() for p in (
        workdir.flow(i, i - 1), workdir.flow(i - 1, i), workdir.certainty(i, i - 1), workdir.certainty(i - 1, i)))]
    for i in tqdm(todo, desc=f"flow ({method.value})", unit="pair", disable=not progress, leave=False):
        a, b = workdir.read_png(workdir.frame(i)), workdir.read_png(workdir.frame(i - 1))
        back, forward = estimate_flow(a, b, method), estimate_flow(b, a, method)
        write_flo(workdir.flow(i, i - 1), back)
        write_flo(workdir.flow(i - 1, i), forward)
        workdir.write_certainty(i, i - 1, step_certainty(back, forward))
        workdir.write_certainty(i - 1, i, step_certainty(forward, back))


def stage_keys(config: KeyframeVideoConfig) -> dict[str, str]:
    """Fingerprints of the settings each stage depends on (frames < flow < stylize)."""
    video = Path(config.video)
    stat = video.stat()
    frames = {"video": str(video.resolve()), "size": stat.st_size, "mtime": stat.st_mtime, "read": config.read}
    flow = {"frames": frames, "flow": config.flow}
    stylize = {"flow": flow, "keyframes": [(k.frame, file_digest(k.path)) for k in config.keyframes],
               "fill_smoothing": config.fill_smoothing, "detail": config.detail,
               "version": PROPAGATION_VERSION,
               "shots": {"config": config.shots, "file": file_digest(config.shots.file) if config.shots.file else None}}
    return {"frames": fingerprint(frames), "flow": fingerprint(flow), "stylize": fingerprint(stylize)}


def settings_key(config: KeyframeVideoConfig, stages: dict[str, str]) -> str:
    """Return a fingerprint of everything that determines the output files (the video's content included)."""
    return fingerprint({"stages": stages, "side_by_side": config.side_by_side, "audio": config.audio,
                        "video_digest": file_digest(config.video)})


def _finished_run(config: KeyframeVideoConfig, key: str) -> VideoResult | None:
    """Return the recorded result if this exact run already finished (its outputs present), else None."""
    previous = finished_record(config.resolved_workdir, config.output, key, config.side_by_side)
    return None if previous is None else replace(result_from_json(previous), resumed=True)


def load_keyframes(config: KeyframeVideoConfig, info: VideoInfo) -> tuple[tuple[Keyframe, ...], dict[int, np.ndarray]]:
    """Return (the keyframes sorted, {frame: image at the working size}); one notice line for resized ones."""
    keyframes = check_numbers(config.keyframes, expected_frames(info, config.read))
    size = frame_size(info.width, info.height, config.read.width) if config.read.width else (info.width, info.height)
    images, resized = {}, []
    for k in keyframes:
        images[k.frame], changed = fit_keyframe(k, read_keyframe(k), size)
        if changed:
            resized.append(str(k.frame))
    if resized:
        _log(config, f"keyframes for frame(s) {', '.join(resized)} resized to the working size {size[0]}x{size[1]}")
    return keyframes, images


def check_keyframe_content(workdir: WorkDir, keyframes: tuple[Keyframe, ...], images: dict[int, np.ndarray],
                           n: int) -> dict[int, float]:
    """Return {frame: structure score against its own frame}; UserError for a keyframe that shows another frame."""
    scores = {}
    for k in keyframes:
        first, last = max(1, k.frame - MATCH_WINDOW), min(n, k.frame + MATCH_WINDOW)
        frames = (workdir.read_png(workdir.frame(i)) for i in range(first, last + 1))
        scores[k.frame] = check_content(k, match_scores(images[k.frame], list(frames)), first)
    return scores


def _check_shots(keyframes: tuple[Keyframe, ...], shots: list[Shot]) -> None:
    for shot in shots:
        if not any(shot.start < k.frame <= shot.end for k in keyframes):
            raise UserError(f"frames {shot.start + 1}..{shot.end} form a shot of their own (a cut before frame "
                            f"{shot.start + 1}) with no keyframe; paint one of them, or pass --shots none or a cuts "
                            "file")


def stylize_video_keyframes(config: KeyframeVideoConfig) -> VideoResult:
    """Build ``config.video`` from its painted keyframes; write the MP4(s) and ``run.json``; return the result."""
    started = time.perf_counter()
    info = probe(config.video)
    keyframes, images = load_keyframes(config, info)
    stages = stage_keys(config)
    key = settings_key(config, stages)
    if (finished := _finished_run(config, key)) is not None:
        return finished
    fps = output_fps(info, config.read)
    workdir = WorkDir(config.resolved_workdir)
    workdir.reconcile(stages, log=lambda m: _log(config, m))
    n = extract_frames(workdir, Path(config.video), config.read, config.progress, info)
    keyframes = check_numbers(keyframes, n)
    shots = find_run_shots(workdir, n, config.shots, fps, stages["frames"], config.progress)
    _check_shots(keyframes, shots)
    scores = check_keyframe_content(workdir, keyframes, images, n) if config.check_content else {}
    prepared = time.perf_counter()
    records = [_run_shot(config, workdir, k + 1, shot, images) for k, shot in enumerate(shots)]
    built = time.perf_counter()
    _encode(config, workdir, info, n, fps)
    finished_at = time.perf_counter()
    computed = sum(r.result["frames_computed"] for r in records)
    first = workdir.read_png(workdir.frame(1))
    result = VideoResult(
        method="keyframes", output=str(config.output),
        side_by_side=str(side_by_side_path(config.output)) if config.side_by_side else None,
        workdir=str(workdir.root), n_frames=n, size=FrameSize(int(first.shape[0]), int(first.shape[1])),
        output_fps=fps, fps=computed / (finished_at - started), wall_seconds=finished_at - started,
        stage_seconds={"prepare": prepared - started, "flow": sum(r.result["flow_seconds"] for r in records),
                       "propagate": sum(r.result["stylize_seconds"] for r in records),
                       "encode": finished_at - built},
        resumed=computed == 0, shots=records,
        model={"keyframes": [{"frame": k.frame, "path": str(k.path), "structure": scores.get(k.frame)}
                             for k in keyframes], "flow": config.flow.value, "fill_smoothing": config.fill_smoothing,
               "detail": config.detail},
    )
    workdir.save_run({"status": "done", "settings_key": key, "keys": stages, "config": jsonable(config),
                      **jsonable(result)})
    return result


def _run_shot(config: KeyframeVideoConfig, workdir: WorkDir, number: int, shot: Shot,
              images: dict[int, np.ndarray]) -> ShotRecord:
    """Compute one shot's flows and frames (skipped when all its frames exist); return its record."""
    t0 = time.perf_counter()
    frames = range(shot.start + 1, shot.end + 1)
    compute_steps(workdir, frames, config.flow, config.progress)
    t1 = time.perf_counter()
    computed = 0
    if not all(workdir.stylized(i).exists() for i in frames):
        settings = PropagationSettings(fill_smoothing=config.fill_smoothing, detail=config.detail)
        inside = {i: image for i, image in images.items() if i in frames}
        made = render_shot(WorkDirFrames(workdir), frames, inside, settings)
        # PNG encoding (it releases the GIL) overlaps the next frame's propagation
        with ThreadPoolExecutor(max_workers=1) as writer:
            writes = [writer.submit(workdir.write_png, workdir.stylized(i), out)
                      for i, out in tqdm(made, total=len(frames), desc=f"keyframes shot {number}", unit="frame",
                                         disable=not config.progress, leave=False)]
        for done in writes:
            done.result()  # a failed write raises here
        computed = len(writes)
    t2 = time.perf_counter()
    return ShotRecord(shot=number, start=shot.start, end=shot.end, frames=len(shot), status="done", attempt=1,
                      host=socket.gethostname(), pid=os.getpid(), threads=None, seconds=t2 - t0,
                      result={"frames_computed": computed, "flow_seconds": t1 - t0, "stylize_seconds": t2 - t1})


class _StoredFrames:
    """The encode stage's styliser: each stylised frame read back from the work directory."""

    batch_size = 1

    def __init__(self, workdir: WorkDir):
        self.workdir = workdir

    def stylize(self, items: list[FrameItem]) -> list[np.ndarray]:
        return [self.workdir.read_png(self.workdir.stylized(item.index)) for item in items]

    def postfix(self) -> dict:
        return {}


def _encode(config: KeyframeVideoConfig, workdir: WorkDir, info: VideoInfo, n: int, fps: float) -> None:
    start, duration = selected_span(info, config.read)
    sink = VideoSink(config.output, fps, side_by_side=config.side_by_side,
                     audio_from=config.video if config.audio else None, audio_start=start, audio_duration=duration)
    items = (FrameItem(i, workdir.read_png(workdir.frame(i))) for i in range(1, n + 1))
    run_frames(items, _StoredFrames(workdir), sink, total=n, desc="encode", progress=config.progress)


def _log(config: KeyframeVideoConfig, message: str) -> None:
    if config.progress:
        tqdm.write(message)
