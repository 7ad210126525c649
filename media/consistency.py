"""Per-pixel reliability of optical flow, as in Ruder et al.'s temporal loss.

:func:`certainty` ports the reference implementation's consistency checker (artistic-videos,
``consistencyChecker/consistencyChecker.cpp``, itself using Brox's ``CFilter`` convolution code) so that the
weights match what the paper's code computes from the same flows; :func:`long_term_weights` applies the
paper's "closest first" rule to weights of several earlier frames.

Flows are (H, W, 2) float32, pixels, x then y. For frames i (earlier) and j (current), ``certainty(flow_j_i,
flow_i_j)`` gives the weights of frame j's temporal loss against frame i warped by ``flow_j_i`` (the
reference's ``consistencyChecker backward_j_i.flo forward_i_j.flo reliable_j_i.pgm``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from media.warp import check_flow

#: Forward-backward check (Sundaram et al. 2010): fails where |w + w_rev|^2 >= FB_RELATIVE * (|w|^2 +
#: |w_rev|^2) + FB_ABSOLUTE, with w_rev the reverse flow sampled at p + w(p).
FB_RELATIVE = 0.01
FB_ABSOLUTE = 0.5
#: Motion boundary: |grad u|^2 + |grad v|^2 > MB_RELATIVE * |w|^2 + MB_ABSOLUTE.
MB_RELATIVE = 0.01
MB_ABSOLUTE = 0.002
#: The reference's values (0..255 scale) before smoothing: reliable, motion boundary, failed check
#: (negative so that the smoothing spreads the zero outwards; clipped at 0 afterwards), flow leaves the image.
_RELIABLE, _MOTION_BOUNDARY, _INCONSISTENT, _OUTSIDE = 255.0, 0.0, -255.0, 0.0
#: Gaussian smoothing of the weight map: sigma and truncation (the reference's CSmooth(0.8, 2.0), 5 taps).
SMOOTH_SIGMA = 0.8
SMOOTH_PRECISION = 2.0
#: Central-difference derivative used for the motion-boundary test (the reference's CDerivative(3)).
_DERIVATIVE = np.array([-0.5, 0.0, 0.5])


@dataclass(frozen=True)
class FlowChecks:
    """Per-pixel outcome of the reference's tests on ``flow`` given its ``reverse``; all (H, W) bool.

    ``inside``: the bilinear footprint of ``p + flow(p)`` lies in the image (the reference needs
    ``floor(x) + 1 <= W - 1``, so the last column and row never count as inside); ``consistent``: inside and
    the forward-backward check passes; ``motion_boundary``: consistent but on a motion boundary.
    """

    inside: np.ndarray
    consistent: np.ndarray
    motion_boundary: np.ndarray


def flow_checks(flow: np.ndarray, reverse: np.ndarray) -> FlowChecks:
    """Return the reference checker's three per-pixel tests of ``flow`` (j->i) against ``reverse`` (i->j)."""
    flow = _as_flow(flow, "flow")
    reverse = _as_flow(reverse, "reverse")
    if flow.shape != reverse.shape:
        raise ValueError(f"flow is {flow.shape} but reverse is {reverse.shape}")
    h, w = flow.shape[:2]
    f = flow.astype(np.float64)
    # like the reference, the target point is computed in float32 and the rest in double
    bx = (np.arange(w, dtype=np.float32)[None, :] + flow[..., 0]).astype(np.float64)
    by = (np.arange(h, dtype=np.float32)[:, None] + flow[..., 1]).astype(np.float64)
    with np.errstate(invalid="ignore"):
        x1 = np.floor(bx)
        y1 = np.floor(by)
        inside = (x1 >= 0) & (x1 + 1 < w) & (y1 >= 0) & (y1 + 1 < h)  # False for NaN as well
    x1i = np.where(inside, x1, 0).astype(np.intp)
    y1i = np.where(inside, y1, 0).astype(np.intp)
    x2i = np.minimum(x1i + 1, w - 1)
    y2i = np.minimum(y1i + 1, h - 1)
    ax = np.where(inside, bx - x1, 0.0)[..., None]
    ay = np.where(inside, by - y1, 0.0)[..., None]
    r = reverse.astype(np.float64)
    top = (1.0 - ax) * r[y1i, x1i] + ax * r[y1i, x2i]
    bottom = (1.0 - ax) * r[y2i, x1i] + ax * r[y2i, x2i]
    back = ((1.0 - ay) * top + ay * bottom).astype(np.float32).astype(np.float64)  # stored as float there

    round_trip = np.sum(np.square(f + back), axis=-1)
    sq_flow = np.sum(np.square(f), axis=-1)
    sq_back = np.sum(np.square(back), axis=-1)
    consistent = inside & (round_trip < FB_RELATIVE * (sq_flow + sq_back) + FB_ABSOLUTE)
    boundary = consistent & (motion_edge_strength(flow) > MB_RELATIVE * sq_flow + MB_ABSOLUTE)
    return FlowChecks(inside=inside, consistent=consistent, motion_boundary=boundary)


