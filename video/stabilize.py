"""Blind temporal consistency: ``stabilize_video(StabilizeConfig) -> StabilizeResult`` steadies a flickering video.

Any per-frame processed video (stylised by any tool, frame by frame) flickers. Without re-stylising, each processed
frame ``P_t`` is blended with the previous OUTPUT carried along the motion of the ORIGINAL clip,
``out_t = (1 - a c) P_t + a c warp(out_{t-1}, flow_{t->t-1})`` (:func:`media.smoothing.blend_along_flow`, the
blend fast mode's smoothing uses), where the flow and its forward-backward certainty ``c`` come from the original
frames. Where ``c = 0`` (occlusions, new content, motion boundaries, flow leaving the image) and on the first frame
the output is the processed frame exactly; elsewhere the recursion is a moving average along the motion, so a
colour deviation decays by ``a`` every frame instead of accumulating (no low-frequency correction is needed).

Streams: the frame loop (:func:`video.loop.run_frames`) takes pairs (processed, original) from a decoder thread,
the blend runs in the calling thread, the MP4 writer (with the original's audio) in its own thread. ``run.json`` in
the work directory records the config, timings and, per frame, ``mean |out - processed|`` and the warping error
(:func:`media.metrics.warping_error`, Lai et al. 2018) of the processed and of the output video, both measured with
the original's flow and its occlusion mask, on the frames as handed to the encoder.

Resume: a run whose output exists and whose ``run.json`` records the same settings and input files is not redone.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from pathlib import Path

import cv2
import numpy as np

from foundation.atomic import atomic_write_json
from foundation.errors import UserError
from foundation.fingerprint import file_digest, fingerprint
from foundation.paths import check_output_dir, check_output_path
from foundation.records import jsonable
from media.flow import FlowMethod
from media.metrics import occlusion_mask, warping_error
from media.smoothing import blend_along_flow, estimate_motion
from media.video_io import ReadOptions, VideoInfo, iter_frames, probe
from video.loop import FrameItem, Prefetch, run_frames
from video.output import OUTPUT_SUFFIXES, check_video_output, default_workdir, finished_record, side_by_side_path
from video.results import FrameSize
from video.sink import ThreadedSink, VideoSink

#: Blend strength ``a`` unless told otherwise. On 40 frames of vtest at 256 px stylised frame by frame by a fast
#: network trained without a temporal term, 0.6 / 0.7 / 0.8 / 0.9 leave 0.35 / 0.30 / 0.27 / 0.24 of the warping error
#: (judged with the same DIS flow; 0.44 / 0.39 / 0.36 for 0.6-0.8 judged with DeepFlow) for a mean |out - processed| of
#: 2.9 / 3.4 / 4.2 / 5.6 (0..255) and a softer picture as ``a`` grows: 0.7 takes most of the gain.
DEFAULT_STRENGTH = 0.7
DEFAULT_FLOW = FlowMethod.DIS
#: Warp of the previous output. Bicubic: the same warping error as bilinear, but the picture keeps more of its
#: detail through the repeated warps (Laplacian variance 0.93 of the processed frames' at a = 0.7, bilinear 0.91).
INTERPOLATION = "cubic"
#: A processed video may be the original at another scale: its height may differ by this many pixels from the
#: original's aspect at its width (``paintvid video --width`` rounds both sides to a multiple of 8).
SCALE_SLACK_PIXELS = 4.0


@dataclass(frozen=True)
class StabilizeConfig:
    """Everything one stabilisation run needs.

    Attributes:
        original: the clip that was processed; its motion guides the blend.
        processed: the per-frame processed video: one frame per original frame, the original's size or the same
            aspect at another scale (the original is then resized to it for the flow).
        output: the ``.mp4`` to write (H.264, the original's audio).
        strength: blend strength ``a`` in [0, 1] where the flow is certain (0 copies the processed video and only
            measures it).
        flow_method: ``media.flow.FlowMethod`` value (``dis``: fast and accurate enough; ``deepflow``: the slowest).
        flow_scale: estimate flow on frames resized by this factor in [0.1, 1] (0.5 is about 4x cheaper).
        side_by_side: also write ``OUTPUT_side_by_side.mp4`` (processed | stabilised).
        workdir: where ``run.json`` goes (default ``OUTPUT.work/`` beside the output); its record makes a rerun of a
            finished run return at once.
        progress: show a tqdm bar (frames per second, warping-error ratio so far).
    """

    original: Path
    processed: Path
    output: Path
    strength: float = DEFAULT_STRENGTH
    flow_method: FlowMethod = DEFAULT_FLOW
    flow_scale: float = 1.0
    side_by_side: bool = False
    workdir: Path | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        check_video_output(self.output)
        if not 0.0 <= self.strength <= 1.0:
            raise UserError(f"strength {self.strength:g} is outside [0, 1]")
        if not 0.1 <= self.flow_scale <= 1.0:
            raise UserError(f"flow scale {self.flow_scale:g} is outside [0.1, 1]")
        try:
            object.__setattr__(self, "flow_method", FlowMethod(self.flow_method))
        except ValueError:
            choices = ", ".join(m.value for m in FlowMethod)
            raise UserError(f"flow method {self.flow_method!r} is not one of {choices}") from None

    @property
    def resolved_workdir(self) -> Path:
        return default_workdir(self.output, self.workdir)

    @property
    def side_by_side_path(self) -> Path:
        return side_by_side_path(self.output)


@dataclass(frozen=True)
class StabilizeResult:
    """What one stabilisation run did (``run.json`` holds it plus the config).

    Attributes:
        output, side_by_side, workdir: the files written (side_by_side None when not asked for).
        n_frames: frames in the output; size: their size; output_fps: the output's frame rate (the original's).
        seconds: wall time of the frame loop; fps: frames per second of it (decode, flow and encode included);
        stage_seconds: busy seconds of ``decode``, ``flow``, ``blend``, ``metrics``, ``encode``.
        strength, flow_method, flow_scale: the blend that was used.
        abs_difference: per frame, ``mean |out - processed|`` over pixels and channels, 0..255 scale (0 for frame 0).
        warping_error_processed, warping_error_output: per step t = 1..T-1, the warping error of the processed and
            of the output video ([0, 1] images, squared), with the original's flow and occlusion mask.
        mean_abs_difference, mean_warping_error_processed, mean_warping_error_output: their means;
        warping_error_ratio: output over processed (below 1: steadier).
        resumed: True when the run had already finished and nothing was recomputed.
    """

    output: str
    side_by_side: str | None
    workdir: str
    n_frames: int
    size: FrameSize
    output_fps: float
    seconds: float
    fps: float
    stage_seconds: dict[str, float]
    strength: float
    flow_method: str
    flow_scale: float
    abs_difference: tuple[float, ...]
    warping_error_processed: tuple[float, ...]
    warping_error_output: tuple[float, ...]
    mean_abs_difference: float
    mean_warping_error_processed: float
    mean_warping_error_output: float
    warping_error_ratio: float
    resumed: bool = False

    @classmethod
    def from_json(cls, data: dict) -> StabilizeResult:
        """Return the result stored in a ``run.json`` dict (extra keys such as ``config`` are ignored)."""
        values = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        values["size"] = FrameSize(**values["size"])
        for name in ("abs_difference", "warping_error_processed", "warping_error_output"):
            values[name] = tuple(values[name])
        return cls(**values)


@dataclass(frozen=True)
class FramePair(FrameItem):
    """One frame of the loop: ``frame`` the processed frame (what the side-by-side video shows left of the output),
    ``original`` the original frame at the same size, both (H, W, 3) uint8 BGR (a keyword, after the loop's
    optional ``full``; never None in a pair the reader makes)."""

    original: np.ndarray | None = None


class Stabilizer:
    """The styliser of the frame loop: blends each processed frame with the previous output along the original's
    flow (:func:`media.smoothing.blend_along_flow`) and measures what that did, frame by frame.

    :meth:`step` is the whole method for one frame, without any video file; ``abs_difference`` and the two
    ``warping_error_*`` lists grow by one entry per frame (per step for the warping errors).
    """

    batch_size = 1  # every frame needs the previous output

    def __init__(self, strength: float, flow_method: FlowMethod | str = DEFAULT_FLOW, flow_scale: float = 1.0):
        self.strength, self.flow_method, self.flow_scale = strength, FlowMethod(flow_method), flow_scale
        self.abs_difference: list[float] = []
        self.warping_error_processed: list[float] = []
        self.warping_error_output: list[float] = []
        self.seconds = {"flow": 0.0, "blend": 0.0, "metrics": 0.0}
        self._prev: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # original, processed, output

    def step(self, original: np.ndarray, processed: np.ndarray) -> np.ndarray:
        """Return the stabilised (H, W, 3) uint8 BGR frame for the next ``processed`` frame and its ``original``."""
        if original.shape != processed.shape or processed.ndim != 3 or processed.dtype != np.uint8:
            raise ValueError(f"original {original.shape} {original.dtype} and processed {processed.shape} "
                             f"{processed.dtype} must both be (H, W, 3) uint8")
        if self._prev is None:
            out = processed.copy()  # no predecessor: nothing to be consistent with
        else:
            prev_original, prev_processed, prev_out = self._prev
            t = time.perf_counter()
            motion = estimate_motion(original, prev_original, self.flow_method, self.flow_scale)
            t1 = time.perf_counter()
            out = blend_along_flow(processed, prev_out, motion.back, motion.certainty, self.strength, INTERPOLATION)
            t2 = time.perf_counter()
            mask = [occlusion_mask(motion.back, motion.forward)]
            self.warping_error_processed.append(float(warping_error([prev_processed, processed], [motion.back],
                                                                    mask)[0]))
            self.warping_error_output.append(float(warping_error([prev_out, out], [motion.back], mask)[0]))
            self.seconds["flow"] += t1 - t
            self.seconds["blend"] += t2 - t1
            self.seconds["metrics"] += time.perf_counter() - t2
        self.abs_difference.append(float(np.abs(out.astype(np.int16) - processed).mean()))
        self._prev = (original, processed, out)
        return out

    def stylize(self, items: list[FramePair]) -> list[np.ndarray]:
        return [self.step(item.original, item.frame) for item in items]

    def ratio(self) -> float:
        """Return the mean warping error of the output over that of the processed frames so far (NaN before any)."""
        return _ratio(self.warping_error_output, self.warping_error_processed)

    def postfix(self) -> dict:
        return {"warp_err": f"x{self.ratio():.2f}"} if self.warping_error_processed else {}


def check_inputs(config: StabilizeConfig) -> tuple[VideoInfo, VideoInfo]:
    """Return the (original, processed) :class:`VideoInfo`; raise a one-line UserError naming the file that does not
    fit: missing or unreadable, another frame count, or another picture (not the original's size nor a uniform
    scale of it)."""
    original = probe(config.original)
    processed = probe(config.processed)
    if processed.frame_count != original.frame_count:
        raise UserError(f"{config.processed}: {processed.frame_count} frames, but the original {config.original} "
                        f"has {original.frame_count}; stabilize needs one processed frame per original frame")
    if not _same_picture(original, processed):
        raise UserError(f"{config.processed}: frames are {processed.width}x{processed.height} but the original "
                        f"{config.original}'s are {original.width}x{original.height}; the processed video must have "
                        "the original's size or its aspect at another scale")
    return original, processed


def _same_picture(original: VideoInfo, processed: VideoInfo) -> bool:
    """True if ``processed`` has the original's size, or its aspect at another width (height within the slack)."""
    height_at_width = original.height * processed.width / original.width
    return abs(processed.height - height_at_width) <= SCALE_SLACK_PIXELS


