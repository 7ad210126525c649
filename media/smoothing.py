"""Smoothing along optical flow: a frame blended with the previous output carried into it, where the flow is certain.

``out_t = (1 - a c) P_t + a c warp(out_{t-1}, flow_{t->t-1})``, with ``P_t`` this frame's own result (a network's
output, a per-frame stylisation), ``a`` the blend strength and ``c`` the forward-backward certainty of the flow of
the INPUT frames (:func:`media.consistency.certainty`). Where ``c = 0`` (occlusions, new content, flow leaving the
image) the result is ``P_t`` exactly. Fast mode's inference-time smoothing (:mod:`video.fast_stylizer`) and
``paintvid stabilize`` (:mod:`video.stabilize`) share it.

Why no drift builds up: ``out_t - P_t = a c (warp(out_{t-1}) - P_t)``, so the recursion is an exponential moving
average along the motion; a deviation from the per-frame result decays by the factor ``a c <= a`` every frame
instead of accumulating.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from media.consistency import certainty, photometric_certainty, quick_certainty
from media.flow import FlowMethod, estimate_flow
from media.warp import warp


@dataclass(frozen=True)
class Motion:
    """The motion between an input frame t-1 and frame t, at the frames' size.

    back: (H, W, 2) float32 flow t -> t-1 (what warps frame t-1 into frame t); forward: (H, W, 2) float32 flow
    t-1 -> t; certainty: (H, W) float32 in [0, 1], the weights of :func:`media.consistency.certainty`.
    """

    back: np.ndarray
    forward: np.ndarray
    certainty: np.ndarray


#: The certainty functions ``estimate_motion`` can use: the reference checker's, the forward-backward test alone, or
#: (``photo``, :func:`media.consistency.photometric_certainty`) the match of the warped previous frame: one flow.
CHECKS = {"reference": certainty, "quick": quick_certainty, "photo": None}


def estimate_motion(frame: np.ndarray, prev_frame: np.ndarray, method: FlowMethod | str,
                    scale: float = 1.0, check: str = "reference") -> Motion:
    """Return the :class:`Motion` from ``prev_frame`` to ``frame`` (both (H, W, 3) uint8 BGR input frames).

    scale: estimate flow and certainty on frames resized by this factor (<= 1), then upsample them (flow vectors
    rescaled to full-size pixels); 0.5 is about 4x cheaper.
    check: ``reference`` (:func:`media.consistency.certainty`), ``quick``
    (:func:`media.consistency.quick_certainty`, no motion-boundary test, far cheaper) or ``photo``
    (:func:`media.consistency.photometric_certainty`: no reverse flow; ``forward`` is then ``-back``, an
    approximation).
    """
    h, w = frame.shape[:2]
    a, b = frame, prev_frame
    if scale < 1.0:
        size = (max(8, round(w * scale)), max(8, round(h * scale)))
        a = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        b = cv2.resize(prev_frame, size, interpolation=cv2.INTER_AREA)
    back = estimate_flow(a, b, method)
    if check == "photo":
        forward, cert = -back, photometric_certainty(a, b, back)
    else:
        forward = estimate_flow(b, a, method)
        cert = CHECKS[check](back, forward)
    if scale < 1.0:
        factor = np.float32([w / a.shape[1], h / a.shape[0]])
        back = cv2.resize(back, (w, h), interpolation=cv2.INTER_LINEAR) * factor
        forward = cv2.resize(forward, (w, h), interpolation=cv2.INTER_LINEAR) * factor
        cert = cv2.resize(cert, (w, h), interpolation=cv2.INTER_LINEAR)
    return Motion(back=back, forward=forward, certainty=cert)


def blend_along_flow(out: np.ndarray, prev_out: np.ndarray, back: np.ndarray, weights: np.ndarray, alpha: float,
                     interpolation: str = "linear") -> np.ndarray:
    """Return ``(1 - alpha w) out + alpha w warp(prev_out, back)`` as (H, W, 3) uint8 BGR (a new array).

    Args:
        out, prev_out: (H, W, 3) uint8 results of frames t and t-1.
        back: (H, W, 2) float32 flow t -> t-1 of the input frames; weights: (H, W) float in [0, 1] (the certainty).
        alpha: blend strength in [0, 1]. Where ``alpha * weights`` is 0 the result equals ``out`` exactly.
        interpolation: of the warp, ``linear`` or ``cubic`` (:func:`media.warp.warp`).
    """
    if out.shape != prev_out.shape or out.shape[:2] != back.shape[:2] or out.shape[:2] != weights.shape:
        raise ValueError(f"out {out.shape}, prev_out {prev_out.shape}, flow {back.shape} and weights "
                         f"{weights.shape} must share (H, W)")
    weight = alpha * weights[..., None]
    warped, _ = warp(prev_out, back, interpolation)
    blended = (1.0 - weight) * out.astype(np.float32) + weight * warped
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)


def smooth_frame(
    out: np.ndarray,
    prev_out: np.ndarray,
    frame: np.ndarray,
    prev_frame: np.ndarray,
    alpha: float,
    flow_method: str,
    flow_scale: float = 1.0,
    check: str = "reference",
) -> np.ndarray:
    """Return ``out`` blended with ``prev_out`` warped into this frame, under the flow certainty (uint8 BGR).

    Args:
        out, prev_out: (H, W, 3) uint8 stylised frames t and t-1; frame, prev_frame: the input frames.
        alpha: blend factor in [0, 1] where the flow is certain.
        flow_scale: estimate flow and certainty on frames resized by this factor (<= 1), then upsample them;
            0.5 makes smoothing about 4x cheaper.
        check: the certainty, ``reference`` or ``quick`` (:data:`CHECKS`).
    """
    motion = estimate_motion(frame, prev_frame, flow_method, flow_scale, check)
    return blend_along_flow(out, prev_out, motion.back, motion.certainty, alpha)
