"""Feed-forward runner: ``stylize_video_fast(FastVideoConfig) -> VideoResult`` with a trained network — a per-style
fast-mode network (``.keras``), or the arbitrary-style network (``.npz``) with any ``paintings``.

The frame loop (:mod:`video.loop`) streams: a decoder thread (:class:`video.loop.Prefetch` over
``media.video_io.iter_frames``), the network in the calling thread (:class:`video.fast_stylizer.NetworkStylizer`;
TensorFlow releases the GIL while it computes) and an encoder thread (:class:`video.sink.ThreadedSink` around the
MP4 writer, whose ffmpeg is a separate process), connected by small bounded queues so that only a few frames are in
memory. ``run.json`` in the work directory records ``fps`` (frames per second of wall time, decode and encode
included) and each stage's busy time.

Resume: a run whose output exists and whose ``run.json`` records the same settings is not redone. A run killed
midway starts again from the first frame; at real-time speed that costs what the killed run had done.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from foundation.atomic import atomic_write_json
from foundation.errors import UserError
from foundation.fingerprint import file_digest, fingerprint
from foundation.records import jsonable
from media.flow import FlowMethod
from media.frame_pairs import iter_frame_pairs
from media.upsample import DEFAULT_METHOD as DEFAULT_UPSAMPLE
from media.upsample import UpsampleMethod, check_output_width
from media.video_io import (
    ReadOptions,
    VideoInfo,
    expected_frames,
    frame_size,
    iter_frames,
    output_fps,
    probe,
    selected_span,
)
from transfer.arbitrary.magenta import PREDICT_FILE, TRANSFORM_FILE, check_stroke_scale, load_magenta
from transfer.arbitrary.network import load_arbitrary
from transfer.arbitrary.student import load_student
from transfer.arbitrary.student_file import is_student_file
from transfer.color import ColorMode
from transfer.fast.network import load_network
from transfer.features import DEFAULT_PRECISION, Precision
from video.arbitrary_stylizer import arbitrary_stylizer, frame_weights, painting_codes
from video.fast_stylizer import NetworkStylizer, compile_stylizer, scheduled_stylizer
from video.loop import FrameItem, Prefetch, run_frames
from video.output import check_video_output, default_workdir, finished_record, side_by_side_path
from video.painter_stylizer import PainterOptions, painter_stylizer, painting_vectors
from video.results import FrameSize, Throughput, VideoResult, result_from_json
from video.sink import ThreadedSink, VideoSink
from video.student_stylizer import student_stylizer
from video.upsample_sink import UpsamplingSink, peak_rss_mb

#: Per method, the smoothing blend and its flow when the user names none. A per-style fast network is steady on
#: its own (trained with its temporal loss for one painting), so off. The any-painting painter flickers like every
#: per-frame network; in the panel benchmark (4 held-out paintings x 2 real clips, 24 frames at 320 px, 2 AVX-512
#: BF16 cores) a blend of 0.9 along DIS flow, with :data:`PAINTER_CHECK`'s certainty and :data:`PAINTER_WARP`, took
#: its warping error to 1.9x the input's own (0.8 with a bilinear warp: 4.9x) at a style gain of 0.78 (0.77).
DEFAULT_SMOOTHING: dict[str, tuple[float, FlowMethod]] = {"fast": (0.0, FlowMethod.DIS),
                                                          "arbitrary": (0.9, FlowMethod.DIS)}

#: How the painter's smoothing warps the previous output: bicubic, so the marks carried from frame to frame stay
#: crisp (a bilinear warp blurs them a little at every step, which the blend then spreads; same panel as above).
PAINTER_WARP = "cubic"

#: Smoothing estimates flow at about this width (px) unless told a scale: wide enough for the motion of people in
#: a 640x360 frame, a quarter of the pixels there; smaller frames get full-size flow.
FLOW_WIDTH = 320


def auto_flow_scale(width: int) -> float:
    """Return the smoothing's flow scale for frames ``width`` px wide: ``FLOW_WIDTH / width``, at most 1."""
    return min(1.0, FLOW_WIDTH / width)


