"""Streaming video stylisation with a trained fast network: ``stylize_video_fast(FastVideoConfig) -> dict``.

Three stages overlap in three threads, connected by small bounded queues so that only a few frames are ever
in memory: a decoder (``media.video_io.iter_frames``), the network (batches of ``batch_size`` frames, in the calling
thread; TensorFlow releases the GIL while it computes) and an encoder (``media.encode.VideoWriter``, whose
ffmpeg runs as a separate process). Each stage's busy time is measured; ``run.json`` in the work directory
records ``fps`` (frames stylised per second of wall time, decode and encode included) and the time shares.

Optional temporal smoothing blends each output with the previous output warped by the flow of the input
frames, under the forward-backward certainty: ``out = (1 - a c) net(I_t) + a c warp(out_{t-1})``.

Resume: a run whose output exists and whose ``run.json`` records the same settings is not redone. A run killed
midway starts again from the first frame; at real-time speed that costs what the killed run had done.
"""

from __future__ import annotations

import queue
import resource
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from foundation.atomic import atomic_write_json
from foundation.errors import UserError
from foundation.records import jsonable
from media.video_io import ReadOptions
from transfer.features import Precision

OUTPUT_SUFFIXES = (".mp4", ".m4v", ".mov")
_DONE = object()
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")


@dataclass(frozen=True)
class FastVideoConfig:
    """Everything one fast-mode video run needs.

    Attributes:
        video: input clip; model: a ``.keras`` file from ``paintvid train-style``; output: the ``.mp4``.
        workdir: where ``run.json`` goes (default ``OUTPUT.work/`` beside the output, like the optimisation path).
        read: which frames, at which width and rate (``media.video_io.ReadOptions``).
        batch_size: frames per network call.
        precision: ``bfloat16`` (default; ~1.3x faster on CPUs with AVX-512 BF16) or ``float32``.
        smoothing: 0 (off) or the blend factor ``a`` in (0, 1] of the flow-warped previous output.
        flow_method: flow used by smoothing (``media.flow.FlowMethod`` value; ``dis`` is the fast one).
        flow_scale: smoothing estimates flow on frames resized by this factor (cheaper), see :func:`smooth_frame`.
        side_by_side: also write ``OUTPUT_side_by_side.mp4`` (original | stylised).
        audio: copy the source's audio under the selected span.
        encoder_preset: x264 speed preset; the optimisation path's ``medium`` costs about as much CPU per
            640x360 frame as the slim network, so real time needs a faster one (same CRF quality target).
        queue_frames: frames each queue holds at most (bounds memory).
        extra_models, style_schedule: style transitions in fast mode. One network is one style, so the models
            (``model`` is style 0, ``extra_models`` styles 1, 2, ...) all run and their OUTPUTS are blended per frame
            with the schedule's weights (:mod:`media.schedule`); a network whose weight is zero for a whole batch
            is skipped, so a hard switch costs nothing extra.
    """

    video: Path
    model: Path
    output: Path
    workdir: Path | None = None
    read: ReadOptions = field(default_factory=ReadOptions)
    batch_size: int = 4
    precision: Precision = Precision.BFLOAT16
    smoothing: float = 0.0
    flow_method: str = "dis"
    flow_scale: float = 0.5
    side_by_side: bool = False
    audio: bool = True
    encoder_preset: str = "veryfast"
    queue_frames: int = 16
    extra_models: tuple[Path, ...] = ()
    style_schedule: str | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        if Path(self.output).suffix.lower() not in OUTPUT_SUFFIXES:
            raise UserError(f"{self.output}: output must be an .mp4 file")
        if not 1 <= self.batch_size <= 256:
            raise UserError(f"batch size {self.batch_size} is outside [1, 256]")
        if not 0.0 <= self.smoothing <= 1.0:
            raise UserError(f"smoothing {self.smoothing} is outside [0, 1]")
        if self.encoder_preset not in X264_PRESETS:
            raise UserError(f"encoder preset {self.encoder_preset!r} is not one of {', '.join(X264_PRESETS)}")
        if not 0.1 <= self.flow_scale <= 1.0:
            raise UserError(f"flow scale {self.flow_scale} is outside [0.1, 1]")
        if self.queue_frames < 1:
            raise UserError("queue_frames must be at least 1")

    @property
    def resolved_workdir(self) -> Path:
        return Path(self.workdir) if self.workdir else Path(self.output).with_suffix(".work")

    @property
    def side_by_side_path(self) -> Path:
        out = Path(self.output)
        return out.with_name(f"{out.stem}_side_by_side{out.suffix}")


