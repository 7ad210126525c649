"""Where stylised frames go: the MP4 (plus side-by-side) writer, and a thread that runs a sink beside the loop.

A sink has ``write(index, original, stylized)``, ``close()`` (finish) and ``abort()`` (drop the partial output).
"""

from __future__ import annotations

import queue
import resource
import threading
import time
from pathlib import Path

import numpy as np

from media.encode import VideoWriter, side_by_side
from video.output import side_by_side_path

_DONE = object()


class VideoSink:
    """Encodes frames into ``output`` (H.264 MP4 with the source's audio) and optionally its side-by-side video.

    The writers open at the first frame (its size decides theirs). ``audio``: keyword arguments of
    :class:`media.encode.VideoWriter` (``audio_from``, ``audio_start``, ``audio_duration``).
    """

    def __init__(self, output: Path, fps: float, *, side_by_side: bool, preset: str | None = None, **audio):
        self.output, self.fps, self.with_side_by_side = Path(output), fps, side_by_side
        self._extra = ({"preset": preset} if preset else {}) | audio
        self._writers: list[VideoWriter] = []
        self.size = (0, 0)  # (height, width) of the frames, known after the first write

    @property
    def side_by_side_path(self) -> Path | None:
        return side_by_side_path(self.output) if self.with_side_by_side else None

    def write(self, index: int, original: np.ndarray, stylized: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 BGR stylised frame (and original | stylised to the side-by-side video)."""
        if not self._writers:
            h, w = stylized.shape[:2]
            self.size = (h, w)
            self._writers.append(VideoWriter(self.output, self.fps, size=(w, h), **self._extra))
            if self.with_side_by_side:
                self._writers.append(VideoWriter(self.side_by_side_path, self.fps, size=(2 * w, h), **self._extra))
        self._writers[0].write(stylized)
        if self.with_side_by_side:
            self._writers[1].write(side_by_side(original, stylized))

    def close(self) -> None:
        for writer in self._writers:
            writer.close()

    def abort(self) -> None:
        for writer in self._writers:
            writer.abort()


class ThreadedSink:
    """Runs ``sink`` in its own thread behind a bounded queue, so encoding overlaps the stylisation.

    ``busy_seconds`` is the time the thread spent in the sink; ``child_cpu_seconds`` the CPU time of the processes
    it started (ffmpeg). An error in the thread is raised again by the next :meth:`write` or by :meth:`close`.
    """

    def __init__(self, sink, maxsize: int = 16):
        self.sink = sink
        self.busy_seconds = 0.0
        self.child_cpu_seconds = 0.0
        self._queue: queue.Queue = queue.Queue(maxsize=maxsize)
        self._error: BaseException | None = None
        self._abort = False
        self._thread = threading.Thread(target=self._work, daemon=True)
        self._thread.start()

    def _work(self) -> None:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        try:
            while (item := self._queue.get()) is not _DONE:
                t = time.perf_counter()
                self.sink.write(*item)
                self.busy_seconds += time.perf_counter() - t
            t = time.perf_counter()
            self.sink.abort() if self._abort else self.sink.close()
            self.busy_seconds += time.perf_counter() - t
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
            self._error = exc
            self.sink.abort()
            while self._queue.get() is not _DONE:  # keep draining so that the producer never blocks
                pass
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.child_cpu_seconds = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)

    def write(self, index: int, original: np.ndarray, stylized: np.ndarray) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put((index, original, stylized))

    def close(self) -> None:
        self._queue.put(_DONE)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def abort(self) -> None:
        self._abort = True
        self._queue.put(_DONE)
        self._thread.join()