#: The painter's smoothing certainty: the match of the warped previous input frame
#: (:func:`media.consistency.photometric_certainty`), one flow instead of the two a forward-backward test needs. In
#: the quick panel (2 held-out paintings x 2 clips, 4 frames at 256 px, 2 AVX-512 BF16 cores) it gave 9.9x the
#: input's warping error against 13.8x for the forward-backward test alone and 19x for the reference checker, and
#: 4.6x with the flow at full size (256 px) instead of half, at the same style gain (0.76).
PAINTER_CHECK = "photo"

X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")


@dataclass(frozen=True)
class FastVideoConfig:
    """Everything one fast-mode video run needs.

    Attributes:
        video: input clip; model: a ``.keras`` file from ``paintvid train-style``, or with ``paintings`` an
            arbitrary-style ``.npz`` (the previous any-painting network), or None with ``paintings``: the
            any-painting painter (:mod:`video.painter_stylizer`, the default); output: the ``.mp4``.
        workdir: where ``run.json`` goes (default ``OUTPUT.work/`` beside the output, like the optimisation path).
        read: which frames, at which width and rate (``media.video_io.ReadOptions``); ``read.width`` is the
            working width the network paints at.
        output_width: width of the written video (aspect kept, even sides); each painted frame is upsampled to it
            guided by the input frame at that size (``upsample``, :mod:`media.upsample`). None: the working size.
        batch_size: frames per network call.
        precision: ``bfloat16`` (~1.3x faster on CPUs with AVX-512 BF16) or ``float32``; default
            :data:`transfer.features.DEFAULT_PRECISION` (bfloat16 only where the CPU computes it natively).
        smoothing: 0 (off) or the blend factor ``a`` in (0, 1] of the flow-warped previous output. None: the
            method's default (:data:`DEFAULT_SMOOTHING`).
        flow_method: flow used by smoothing (``media.flow.FlowMethod`` value). None: the method's default.
        flow_scale: smoothing estimates flow on frames resized by this factor (cheaper), see :func:`smooth_frame`;
            None: :func:`auto_flow_scale` (flow at about :data:`FLOW_WIDTH` px wide).
        side_by_side: also write ``OUTPUT_side_by_side.mp4`` (original | stylised).
        audio: copy the source's audio under the selected span.
        encoder_preset: x264 speed preset; the optimisation path's ``medium`` costs about as much CPU per
            640x360 frame as the slim network, so real time needs a faster one (same CRF quality target).
        queue_frames: frames each queue holds at most (bounds memory).
        paintings: with the arbitrary-style network (``model`` a ``.npz``), the paintings; several are blended by
            ``blend`` weights (default equal) or over time by ``style_schedule`` (their statistics interpolate).
        stroke_scale: the painter only: size of the painted marks relative to the frame (2 = twice as large).
        strength: arbitrary only: 0 keeps each frame's own feature statistics, 1 (default) takes the painting's.
        preserve_colors: arbitrary only: ``luminance`` (each output's luminance under its frame's colours) or
            ``histogram`` (the paintings' colours matched to the first frame before their statistics are taken).
        extra_models, style_schedule: style transitions in fast mode. One network is one style, so the models
            (``model`` is style 0, ``extra_models`` styles 1, 2, ...) all run and their OUTPUTS are blended per frame
            with the schedule's weights (:mod:`media.schedule`); a network whose weight is zero for a whole batch
            is skipped, so a hard switch costs nothing extra.
    """

    video: Path
    model: Path | None
    output: Path
    workdir: Path | None = None
    read: ReadOptions = field(default_factory=ReadOptions)
    batch_size: int = 4
    precision: Precision = DEFAULT_PRECISION
    smoothing: float | None = None
    flow_method: FlowMethod | None = None
    flow_scale: float | None = None
    side_by_side: bool = False
    audio: bool = True
    encoder_preset: str = "veryfast"
    queue_frames: int = 16
    extra_models: tuple[Path, ...] = ()
    style_schedule: str | None = None
    paintings: tuple[Path, ...] = ()
    blend: tuple[float, ...] | None = None
    strength: float = 1.0
    preserve_colors: ColorMode = ColorMode.NONE
    stroke_scale: float = 1.0
    output_width: int | None = None
    upsample: UpsampleMethod = DEFAULT_UPSAMPLE
    progress: bool = True

    def __post_init__(self) -> None:
        check_video_output(self.output)
        check_output_width(self.output_width, self.read.width)
        object.__setattr__(self, "upsample", UpsampleMethod(self.upsample))
        default_smoothing, default_flow = DEFAULT_SMOOTHING[self.method]
        if self.smoothing is None:
            object.__setattr__(self, "smoothing", default_smoothing)
        object.__setattr__(self, "flow_method", FlowMethod(self.flow_method or default_flow))
        if not 1 <= self.batch_size <= 256:
            raise UserError(f"batch size {self.batch_size} is outside [1, 256]")
        if not 0.0 <= self.smoothing <= 1.0:
            raise UserError(f"smoothing {self.smoothing} is outside [0, 1]")
        if self.encoder_preset not in X264_PRESETS:
            raise UserError(f"encoder preset {self.encoder_preset!r} is not one of {', '.join(X264_PRESETS)}")
        if self.flow_scale is not None and not 0.1 <= self.flow_scale <= 1.0:
            raise UserError(f"flow scale {self.flow_scale} is outside [0.1, 1]")
        if self.queue_frames < 1:
            raise UserError("queue_frames must be at least 1")
        if not 0.0 <= self.strength <= 1.0:
            raise UserError(f"strength {self.strength} is outside [0, 1]")
        object.__setattr__(self, "preserve_colors", ColorMode(self.preserve_colors))
        check_stroke_scale(self.stroke_scale)
        if self.model is None and not self.paintings:
            raise UserError("a fast-mode run needs a model file")

    @property
    def method(self) -> str:
        """``arbitrary`` with paintings, else ``fast``."""
        return "arbitrary" if self.paintings else "fast"

    @property
    def resolved_workdir(self) -> Path:
        return default_workdir(self.output, self.workdir)

    @property
    def side_by_side_path(self) -> Path:
        return side_by_side_path(self.output)


