"""Writing frames as an H.264 MP4 (with the source's audio when it has some). Frames are (H, W, 3) uint8 BGR.

Frames stream to the ffmpeg binary of ``imageio_ffmpeg`` through a pipe, so a long video is never held in
memory. ffmpeg writes to a hidden temporary name beside the output, renamed onto it only when encoding
succeeded: an exception, Ctrl-C or a kill never leaves a half-written ``OUT.mp4``.
"""

from __future__ import annotations

import ctypes
import glob
import os
import secrets
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from foundation.errors import UserError
from media.video_io import audio_codec, ffmpeg_exe, ffmpeg_url

#: Audio codecs that MP4 players accept as they are; anything else is re-encoded to AAC.
MP4_AUDIO_CODECS = frozenset({"aac", "mp3", "alac"})
#: x264 quality (18: visually lossless for most content) and speed preset.
CRF = 18
PRESET = "medium"
AAC_BITRATE = "192k"


class VideoWriter:
    """Context manager that encodes frames written one by one into an H.264 (yuv420p) MP4 at ``path``.

    size: (W, H) of every frame given to :meth:`write`. Odd sides are padded to even (H.264 4:2:0 needs even
    sides) by repeating the last row/column; :attr:`output_size` is the size encoded.
    audio_from: a file whose first audio stream is muxed in, from ``audio_start`` seconds for ``audio_duration``
    seconds (None: to its end; never longer than the video). Copied when MP4 holds the codec, else AAC. A file
    without audio gives an output without an audio stream.
    preset: x264 speed preset (same quality target ``-crf``; faster presets give larger files).

    ffmpeg starts at the first :meth:`write`; on Linux it is killed when the thread that started it ends, so
    write from a thread that outlives the writer (the main thread, typically).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        fps: float,
        size: tuple[int, int],
        audio_from: str | os.PathLike | None = None,
        audio_start: float = 0.0,
        audio_duration: float | None = None,
        preset: str = PRESET,
    ) -> None:
        self.path = Path(path)
        self.preset = preset
        if not (isinstance(fps, int | float) and 0 < fps < 1000):
            raise ValueError(f"fps must be in (0, 1000), got {fps}")
        w, h = (int(s) for s in size)
        if w < 1 or h < 1:
            raise ValueError(f"size must be (W, H) with positive sides, got {size}")
        if audio_start < 0 or (audio_duration is not None and audio_duration <= 0):
            raise ValueError(f"audio span must start >= 0 and last > 0, got {audio_start}, {audio_duration}")
        self.fps = float(fps)
        self.size = (w, h)
        self.output_size = (w + w % 2, h + h % 2)
        self.audio_codec = audio_codec(audio_from) if audio_from is not None else None
        self._audio = (Path(audio_from), float(audio_start), audio_duration) if self.audio_codec else None
        self.frames_written = 0
        self._proc: subprocess.Popen | None = None
        self._tmp: Path | None = None
        self._log = None
        self._closed = False

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def write(self, frame: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 BGR frame of the writer's ``size``."""
        if self._closed:
            raise ValueError(f"{self.path}: writer is already closed")
        w, h = self.size
        if not isinstance(frame, np.ndarray) or frame.shape != (h, w, 3) or frame.dtype != np.uint8:
            got = f"{frame.shape} {frame.dtype}" if isinstance(frame, np.ndarray) else type(frame).__name__
            raise ValueError(f"frame must be ({h}, {w}, 3) uint8 BGR, got {got}")
        if self.output_size != self.size:
            frame = cv2.copyMakeBorder(frame, 0, self.output_size[1] - h, 0, self.output_size[0] - w,
                                       cv2.BORDER_REPLICATE)
        if self._proc is None:
            self._start()
        try:
            self._proc.stdin.write(np.ascontiguousarray(frame).tobytes())
        except (BrokenPipeError, OSError):
            message = self._ffmpeg_error()
            self.abort()
            raise UserError(f"{self.path}: ffmpeg stopped while encoding: {message}") from None
        self.frames_written += 1

    def close(self) -> Path:
        """Finish encoding and move the video onto ``path``; return ``path``. Raises if no frame was written."""
        if self._closed:
            return self.path
        if self._proc is None:
            self._closed = True
            raise ValueError(f"{self.path}: no frames were written")
        self._proc.stdin.close()
        code = self._proc.wait()
        if code != 0:
            message = self._ffmpeg_error()
            self.abort()
            raise UserError(f"{self.path}: ffmpeg could not encode the video: {message}")
        os.replace(self._tmp, self.path)
        self._cleanup()
        return self.path

    def abort(self) -> None:
        """Stop ffmpeg and delete the partial file; ``path`` is left untouched."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
        if self._proc is not None:
            try:
                self._proc.stdin.close()
            except OSError:
                pass  # the pipe is broken when ffmpeg died first; nothing left to flush
            self._proc.wait()
        self._cleanup()

    # -- internals ---------------------------------------------------------------------------------------

    def _start(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(f"{self.path}: cannot create its directory ({e.strerror})") from None
        if not os.access(self.path.parent, os.W_OK):
            raise UserError(f"{self.path}: directory is not writable")
        _remove_stale_temporaries(self.path)
        # ffmpeg creates the file itself (mkstemp's 0600 would survive the rename); the name is unique enough
        self._tmp = self.path.with_name(f".{self.path.stem}.{os.getpid()}.{secrets.token_hex(4)}.tmp.mp4")
        self._log = tempfile.TemporaryFile()
        # a session of its own: Ctrl-C reaches Python (which aborts), not ffmpeg (which would finish the file);
        # and ffmpeg dies with Python, so a killed run leaves only a temporary, not a process still writing one
        self._proc = subprocess.Popen(self._command(), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                      stderr=self._log, start_new_session=True, preexec_fn=_die_with_parent)

    def _command(self) -> list[str]:
        w, h = self.output_size
        rate = Fraction(self.fps).limit_denominator(1001)
        cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
               "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{w}x{h}", "-framerate", f"{rate}", "-i", "pipe:0"]
        maps = ["-map", "0:v:0"]
        audio: list[str] = []
        if self._audio is not None:
            source, start, duration = self._audio
            # -t on the input bounds the audio exactly; -shortest (only without a duration) may drop the last frame
            span = ["-t", f"{duration:.6f}"] if duration else []
            cmd += ["-ss", f"{start:.6f}", *span, "-i", ffmpeg_url(source)]
            maps += ["-map", "1:a:0"]
            copy = self.audio_codec in MP4_AUDIO_CODECS
            audio = ["-c:a", "copy"] if copy else ["-c:a", "aac", "-b:a", AAC_BITRATE]
            audio += [] if duration else ["-shortest"]
        return cmd + maps + ["-c:v", "libx264", "-preset", self.preset, "-crf", str(CRF), "-pix_fmt", "yuv420p",
                             *audio, "-movflags", "+faststart", "-f", "mp4", ffmpeg_url(self._tmp)]

    def _ffmpeg_error(self) -> str:
        if self._proc is not None and self._proc.poll() is None:
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        if self._log is None:
            return "unknown error"
        self._log.seek(0)
        lines = [ln.strip() for ln in self._log.read().decode(errors="replace").splitlines() if ln.strip()]
        return lines[-1] if lines else f"exit code {self._proc.returncode if self._proc else '?'}"

    def _cleanup(self) -> None:
        self._closed = True
        if self._tmp is not None and self._tmp.exists():
            self._tmp.unlink()
        if self._log is not None:
            self._log.close()
            self._log = None


def _die_with_parent() -> None:
    """In the child before exec: ask Linux to SIGKILL it when its parent dies (elsewhere: do nothing)."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def _remove_stale_temporaries(path: Path) -> None:
    """Delete temporaries of ``path`` left by writers that were killed (their process no longer exists)."""
    for tmp in path.parent.glob(f".{glob.escape(path.stem)}.*.tmp.mp4"):
        pid = tmp.name[len(path.stem) + 2:].split(".")[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass  # alive but not ours: leave it


def encode_frames(
    frames: Iterable[np.ndarray],
    path: str | os.PathLike,
    fps: float,
    *,
    audio_from: str | os.PathLike | None = None,
    audio_start: float = 0.0,
    audio_duration: float | None = None,
) -> Path:
    """Encode (H, W, 3) uint8 BGR frames (all of the first one's size) into an MP4 at ``path``; return ``path``."""
    it = iter(frames)
    first = next(it, None)
    if first is None:
        raise ValueError(f"{path}: no frames to encode")
    size = (first.shape[1], first.shape[0])
    with VideoWriter(path, fps, size, audio_from=audio_from, audio_start=audio_start,
                     audio_duration=audio_duration) as writer:
        writer.write(first)
        for frame in it:
            writer.write(frame)
    return Path(path)


def side_by_side(original: np.ndarray, stylized: np.ndarray) -> np.ndarray:
    """Return a (H, 2W, 3) uint8 BGR frame: ``original`` resized to the (H, W) of ``stylized`` left, it right."""
    for name, a in (("original", original), ("stylized", stylized)):
        if a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8:
            raise ValueError(f"{name} must be (H, W, 3) uint8 BGR, got {a.shape} {a.dtype}")
    h, w = stylized.shape[:2]
    if original.shape[:2] != (h, w):
        interp = cv2.INTER_AREA if original.shape[1] > w else cv2.INTER_CUBIC
        original = cv2.resize(original, (w, h), interpolation=interp)
    return np.hstack([original, stylized])
