"""Feed-forward networks as a styliser of the frame loop: batches through the network, optional smoothing along flow.

Smoothing blends each output with the previous output warped by the flow of the input frames, under the
forward-backward certainty: ``out = (1 - a c) net(I_t) + a c warp(out_{t-1})`` (:func:`media.smoothing.smooth_frame`,
shared with ``paintvid stabilize``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import tensorflow as tf

from foundation.errors import UserError
from media.schedule import parse_schedule
from media.smoothing import blend_along_flow, estimate_motion
from video.loop import FrameItem


def compile_stylizer(net) -> Callable[[np.ndarray], np.ndarray]:
    """Return ``f(frames (B, H, W, 3) uint8 BGR) -> (B, H, W, 3) uint8 BGR`` running ``net`` as one graph."""

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
    if len(stylizers) == 1 and not schedule_text:
        def single(frames):
            return stylizers[0](frames)

        single.next_index = 0
        return single
    if not schedule_text:
        raise UserError("several fast models need --style-schedule to say when each one is used")
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


class NetworkStylizer:
    """Runs ``network(frames (B, H, W, 3) uint8) -> (B, H, W, 3) uint8`` on batches, then the optional smoothing.

    The smoothing's flow depends only on the input frames, so it is estimated on a background thread while the
    network paints the same batch (OpenCV and onnxruntime/TensorFlow release the GIL); on 2 cores that hides most
    of the flow's cost. ``network_seconds`` adds up the network step; ``smooth_seconds`` the blend plus any wait
    for the flow; ``check`` is the smoothing's certainty (:data:`media.smoothing.CHECKS`); ``interpolation`` that
    of the warp of the previous output (``linear`` or ``cubic``, :func:`media.warp.warp`).
    """

    def __init__(self, network, batch_size: int, smoothing: float = 0.0, flow_method: str = "dis",
                 flow_scale: float = 0.5, check: str = "reference", interpolation: str = "linear"):
        self.network, self.batch_size, self.interpolation = network, batch_size, interpolation
        self.smoothing, self.flow_method, self.flow_scale, self.check = smoothing, flow_method, flow_scale, check
        self.network_seconds = self.smooth_seconds = 0.0
        self._prev: tuple[np.ndarray, np.ndarray] | None = None
        self._flows = ThreadPoolExecutor(max_workers=1, thread_name_prefix="smoothing-flow")

    def _motions(self, items: list[FrameItem]) -> list[Future | None]:
        """Start the motion estimates of the batch's frame pairs (None where a frame has no predecessor)."""
        if self.smoothing <= 0:
            return [None] * len(items)
        previous = [self._prev[0] if self._prev is not None else None] + [item.frame for item in items[:-1]]
        return [None if prev is None else self._flows.submit(estimate_motion, item.frame, prev, self.flow_method,
                                                                self.flow_scale, self.check)
                for item, prev in zip(items, previous, strict=True)]

    def stylize(self, items: list[FrameItem]) -> list[np.ndarray]:
        motions = self._motions(items)
        t = time.perf_counter()
        styled = list(self.network(np.stack([item.frame for item in items])))
        self.network_seconds += time.perf_counter() - t
        outputs = []
        for item, out, motion in zip(items, styled, motions, strict=True):
            if motion is not None:
                t = time.perf_counter()
                found = motion.result()
                out = blend_along_flow(out, self._prev[1], found.back, found.certainty, self.smoothing,
                                       self.interpolation)
                self.smooth_seconds += time.perf_counter() - t
            self._prev = (item.frame, out)
            outputs.append(out)
        return outputs

    def postfix(self) -> dict:
        return {}