def settings_key(config: FastVideoConfig) -> str:
    """Return a fingerprint of everything that determines the output (model file content included)."""
    keys = {k: v for k, v in jsonable(config).items() if k not in ("progress", "queue_frames", "workdir")}
    models = (config.model,) if config.model is not None else ()
    digests = [file_digest(p) for p in (*models, *config.extra_models, *config.paintings)]
    return fingerprint({**keys, "model_digest": digests, "video_digest": file_digest(config.video)})


def _finished_run(config: FastVideoConfig, key: str) -> VideoResult | None:
    """Return the recorded result if this exact run already finished (output and side-by-side present), else None."""
    previous = finished_record(config.resolved_workdir, config.output, key, config.side_by_side)
    return None if previous is None else replace(result_from_json(previous), resumed=True)


def _network(config: FastVideoConfig, info: VideoInfo, fps: float):
    """Return (the batch styliser, a record of the model) with graphs traced for this frame size."""
    if config.paintings and config.model is None:
        run, record = _painter(config, info, fps)
    elif config.paintings and is_student_file(config.model):
        run, record = _student(config, info, fps)
    elif config.paintings:
        run, record = _arbitrary(config, info, fps)
    else:
        net = load_network(config.model, config.precision)
        extra = [compile_stylizer(load_network(p, config.precision)) for p in config.extra_models]
        run = scheduled_stylizer([compile_stylizer(net), *extra], config.style_schedule, fps)
        record = {"path": str(config.model), "spec": jsonable(net.spec), "parameters": int(net.count_params())}
    # trace the graph and let oneDNN build its kernels for this frame size before the clock starts
    w, h = frame_size(info.width, info.height, config.read.width) if config.read.width else (info.width, info.height)
    run(np.zeros((config.batch_size, h, w, 3), np.uint8))
    run.next_index = 0
    return run, record