def settings_key(config: StabilizeConfig) -> str:
    """Return a fingerprint of everything that determines the output (both input files' contents included)."""
    keys = {k: v for k, v in jsonable(config).items() if k not in ("progress", "workdir")}
    return fingerprint({**keys, "original_digest": file_digest(config.original),
                        "processed_digest": file_digest(config.processed)})


def _finished_run(config: StabilizeConfig, key: str) -> StabilizeResult | None:
    """Return the recorded result if this exact run already finished (its outputs present), else None."""
    previous = finished_record(config.resolved_workdir, config.output, key, config.side_by_side)
    return None if previous is None else replace(StabilizeResult.from_json(previous), resumed=True)


def _pairs(config: StabilizeConfig, original: VideoInfo, processed: VideoInfo) -> Iterator[FramePair]:
    """Yield the frames of both videos in step, the original resized to the processed size when it differs."""
    size = (processed.width, processed.height)
    interpolation = cv2.INTER_AREA if processed.width < original.width else cv2.INTER_CUBIC
    originals = iter_frames(config.original, ReadOptions(), original)
    processeds = iter_frames(config.processed, ReadOptions(), processed)
    for k in range(original.frame_count + 1):
        a, b = next(originals, None), next(processeds, None)
        if a is None and b is None:
            return
        if a is None or b is None:
            short, other = (config.original, config.processed) if a is None else (config.processed, config.original)
            raise UserError(f"{short}: only {k} frames decode, {other} has more; stabilize needs one processed "
                            "frame per original frame")
        frame = a[1] if (a[1].shape[1], a[1].shape[0]) == size else cv2.resize(a[1], size, interpolation=interpolation)
        yield FramePair(k + 1, b[1], original=frame)


