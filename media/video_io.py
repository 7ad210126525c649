"""Probing and streaming video frames. Frames are (H, W, 3) uint8 BGR, as OpenCV decodes them.

OpenCV decodes; the ffmpeg binary that ``imageio_ffmpeg`` ships tells what OpenCV cannot: whether there is an
audio stream, and (from a stream copy, without decoding) how many frames there really are and how far apart
they lie. Containers often misreport both: an AVI with "drop" packets (OpenCV's ``tree.avi``) claims 444 frames
of which 68 decode, and an H.264 AVI may claim 50 fps for 25 fps of pictures.
"""

from __future__ import annotations

import logging
import math
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np

from foundation.errors import UserError, check_input_file
from media.image_io import MAX_WIDTH

log = logging.getLogger(__name__)
#: Output sides are rounded to this multiple (VGG pooling and the H.264 macroblocks both like it).
SIZE_MULTIPLE = 8
_VIDEO_STREAM = re.compile(r"^\s*Stream #\d+:\d+\S*: Video: ", re.MULTILINE)
#: A measured frame rate this close (relative) to the container's nominal one is taken as that nominal rate.
FPS_SNAP_TOLERANCE = 0.02


def _finite(x) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


@dataclass(frozen=True)
class ReadOptions:
    """Which frames to read, at which size and rate.

    start: first second to read; frames: at most this many output frames (after subsampling); seconds: at most
    this long a span (an alternative to ``frames``); width: output width (aspect kept, both sides rounded to a
    multiple of 8; None keeps the source size); fps: subsample to this rate (never upsampled above the source).
    """

    start: float = 0.0
    frames: int | None = None
    seconds: float | None = None
    width: int | None = None
    fps: float | None = None

    def __post_init__(self) -> None:
        if not _finite(self.start) or self.start < 0:
            raise UserError(f"start must be a number of seconds >= 0, got {self.start}")
        if self.frames is not None and self.seconds is not None:
            raise UserError("give either frames or seconds, not both")
        if self.frames is not None and (isinstance(self.frames, bool) or int(self.frames) != self.frames
                                        or self.frames < 1):
            raise UserError(f"frames must be a whole number >= 1, got {self.frames}")
        if self.seconds is not None and (not _finite(self.seconds) or self.seconds <= 0):
            raise UserError(f"seconds must be > 0, got {self.seconds}")
        if self.width is not None and (isinstance(self.width, bool) or int(self.width) != self.width
                                       or not SIZE_MULTIPLE <= self.width <= MAX_WIDTH):
            raise UserError(f"width {self.width} is out of range: use {SIZE_MULTIPLE}..{MAX_WIDTH} pixels")
        if self.fps is not None and (not _finite(self.fps) or self.fps <= 0):
            raise UserError(f"fps must be > 0, got {self.fps}")


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` found: fps and frame_count describe the frames :func:`iter_frames` yields.

    fps: frames per second of the decoded pictures; frame_count: how many decode; width, height: pixels of a
    decoded frame; duration: frame_count / fps in seconds; has_audio: the file holds an audio stream;
    audio_codec: its codec name as ffmpeg spells it (``"aac"``, ``"mp3"``, ...), None without audio.
    """

    fps: float
    frame_count: int
    width: int
    height: int
    duration: float
    has_audio: bool
    audio_codec: str | None = None


def ffmpeg_exe() -> str:
    """Return the path of the ffmpeg binary bundled with ``imageio_ffmpeg``."""
    return imageio_ffmpeg.get_ffmpeg_exe()


def ffmpeg_url(path: str | os.PathLike) -> str:
    """Return ``path`` as an ffmpeg URL that no file name can turn into an option or a protocol."""
    return "file:" + str(Path(path).resolve())


def probe(path: str | os.PathLike) -> VideoInfo:
    """Return the :class:`VideoInfo` of the video at ``path``; raise :class:`UserError` naming the problem."""
    path = check_input_file(path, "a video file")
    header = _ffmpeg_header(path)
    if not _VIDEO_STREAM.search(header):
        # judged by the ffmpeg binary first: libav inside OpenCV would print its complaints to stderr
        raise UserError(f"{path}: not a video OpenCV can read")
    with _quiet_opencv():
        cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
        try:
            if not cap.isOpened():
                raise UserError(f"{path}: not a video OpenCV can read")
            ok, first = cap.read()
            if not ok or first is None or first.size == 0:
                raise UserError(f"{path}: contains no video frames")
            nominal_fps = cap.get(cv2.CAP_PROP_FPS)
            container_count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        finally:
            cap.release()
    count, measured_fps = _packet_timing(path)
    if count is None:
        count = container_count if container_count > 0 else _count_by_decoding(path)
    fps = _choose_fps(measured_fps, [nominal_fps, _header_tbr(header)])
    if fps is None:
        raise UserError(f"{path}: cannot tell the frame rate of this video")
    codec = audio_codec_of_header(header)
    return VideoInfo(fps=fps, frame_count=count, width=int(first.shape[1]), height=int(first.shape[0]),
                     duration=count / fps, has_audio=codec is not None, audio_codec=codec)


def output_fps(info: VideoInfo, options: ReadOptions) -> float:
    """Return the frame rate of the frames read with ``options``: the source rate, or the lower requested one."""
    return info.fps if options.fps is None else min(info.fps, float(options.fps))


def first_frame_index(info: VideoInfo, options: ReadOptions) -> int:
    """Return the index of the first source frame read (``options.start`` in frames, rounded)."""
    return int(math.floor(options.start * info.fps + 0.5))


def expected_frames(info: VideoInfo, options: ReadOptions) -> int:
    """Return how many frames :func:`iter_frames` yields for ``options`` (per the probed frame count)."""
    available = info.frame_count - first_frame_index(info, options)
    if available <= 0:
        return 0
    # output k takes source frame round(k * ratio): count the k whose frame exists
    n = math.ceil((available - 0.5) / _ratio(info, options) - 1e-9)
    return min(n, _max_outputs(info, options))


def selected_span(info: VideoInfo, options: ReadOptions) -> tuple[float, float]:
    """Return (start_seconds, duration_seconds) of the source that the frames read with ``options`` cover.

    This is the audio segment to put under those frames: it starts at the first frame read and lasts as long
    as the output plays (frame count / output fps).
    """
    start = first_frame_index(info, options) / info.fps
    return start, expected_frames(info, options) / output_fps(info, options)


def iter_frames(path: str | os.PathLike, options: ReadOptions = ReadOptions(), info: VideoInfo | None = None
                ) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (output_index from 0, frame (H, W, 3) uint8 BGR) for the frames ``options`` selects, one at a time.

    Streams: only the current frame is held. Frames before ``options.start`` are decoded and dropped rather
    than seeked past, because seeking lands on the container's idea of frame numbers, which can be wrong.
    """
    path = Path(path)
    # here, not in the generator: bad input fails at the call, not at the first next(); a caller that has already
    # probed the file passes ``info`` so that a run probes its video once
    info = info if info is not None else probe(path)
    skip = first_frame_index(info, options)
    if skip >= info.frame_count:
        raise UserError(f"{path}: start {options.start:g} s is past the end of the video ({info.duration:.2f} s)")
    limit = _max_outputs(info, options)
    requested = limit if math.isfinite(limit) else expected_frames(info, options)
    return _stream(path, options, skip, _ratio(info, options), limit, int(requested))


def _stream(path: Path, options: ReadOptions, skip: int, ratio: float, limit: int | float, requested: int
            ) -> Iterator[tuple[int, np.ndarray]]:
    """Decode ``path`` after ``skip`` frames, yielding source frame round(k * ratio) as output k, up to ``limit``.

    When decoding stops before ``requested`` frames (the file ends early, is cut short, or frames fail to
    decode), one warning on the ``media.video_io`` logger names the file and both counts.
    """
    with _quiet_opencv():
        cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    out = 0
    try:
        for _ in range(skip):
            if not cap.grab():
                _warn_short(path, requested, out)
                return
        source = 0  # index relative to the first frame read
        want = 0
        while out < limit:
            if source < want:
                if not cap.grab():
                    _warn_short(path, requested, out)
                    return
                source += 1
                continue
            ok, frame = cap.read()
            if not ok or frame is None:
                _warn_short(path, requested, out)
                return
            source += 1
            if options.width is not None:
                frame = resize_frame(frame, options.width)
            yield out, frame
            out += 1
            want = _source_index(out, ratio)
    finally:
        cap.release()


def _warn_short(path: Path, requested: int, read: int) -> None:
    """Log one line when fewer frames decoded than were requested (nothing when the counts agree)."""
    if read < requested:
        log.warning("%s: %d frames requested, %d read: the file ended early or frames failed to decode",
                    path, requested, read)


def frame_size(width: int, height: int, target_width: int) -> tuple[int, int]:
    """Return the (W, H) a (height, width) frame is resized to: ``target_width`` rounded down to a multiple of 8,
    the height that keeps the aspect at that width rounded to the nearest multiple of 8 (at least 8 each)."""
    w = max(SIZE_MULTIPLE, target_width // SIZE_MULTIPLE * SIZE_MULTIPLE)
    h = max(SIZE_MULTIPLE, round(height * w / width / SIZE_MULTIPLE) * SIZE_MULTIPLE)
    return w, h


def resize_frame(frame: np.ndarray, target_width: int) -> np.ndarray:
    """Return ``frame`` (H, W, 3) uint8 resized to :func:`frame_size` (INTER_AREA down, INTER_CUBIC up)."""
    h, w = frame.shape[:2]
    size = frame_size(w, h, target_width)
    if size == (w, h):
        return frame
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA if size[0] < w else cv2.INTER_CUBIC)


def read_frames(path: str | os.PathLike, options: ReadOptions = ReadOptions()) -> list[np.ndarray]:
    """Return the frames :func:`iter_frames` yields as a list (for short clips and tests)."""
    return [frame for _, frame in iter_frames(path, options)]


def audio_codec(path: str | os.PathLike) -> str | None:
    """Return the codec name of the first audio stream of ``path`` (e.g. ``"aac"``), None when it has none."""
    return audio_codec_of_header(_ffmpeg_header(check_input_file(path, "a video file")))


def audio_codec_of_header(header: str) -> str | None:
    """Return the first audio stream's codec from ``ffmpeg -i`` output, None when it lists no audio stream."""
    m = re.search(r"^\s*Stream #\d+:\d+\S*: Audio: ([A-Za-z0-9_]+)", header, re.MULTILINE)
    return m.group(1) if m else None


# -- helpers -------------------------------------------------------------------------------------------------


def _ratio(info: VideoInfo, options: ReadOptions) -> float:
    """Source frames per output frame (>= 1)."""
    return info.fps / output_fps(info, options)


def _source_index(k: int, ratio: float) -> int:
    """Relative source frame of output frame ``k``: the nearest in time (ties go later)."""
    return int(math.floor(k * ratio + 0.5 + 1e-9))


def _max_outputs(info: VideoInfo, options: ReadOptions) -> int | float:
    if options.frames is not None:
        return int(options.frames)
    if options.seconds is not None:
        return max(1, math.ceil(options.seconds * output_fps(info, options) - 1e-6))
    return math.inf


class _quiet_opencv:
    """Silence OpenCV's and libavformat's warnings while opening files (the CLI promises one-line errors)."""

    def __enter__(self) -> None:
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET; read when the backend starts
        self._level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)

    def __exit__(self, *exc) -> None:
        cv2.utils.logging.setLogLevel(self._level)


def _run_ffmpeg(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", *args], capture_output=True, text=True,
                          errors="replace", timeout=600)


def _ffmpeg_header(path: Path) -> str:
    """Return what ``ffmpeg -i path`` prints about the file's streams (it exits 1: no output given)."""
    return _run_ffmpeg(["-i", ffmpeg_url(path)]).stderr


def _header_tbr(header: str) -> float | None:
    m = re.search(r"Stream #\d+:\d+\S*: Video: .*?, ([0-9.]+)(k?) tbr", header)
    if not m:
        return None
    return float(m.group(1)) * (1000 if m.group(2) else 1)


def _packet_timing(path: Path) -> tuple[int | None, float | None]:
    """Return (pictures, measured fps) from a stream copy of the first video stream (fast: nothing decoded).

    Empty packets are AVI "drop frames" (repeat the previous picture) and decode to nothing in OpenCV, so they
    are not counted. The fps is (pictures - 1) over the time from the first to the last picture.
    """
    try:
        res = _run_ffmpeg(["-loglevel", "error", "-i", ffmpeg_url(path), "-map", "0:v:0", "-c", "copy",
                           "-f", "framecrc", "-"])
    except (OSError, subprocess.SubprocessError):
        return None, None
    if res.returncode != 0:
        return None, None
    tb = re.search(r"^#tb 0: (\d+)/(\d+)", res.stdout, re.MULTILINE)
    times = []
    for line in res.stdout.splitlines():
        if line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 5 and parts[4].isdigit() and int(parts[4]) > 0:
            times.append(int(parts[1]))  # dts: monotonic even where pts is missing or reordered
    if not times:
        return None, None
    if tb is None or len(times) < 2 or times[-1] <= times[0]:
        return len(times), None
    seconds = (times[-1] - times[0]) * Fraction(int(tb.group(1)), int(tb.group(2)))
    return len(times), float((len(times) - 1) / seconds)


def _choose_fps(measured: float | None, nominal: list[float | None]) -> float | None:
    """Return the first nominal rate within tolerance of the measured one, else the measured rate.

    Nominal rates are exact (30000/1001, not the 29.97 that ffmpeg prints) where a measurement is rounded to
    the time base; a measurement far from every nominal rate means the container lies or the rate varies.
    """
    candidates = [f for f in nominal if f is not None and math.isfinite(f) and 0 < f < 1000]
    if measured is None:
        return candidates[0] if candidates else None
    close = [f for f in candidates if abs(f - measured) <= FPS_SNAP_TOLERANCE * measured]
    return close[0] if close else measured


def _count_by_decoding(path: Path) -> int:
    with _quiet_opencv():
        cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        n = 0
        while cap.grab():
            n += 1
        return n
    finally:
        cap.release()