def _arbitrary(config: FastVideoConfig, info: VideoInfo, fps: float):
    """Return the arbitrary-style batch styliser of ``config`` and its model record."""
    net = load_arbitrary(config.model, config.precision)
    first = None
    if config.preserve_colors is ColorMode.HISTOGRAM:
        first = next((f for _, f in iter_frames(config.video, config.read, info)), None)
    codes = painting_codes(net, config.paintings, first, config.preserve_colors)
    weights_at = frame_weights(len(codes), config.style_schedule, fps, config.blend)
    run = arbitrary_stylizer(net, codes, weights_at, config.strength, config.preserve_colors)
    record = {"path": str(config.model), "spec": jsonable(net.spec), "meta": net.meta,
              "parameters": sum(int(np.prod(v.shape)) for v in net.trainable_variables),
              "paintings": [str(p) for p in config.paintings], "strength": config.strength}
    return run, record


def _painter(config: FastVideoConfig, info: VideoInfo, fps: float):
    """Return the any-painting painter's batch styliser (Magenta's networks, :data:`DEFAULT_ENGINE`) and its
    record (which names the engine and its precision, so a job is pinned to what painted it)."""
    painter = load_magenta()
    options = PainterOptions(config.strength, config.stroke_scale, config.preserve_colors)
    first = None
    if options.colors is ColorMode.HISTOGRAM or options.strength < 1.0:
        first = next((f for _, f in iter_frames(config.video, config.read, info)), None)
    vectors = painting_vectors(painter, config.paintings, first, options)
    weights_at = frame_weights(len(vectors), config.style_schedule, fps, config.blend)
    run = painter_stylizer(painter, vectors, weights_at, options)
    record = {"path": None, "engine": f"magenta-{painter.engine.value}", "precision": painter.precision,
              "files": [TRANSFORM_FILE, PREDICT_FILE],
              "paintings": [str(p) for p in config.paintings], "strength": config.strength,
              "stroke_scale": config.stroke_scale}
    return run, record


def _student(config: FastVideoConfig, info: VideoInfo, fps: float):
    """Return the distilled student's batch styliser (``model`` a student ``.npz``) and its record; the style
    vectors come from the teacher's style-prediction network, as for the painter."""
    net = load_student(config.model, config.precision)
    options = PainterOptions(config.strength, config.stroke_scale, config.preserve_colors)
    first = None
    if options.colors is ColorMode.HISTOGRAM or options.strength < 1.0:
        first = next((f for _, f in iter_frames(config.video, config.read, info)), None)
    vectors = painting_vectors(load_magenta(), config.paintings, first, options)
    weights_at = frame_weights(len(vectors), config.style_schedule, fps, config.blend)
    run = student_stylizer(net, vectors, weights_at, options)
    record = {"path": str(config.model), "engine": "student", "spec": jsonable(net.spec), "meta": net.meta,
              "parameters": int(net.count_params()), "paintings": [str(p) for p in config.paintings],
              "strength": config.strength, "stroke_scale": config.stroke_scale}
    return run, record


