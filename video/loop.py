"""The one frame loop of every video runner: frames from a source, through a styliser, into a sink.

A *styliser* is any object with ``batch_size: int``, ``stylize(items: list[FrameItem]) -> list[(H, W, 3) uint8 BGR]``
and ``postfix() -> dict`` (the numbers the progress bar shows). The optimisation path and the feed-forward networks
are stylisers (:mod:`video.stylizers`); sinks are the work directory's PNGs or the MP4 writer (:mod:`video.sink`).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from tqdm.auto import tqdm

_DONE = object()


@dataclass(frozen=True)
class FrameItem:
    """One frame on its way through the loop: ``index`` is 1-based, ``frame`` (H, W, 3) uint8 BGR content at the
    working size; ``full``: the same frame at the output size when that differs (the sink gets it as the original,
    the guide of :class:`video.upsample_sink.UpsamplingSink`), else None."""

    index: int
    frame: np.ndarray
    full: np.ndarray | None = None


class Stylizer(Protocol):
    batch_size: int

    def stylize(self, items: list[FrameItem]) -> list[np.ndarray]: ...

    def postfix(self) -> dict: ...


class Sink(Protocol):
    def write(self, index: int, original: np.ndarray, stylized: np.ndarray) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


@dataclass(frozen=True)
class LoopStats:
    """What one loop did: frames written, wall seconds, seconds inside the styliser."""

    frames: int
    wall_seconds: float
    stylize_seconds: float


class Prefetch:
    """Iterates ``items`` in a background thread, ``maxsize`` ahead (decoding overlaps stylisation).

    ``busy_seconds`` is the time spent producing items; an error in the thread is raised by the iteration.
    """

    def __init__(self, items: Iterable, maxsize: int = 16):
        self.busy_seconds = 0.0
        self._items = iter(items)
        self._queue: queue.Queue = queue.Queue(maxsize=maxsize)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _work(self) -> None:
        try:
            while not self._stop.is_set():
                t = time.perf_counter()
                item = next(self._items, _DONE)
                self.busy_seconds += time.perf_counter() - t
                if item is _DONE or not self._put(item):
                    break
        except BaseException as exc:  # noqa: BLE001 - raised again in the consumer's thread
            self._error = exc
        finally:
            self._put(_DONE)

    def __iter__(self) -> Iterator:
        try:
            while (item := self._queue.get()) is not _DONE:
                yield item
            if self._error is not None:
                raise self._error
        finally:
            self.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def batches(items: Iterable[FrameItem], size: int) -> Iterator[list[FrameItem]]:
    """Yield consecutive lists of ``size`` items (the last one shorter)."""
    batch: list[FrameItem] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def run_frames(source: Iterable[FrameItem], stylizer: Stylizer, sink: Sink, *, total: int | None, desc: str,
               initial: int = 0, progress: bool = True) -> LoopStats:
    """Stylise every item of ``source`` in batches and write each result to ``sink``; return the loop's numbers.

    The sink is closed when the source is exhausted and aborted when anything fails (then the error propagates).
    """
    started = time.perf_counter()
    n, busy = 0, 0.0
    with tqdm(total=total, initial=initial, desc=desc, unit="frame", disable=not progress, dynamic_ncols=True,
              leave=False) as bar:
        try:
            for batch in batches(source, stylizer.batch_size):
                t = time.perf_counter()
                outputs = stylizer.stylize(batch)
                busy += time.perf_counter() - t
                for item, out in zip(batch, outputs, strict=True):
                    sink.write(item.index, item.frame if item.full is None else item.full, out)
                n += len(batch)
                bar.update(len(batch))
                bar.set_postfix(stylizer.postfix())
        except BaseException:
            sink.abort()
            if hasattr(source, "close"):
                source.close()  # stop a prefetching thread
            raise
        sink.close()
    return LoopStats(frames=n, wall_seconds=time.perf_counter() - started, stylize_seconds=busy)