def stabilize_video(config: StabilizeConfig) -> StabilizeResult:
    """Stabilise ``config.processed`` along ``config.original``'s motion; write the MP4(s) and ``run.json``."""
    check_output_path(config.output, OUTPUT_SUFFIXES, [config.original, config.processed], what="video")
    check_output_dir(config.resolved_workdir, what="work folder")
    original, processed = check_inputs(config)
    key = settings_key(config)
    if (finished := _finished_run(config, key)) is not None:
        return finished
    stabilizer = Stabilizer(config.strength, config.flow_method, config.flow_scale)
    sink = ThreadedSink(VideoSink(config.output, original.fps, side_by_side=config.side_by_side,
                                  audio_from=config.original, audio_duration=original.duration))
    source = Prefetch(_pairs(config, original, processed))
    loop = run_frames(source, stabilizer, sink, total=original.frame_count,
                      desc=f"stabilize {Path(config.processed).name}", progress=config.progress)
    result = _result(config, loop, original.fps, source, stabilizer, sink)
    atomic_write_json(config.resolved_workdir / "run.json",
                      {"status": "done", "settings_key": key, "config": jsonable(config), **jsonable(result)})
    return result


def _result(config: StabilizeConfig, loop, fps: float, source: Prefetch, stabilizer: Stabilizer,
            sink: ThreadedSink) -> StabilizeResult:
    h, w = sink.sink.size
    wall = loop.wall_seconds
    return StabilizeResult(
        output=str(config.output), side_by_side=str(config.side_by_side_path) if config.side_by_side else None,
        workdir=str(config.resolved_workdir), n_frames=loop.frames, size=FrameSize(h, w), output_fps=fps,
        seconds=wall, fps=loop.frames / wall if wall > 0 else 0.0,
        stage_seconds={"decode": source.busy_seconds, **stabilizer.seconds, "encode": sink.busy_seconds},
        strength=config.strength, flow_method=config.flow_method.value, flow_scale=config.flow_scale,
        abs_difference=tuple(stabilizer.abs_difference),
        warping_error_processed=tuple(stabilizer.warping_error_processed),
        warping_error_output=tuple(stabilizer.warping_error_output),
        mean_abs_difference=float(np.mean(stabilizer.abs_difference)),
        mean_warping_error_processed=_nanmean(stabilizer.warping_error_processed),
        mean_warping_error_output=_nanmean(stabilizer.warping_error_output),
        warping_error_ratio=stabilizer.ratio(),
    )


def _nanmean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def _ratio(output: list[float], processed: list[float]) -> float:
    """Mean warping error of the output over the processed one, over the steps where both are defined."""
    pairs = [(o, p) for o, p in zip(output, processed, strict=True) if math.isfinite(o) and math.isfinite(p)]
    total = sum(p for _, p in pairs)
    return sum(o for o, _ in pairs) / total if total > 0 else float("nan")
