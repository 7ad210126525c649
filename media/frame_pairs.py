"""Frames at two sizes from one decode: the working frame a method paints and the full-resolution frame that guides
its upsampling to the output size (:mod:`media.upsample`). Frames are (H, W, 3) uint8 BGR.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace

import cv2
import numpy as np

from media.upsample import even_size
from media.video_io import ReadOptions, VideoInfo, iter_frames, probe, resize_frame


def output_frame_size(info: VideoInfo, output_width: int) -> tuple[int, int]:
    """Return the (W, H) of the output frames of a clip written at ``output_width`` (aspect kept, even sides)."""
    return even_size(info.width, info.height, output_width)


def to_output_size(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Return the source ``frame`` resized to ``size`` (W, H): INTER_AREA down, INTER_CUBIC up, itself if equal."""
    if (frame.shape[1], frame.shape[0]) == tuple(size):
        return frame
    interp = cv2.INTER_AREA if size[0] < frame.shape[1] else cv2.INTER_CUBIC
    return cv2.resize(frame, size, interpolation=interp)


def iter_frame_pairs(path: str | os.PathLike, options: ReadOptions, output_width: int,
                     info: VideoInfo | None = None) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Yield (output_index from 0, working frame, output-size frame) for the frames ``options`` selects.

    The working frame is exactly what :func:`media.video_io.iter_frames` yields for ``options`` (the source frame
    resized to ``options.width``); the output-size frame is the same source frame at :func:`output_frame_size`.
    Streams like :func:`media.video_io.iter_frames`: one source frame at a time.
    """
    info = info if info is not None else probe(path)
    size = output_frame_size(info, output_width)
    frames = iter_frames(path, replace(options, width=None), info)
    return ((k, _working(frame, options.width), to_output_size(frame, size)) for k, frame in frames)


def _working(frame: np.ndarray, width: int | None) -> np.ndarray:
    return frame if width is None else resize_frame(frame, width)