def stylize_video_fast(config: FastVideoConfig) -> VideoResult:
    """Stylise ``config.video`` with the fast network; write the MP4(s) and ``run.json``; return the result."""
    started = time.perf_counter()
    if config.model is not None and not Path(config.model).is_file():
        trainer = "train-arbitrary" if config.paintings else "train-style"
        raise UserError(f"{config.model}: no such model file (train one with `paintvid {trainer}`)")
    info = probe(config.video)
    key = settings_key(config)
    if (finished := _finished_run(config, key)) is not None:
        return finished
    fps = output_fps(info, config.read)
    network, record = _network(config, info, fps)
    painted = config.paintings and (config.model is None or is_student_file(config.model))
    check = PAINTER_CHECK if painted else "reference"
    width = frame_size(info.width, info.height, config.read.width)[0] if config.read.width else info.width
    stylizer = NetworkStylizer(network, config.batch_size, config.smoothing, config.flow_method,
                               config.flow_scale or auto_flow_scale(width), check,
                               PAINTER_WARP if painted else "linear")
    start, duration = selected_span(info, config.read)
    writer = VideoSink(config.output, fps, side_by_side=config.side_by_side, preset=config.encoder_preset,
                       audio_from=config.video if config.audio else None, audio_start=start,
                       audio_duration=duration if duration > 0 else None)
    sink = ThreadedSink(UpsamplingSink(writer, config.upsample), maxsize=config.queue_frames)
    source = Prefetch(_items(config, info), config.queue_frames)
    setup = time.perf_counter() - started
    loop = run_frames(source, stylizer, sink, total=expected_frames(info, config.read),
                      desc=f"{config.method} {Path(config.video).name}", progress=config.progress)
    if loop.frames == 0:
        raise UserError(f"{config.video}: no frames selected to stylise")
    result = _result(config, loop, setup, fps, source, stylizer, sink, record, _working_size(config, info))
    atomic_write_json(config.resolved_workdir / "run.json",
                      {"status": "done", "settings_key": key, "config": jsonable(config), **jsonable(result)})
    return result


def _working_size(config: FastVideoConfig, info: VideoInfo) -> FrameSize:
    """Return the size the network paints the frames of ``info``'s clip at."""
    w, h = frame_size(info.width, info.height, config.read.width) if config.read.width else (info.width, info.height)
    return FrameSize(h, w)


def _items(config: FastVideoConfig, info: VideoInfo):
    """Return the loop's items: the working frames, with each frame at the output size when one is asked for."""
    if config.output_width is None:
        return (FrameItem(k + 1, f) for k, f in iter_frames(config.video, config.read, info))
    pairs = iter_frame_pairs(config.video, config.read, config.output_width, info)
    return (FrameItem(k + 1, work, full) for k, work, full in pairs)


def _result(config: FastVideoConfig, loop, setup: float, fps: float, source: Prefetch, stylizer: NetworkStylizer,
            sink: ThreadedSink, record: dict, working: FrameSize) -> VideoResult:
    wall = loop.wall_seconds
    upsampled = sink.sink.busy_seconds
    busy = {"decode": source.busy_seconds, "stylize": stylizer.network_seconds, "smooth": stylizer.smooth_seconds,
            "encode": sink.busy_seconds - upsampled}
    if config.output_width is not None:
        busy["upsample"] = upsampled
    total_busy = sum(busy.values()) or 1.0
    h, w = sink.sink.size
    return VideoResult(
        method=config.method, output=str(config.output),
        side_by_side=str(config.side_by_side_path) if config.side_by_side else None,
        workdir=str(config.resolved_workdir), n_frames=loop.frames, size=FrameSize(h, w), output_fps=fps,
        fps=loop.frames / wall if wall > 0 else 0.0, wall_seconds=wall, stage_seconds=busy,
        throughput=Throughput(
            setup_seconds=setup, time_share={k: v / total_busy for k, v in busy.items()},
            busy_fraction_of_wall={k: v / wall if wall > 0 else 0.0 for k, v in busy.items()},
            encoder_process_cpu_seconds=sink.child_cpu_seconds),
        model=record, working_size=working, peak_rss_mb=peak_rss_mb(),
    )