def compile_stylizer(net) -> Callable[[np.ndarray], np.ndarray]:
    """Return ``f(frames (B, H, W, 3) uint8 BGR) -> (B, H, W, 3) uint8 BGR`` running ``net`` as one graph."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec((None, None, None, 3), tf.uint8)], reduce_retracing=True)
    def run(frames):
        out = net(tf.cast(frames, tf.float32))
        return tf.cast(tf.clip_by_value(tf.round(out), 0.0, 255.0), tf.uint8)

    return lambda frames: run(tf.convert_to_tensor(frames)).numpy()


def scheduled_stylizer(stylizers: list, schedule_text: str | None, fps: float):
    """Return ``f(frames) -> stylised frames`` for consecutive batches, blending several networks by a schedule.

    With one network this is that network. With several, frame k of the video (counted across calls via the
    ``next_index`` attribute) gets ``sum_j w_j(k) * net_j(frame)`` with ``w(k)`` from :mod:`media.schedule`.
    """
    from foundation.errors import UserError

    if len(stylizers) == 1 and not schedule_text:
        def single(frames):
            return stylizers[0](frames)

        single.next_index = 0
        return single
    if not schedule_text:
        raise UserError("several fast models need --style-schedule to say when each one is used")
    from media.schedule import parse_schedule

    schedule = parse_schedule(schedule_text, len(stylizers), fps)

    def blended(frames):
        start = blended.next_index
        weights = np.array([schedule.weights_at(start + k) for k in range(len(frames))], np.float32)  # (B, S)
        blended.next_index = start + len(frames)
        total = np.zeros(frames.shape, np.float32)
        for j, run in enumerate(stylizers):
            if weights[:, j].max() > 0:
                total += weights[:, j, None, None, None] * run(frames).astype(np.float32)
        return np.clip(np.rint(total), 0, 255).astype(np.uint8)

    blended.next_index = 0
    return blended


def smooth_frame(
    out: np.ndarray,
    prev_out: np.ndarray,
    frame: np.ndarray,
    prev_frame: np.ndarray,
    alpha: float,
    flow_method: str,
    flow_scale: float = 1.0,
) -> np.ndarray:
    """Return ``out`` blended with ``prev_out`` warped into this frame, under the flow certainty (uint8 BGR).

    Args:
        out, prev_out: (H, W, 3) uint8 stylised frames t and t-1; frame, prev_frame: the input frames.
        alpha: blend factor in [0, 1] where the flow is certain.
        flow_scale: estimate flow and certainty on frames resized by this factor (<= 1), then upsample them;
            0.5 makes smoothing about 4x cheaper.
    """
    import cv2

    from media.consistency import certainty
    from media.flow import estimate_flow
    from media.warp import warp

    h, w = frame.shape[:2]
    a, b = frame, prev_frame
    if flow_scale < 1.0:
        size = (max(8, round(w * flow_scale)), max(8, round(h * flow_scale)))
        a = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        b = cv2.resize(prev_frame, size, interpolation=cv2.INTER_AREA)
    back = estimate_flow(a, b, flow_method)
    cert = certainty(back, estimate_flow(b, a, flow_method))
    if flow_scale < 1.0:
        back = cv2.resize(back, (w, h), interpolation=cv2.INTER_LINEAR) * np.float32([w / a.shape[1], h / a.shape[0]])
        cert = cv2.resize(cert, (w, h), interpolation=cv2.INTER_LINEAR)
    weight = alpha * cert[..., None]
    warped, _ = warp(prev_out, back)
    blended = (1.0 - weight) * out.astype(np.float32) + weight * warped
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)


def video_writer(path: Path, fps: float, size: tuple[int, int], preset: str, **audio):
    """Return a ``media.encode.VideoWriter`` whose x264 runs with ``preset``."""
    from media.encode import VideoWriter

    return VideoWriter(path, fps, size=size, preset=preset, **audio)


def settings_key(config: FastVideoConfig) -> str:
    """Return a fingerprint of everything that determines the output (model file content included)."""
    from foundation.fingerprint import file_digest, fingerprint

    keys = {k: v for k, v in jsonable(asdict(config)).items() if k not in ("progress", "queue_frames", "workdir")}
    digests = [file_digest(p) for p in (config.model, *config.extra_models)]
    return fingerprint({**keys, "model_digest": digests, "video_digest": file_digest(config.video)})


def stylize_video_fast(config: FastVideoConfig) -> dict:
    """Stylise ``config.video`` with the fast network; write the MP4(s) and ``run.json``; return the report."""
    import json

    from media.video_io import frame_size, output_fps, probe, selected_span
    from transfer.fast.network import load_network

    started = time.perf_counter()
    if not Path(config.model).is_file():
        raise UserError(f"{config.model}: no such model file (train one with `paintvid train-style`)")
    info = probe(config.video)
    workdir = config.resolved_workdir
    run_json = workdir / "run.json"
    key = settings_key(config)
    if run_json.is_file() and Path(config.output).is_file():
        previous = json.loads(run_json.read_text())
        if previous.get("settings_key") == key and previous.get("status") == "done" and (
            not config.side_by_side or config.side_by_side_path.is_file()
        ):
            return {**previous, "resumed": True}

    net = load_network(config.model, config.precision)
    fps = output_fps(info, config.read)
    stylize = scheduled_stylizer(
        [compile_stylizer(net)] + [compile_stylizer(load_network(p, config.precision)) for p in config.extra_models],
        config.style_schedule, fps,
    )
    # trace the graph and let oneDNN build its kernels for this frame size before the clock starts
    w, h = frame_size(info.width, info.height, config.read.width) if config.read.width else (info.width, info.height)
    stylize(np.zeros((config.batch_size, h, w, 3), np.uint8))
    stylize.next_index = 0
    audio_start, audio_duration = selected_span(info, config.read)
    setup_seconds = time.perf_counter() - started
    stats = _stream(config, stylize, fps, audio_start, audio_duration)
    wall = stats.pop("wall_seconds")
    busy = {k: stats[f"{k}_seconds"] for k in ("decode", "stylize", "smooth", "encode")}
    total_busy = sum(busy.values()) or 1.0
    n = stats["frames"]
    report = {
        "status": "done",
        "settings_key": key,
        "method": "fast",
        "output": str(config.output),
        "side_by_side": str(config.side_by_side_path) if config.side_by_side else None,
        "config": jsonable(asdict(config)),
        "model": {"path": str(config.model), "spec": asdict(net.spec), "parameters": int(net.count_params())},
        "n_frames": n,
        "size": stats["size"],
        "output_fps": fps,
        "fps": n / wall if wall > 0 else 0.0,
        "wall_seconds": wall,
        "setup_seconds": setup_seconds,
        "stage_seconds": busy,
        "time_share": {k: v / total_busy for k, v in busy.items()},
        "busy_fraction_of_wall": {k: v / wall if wall > 0 else 0.0 for k, v in busy.items()},
        "encoder_process_cpu_seconds": stats["encoder_cpu_seconds"],
        "resumed": False,
    }
    atomic_write_json(run_json, report)
    return report


def _stream(config: FastVideoConfig, stylize, fps: float, audio_start: float, audio_duration: float) -> dict:
    """Run decode -> network -> encode over the whole selection; return frame count, size and stage seconds."""
    from tqdm.auto import tqdm

    from media.encode import side_by_side
    from media.video_io import expected_frames, iter_frames, probe

    frames_in: queue.Queue = queue.Queue(maxsize=config.queue_frames)
    frames_out: queue.Queue = queue.Queue(maxsize=config.queue_frames)
    stop = threading.Event()
    errors: list[BaseException] = []
    seconds = {"decode": 0.0, "stylize": 0.0, "smooth": 0.0, "encode": 0.0}
    shape: dict[str, int] = {}
    frames_iter = iter_frames(config.video, config.read)  # raises UserError here for bad input
    total = expected_frames(probe(config.video), config.read)

    def put(q: queue.Queue, item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def decoder() -> None:
        try:
            it = frames_iter
            while not stop.is_set():
                t = time.perf_counter()
                item = next(it, None)
                seconds["decode"] += time.perf_counter() - t
                if item is None or not put(frames_in, item[1]):
                    break
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            errors.append(exc)
        finally:
            put(frames_in, _DONE)

    def encoder() -> None:
        audio = {"audio_from": config.video if config.audio else None, "audio_start": audio_start,
                 "audio_duration": audio_duration if audio_duration > 0 else None}
        writers: list = []
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        try:
            while True:
                item = frames_out.get()
                if item is _DONE:
                    break
                original, styled = item
                t = time.perf_counter()
                if not writers:
                    h, w = styled.shape[:2]
                    writers.append(video_writer(config.output, fps, (w, h), config.encoder_preset, **audio))
                    if config.side_by_side:
                        writers.append(video_writer(config.side_by_side_path, fps, (2 * w, h), config.encoder_preset,
                                                    **audio))
                writers[0].write(styled)
                if config.side_by_side:
                    writers[1].write(side_by_side(original, styled))
                seconds["encode"] += time.perf_counter() - t
            t = time.perf_counter()
            if errors or stop.is_set():
                for wr in writers:
                    wr.abort()
            else:
                for wr in writers:
                    wr.close()
            seconds["encode"] += time.perf_counter() - t
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
            stop.set()
            for wr in writers:
                wr.abort()
            while frames_out.get() is not _DONE:  # drain so that the producer never blocks
                pass
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        shape["encoder_cpu"] = (after.ru_utime + after.ru_stime) - (children_before.ru_utime + children_before.ru_stime)

    threads = [threading.Thread(target=decoder, daemon=True), threading.Thread(target=encoder, daemon=True)]
    wall_start = time.perf_counter()
    for th in threads:
        th.start()
    n = 0
    prev: tuple[np.ndarray, np.ndarray] | None = None
    bar = tqdm(total=total, desc=f"fast {Path(config.video).name}", disable=not config.progress, unit="frame",
               dynamic_ncols=True, leave=False)
    try:
        done = False
        while not done:
            batch = []
            while len(batch) < config.batch_size:
                item = frames_in.get()
                if item is _DONE:
                    done = True
                    break
                batch.append(item)
            if not batch:
                break
            if "height" not in shape:
                shape["height"], shape["width"] = batch[0].shape[:2]
            t = time.perf_counter()
            styled = stylize(np.stack(batch))
            seconds["stylize"] += time.perf_counter() - t
            for frame, out in zip(batch, styled, strict=True):
                if config.smoothing > 0 and prev is not None:
                    t = time.perf_counter()
                    out = smooth_frame(out, prev[1], frame, prev[0], config.smoothing, config.flow_method,
                                       config.flow_scale)
                    seconds["smooth"] += time.perf_counter() - t
                prev = (frame, out)
                if not put(frames_out, (frame, out)):
                    break
                n += 1
            bar.update(len(batch))
            if errors:
                break
    except BaseException:
        stop.set()
        raise
    finally:
        bar.close()
        if errors:
            stop.set()
        if not stop.is_set():
            frames_out.put(_DONE)
        else:
            _drain(frames_in)
            frames_out.put(_DONE)
        for th in threads:
            th.join()
    if errors:
        raise errors[0]
    if n == 0:
        raise UserError(f"{config.video}: no frames selected to stylise")
    wall = time.perf_counter() - wall_start
    return {
        "frames": n,
        "size": {"height": shape.get("height", 0), "width": shape.get("width", 0)},
        "wall_seconds": wall,
        **{f"{k}_seconds": v for k, v in seconds.items()},
        "encoder_cpu_seconds": shape.get("encoder_cpu", 0.0),
    }


def _drain(q: queue.Queue) -> None:
    try:
        while True:
            q.get_nowait()
    except queue.Empty:
        pass