def certainty(flow: np.ndarray, reverse: np.ndarray) -> np.ndarray:
    """Return the (H, W) float32 weights in [0, 1] of the reference's consistency checker.

    Args:
        flow: (H, W, 2) float32 flow j->i (current frame to earlier one), pixels, x then y.
        reverse: (H, W, 2) float32 flow i->j.

    0 where ``p + flow(p)`` leaves the image, where the forward-backward check fails and on motion
    boundaries, 1 elsewhere; then, as in the reference, smoothed by a 5-tap Gaussian (sigma 0.8, mirrored
    borders) with failed checks entered as -1 so that the zone of zero weight grows by about a pixel, and
    clipped to [0, 1]. The reference writes ``int(255 * c)`` to a PGM; this returns ``c`` unquantised.
    """
    checks = flow_checks(flow, reverse)
    reliable = np.full(checks.inside.shape, _RELIABLE, dtype=np.float64)
    reliable[~checks.inside] = _OUTSIDE
    reliable[checks.inside & ~checks.consistent] = _INCONSISTENT
    reliable[checks.motion_boundary] = _MOTION_BOUNDARY
    kernel = gaussian_taps(SMOOTH_SIGMA, SMOOTH_PRECISION)
    smoothed = _correlate_mirrored(_correlate_mirrored(reliable, kernel, axis=1), kernel, axis=0)
    return (np.clip(smoothed, 0.0, 255.0) / 255.0).astype(np.float32)


