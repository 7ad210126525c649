"""A sink that brings each painted frame to the output size on its way to the writer, and the run's peak memory.

The frame loop hands a sink ``(index, original, stylized)``; when the loop's items carry the input frame at the
output size (:class:`video.loop.FrameItem` ``full``), ``original`` is that frame and ``stylized`` is still at the
working size. :class:`UpsamplingSink` upsamples it there, guided by ``original`` (:func:`media.upsample.upsample`),
one frame at a time, so a 4K clip is never held in memory; wrapped in :class:`video.sink.ThreadedSink` the work
overlaps the painting of the next frames.
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

import numpy as np

from media.upsample import DEFAULT_METHOD, UpsampleMethod, upsample


class UpsamplingSink:
    """Wraps ``sink``: each stylised frame smaller than its original is upsampled to the original's size first.

    ``busy_seconds``: time spent upsampling; ``size``: the wrapped sink's (height, width) once it has a frame.
    """

    def __init__(self, sink, method: UpsampleMethod | str = DEFAULT_METHOD):
        self.sink = sink
        self.method = UpsampleMethod(method)
        self.busy_seconds = 0.0

    @property
    def size(self) -> tuple[int, int]:
        return self.sink.size

    def write(self, index: int, original: np.ndarray, stylized: np.ndarray) -> None:
        if stylized.shape != original.shape:
            t = time.perf_counter()
            stylized = upsample(stylized, original, self.method)
            self.busy_seconds += time.perf_counter() - t
        self.sink.write(index, original, stylized)

    def close(self) -> None:
        self.sink.close()

    def abort(self) -> None:
        self.sink.abort()


def peak_rss_mb() -> float:
    """Return this process's peak resident memory so far in MiB.

    Linux: ``VmHWM`` of ``/proc/self/status``. Not ``getrusage``'s ``ru_maxrss``: Linux carries a parent's peak
    into a child started by fork and exec, so a run started from a large process (a benchmark, the studio) would
    report its parent's peak. Elsewhere ``ru_maxrss`` (bytes on macOS, KiB on the BSDs).
    """
    try:
        status = Path("/proc/self/status").read_text()
        return int(status.split("VmHWM:")[1].split()[0]) / 1024.0
    except (OSError, IndexError, ValueError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0