def quick_certainty(flow: np.ndarray, reverse: np.ndarray) -> np.ndarray:
    """Return (H, W) float32 weights in [0, 1]: the forward-backward check alone, in float32 with OpenCV.

    The same test as :func:`certainty` (Sundaram et al.: ``|w + w_rev|^2 < FB_RELATIVE (|w|^2 + |w_rev|^2) +
    FB_ABSOLUTE``, 0 where ``p + w(p)`` leaves the image), without the motion-boundary test, the zero zone grown by
    one pixel (a 3x3 erosion) and smoothed by the same Gaussian. About 20x faster than :func:`certainty` at
    320x180, for smoothing a video frame by frame, where the reference's exact weights buy nothing.

    Args:
        flow: (H, W, 2) float32 flow j->i; reverse: (H, W, 2) float32 flow i->j.
    """
    flow = _as_flow(flow, "flow").astype(np.float32, copy=False)
    reverse = _as_flow(reverse, "reverse").astype(np.float32, copy=False)
    h, w = flow.shape[:2]
    xs = np.arange(w, dtype=np.float32)[None, :] + flow[..., 0]
    ys = np.arange(h, dtype=np.float32)[:, None] + flow[..., 1]
    back = cv2.remap(reverse, xs, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    round_trip = np.sum(np.square(flow + back), axis=-1)
    bound = FB_RELATIVE * (np.sum(np.square(flow), axis=-1) + np.sum(np.square(back), axis=-1)) + FB_ABSOLUTE
    inside = (xs >= 0) & (xs <= w - 1) & (ys >= 0) & (ys <= h - 1)
    weights = ((round_trip < bound) & inside).astype(np.float32)
    weights = cv2.erode(weights, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE)
    return cv2.GaussianBlur(weights, (5, 5), SMOOTH_SIGMA, borderType=cv2.BORDER_REFLECT)


def photometric_certainty(frame: np.ndarray, prev_frame: np.ndarray, back: np.ndarray, low: float = 10.0,
                          high: float = 30.0) -> np.ndarray:
    """Return (H, W) float32 weights in [0, 1] from one flow: how well ``prev_frame`` warped by ``back`` matches
    ``frame``. 1 where the mean absolute colour difference (3x3 box-blurred, 0..255) is at most ``low``, 0 from
    ``high`` on and where ``p + back(p)`` leaves the image, linear between.

    Needs no reverse flow, so it costs one flow instead of two; it cannot see an occlusion whose colours happen to
    match, which for blending a painted frame with its predecessor costs little (the painting there matches too).

    Args:
        frame, prev_frame: (H, W, 3) uint8 BGR input frames t and t-1; back: (H, W, 2) float32 flow t -> t-1.
    """
    back = _as_flow(back, "back").astype(np.float32, copy=False)
    h, w = back.shape[:2]
    xs = np.arange(w, dtype=np.float32)[None, :] + back[..., 0]
    ys = np.arange(h, dtype=np.float32)[:, None] + back[..., 1]
    warped = cv2.remap(prev_frame, xs, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    difference = cv2.absdiff(frame, warped).astype(np.float32).mean(axis=-1)
    difference = cv2.blur(difference, (3, 3))
    inside = (xs >= 0) & (xs <= w - 1) & (ys >= 0) & (ys <= h - 1)
    return (np.clip((high - difference) / (high - low), 0.0, 1.0) * inside).astype(np.float32)


def motion_edge_strength(flow: np.ndarray) -> np.ndarray:
    """Return ``|grad u|^2 + |grad v|^2`` (H, W) float64 by central differences with mirrored borders."""
    f = np.asarray(flow, dtype=np.float64)
    dx = _correlate_mirrored(f, _DERIVATIVE, axis=1)
    dy = _correlate_mirrored(f, _DERIVATIVE, axis=0)
    return np.sum(np.square(dx) + np.square(dy), axis=-1)


def gaussian_taps(sigma: float, precision: float) -> np.ndarray:
    """Return the normalised 1-D Gaussian of ``2 * ceil(precision * sigma) + 1`` taps (the reference's CSmooth)."""
    radius = int(np.ceil(np.float32(precision) * np.float32(sigma)))
    i = np.arange(-radius, radius + 1, dtype=np.float64)
    taps = np.exp(i * i / (-2.0 * sigma * sigma))
    return taps / taps.sum()


def long_term_weights(certainties: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Return Ruder et al.'s long-term weights ``max(c_j - sum_{k closer than j} c_k, 0)``, closest first.

    Args:
        certainties: (H, W) float weights in [0, 1] of the earlier frames, ordered closest first (e.g. the
            weights against frames t-1, t-2, t-10); each pixel is then counted for the closest frame where
            it is reliable, and further frames only fill in what the closer ones left uncertain.

    Returns:
        list of (H, W) float32 arrays, same order and length as ``certainties``.
    """
    arrays = [np.asarray(c, dtype=np.float32) for c in certainties]
    for c in arrays[1:]:
        if c.shape != arrays[0].shape:
            raise ValueError(f"certainties differ in shape: {arrays[0].shape} vs {c.shape}")
    out: list[np.ndarray] = []
    closer = None
    for c in arrays:
        out.append(c.copy() if closer is None else np.maximum(c - closer, 0.0).astype(np.float32))
        closer = c.copy() if closer is None else closer + c
    return out


def _as_flow(flow: np.ndarray, name: str) -> np.ndarray:
    flow = np.asarray(flow, dtype=np.float32)
    try:
        check_flow(flow)
    except ValueError as err:
        raise ValueError(f"{name}: {err}") from None
    return flow


def _correlate_mirrored(a: np.ndarray, taps: np.ndarray, axis: int) -> np.ndarray:
    """Return ``sum_i taps[i] * a[x + i - r]`` along ``axis``, mirroring borders as ``cba|abc`` (Brox's CFilter)."""
    r = len(taps) // 2
    pad = [(0, 0)] * a.ndim
    pad[axis] = (r, r)
    padded = np.pad(a, pad, mode="symmetric")
    n = a.shape[axis]
    out = np.zeros(a.shape, dtype=np.float64)
    for k, t in enumerate(taps):
        if t != 0.0:
            out += t * np.take(padded, np.arange(k, k + n), axis=axis)
    return out
