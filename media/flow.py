"""Dense optical flow between two frames with OpenCV: ``estimate_flow(a, b, method) -> (H, W, 2) float32``.

Convention (the project's): the flow from ``a`` to ``b`` is in pixels, x then y, and satisfies
``a(p) ≈ b(p + flow(p))``. Hence the flow from frame t to frame t-1 is what :func:`media.warp.warp` needs to
bring frame t-1 into frame t's coordinates.

The three methods and why their parameters. ``benchmarks/flow.py`` measured on 2 CPU cores, over 14 pairs with
ground truth (Middlebury RubberWhale/Grove3/Urban2, nine FlyingChairs pairs, two mmflow crops), the average
end-point error and time per pair shown in brackets:

- ``deepflow`` (default; 2.21 px, 0.8 s): OpenCV contrib's DeepFlow (Weinzaepfel et al. 2013), the variational
  method the paper uses, with its published defaults. OpenCV's version has no DeepMatching pre-step, so large
  motions are found by its coarse-to-fine pyramid only. Lowest error overall and on 8 of the 14 pairs.
- ``dis`` (2.41 px, 0.11 s): Dense Inverse Search (Kroeger et al. 2016), ``PRESET_MEDIUM`` with the finest
  scale lowered from 1 to 0 (patches searched at full resolution), which roughly halves the preset's error on
  Middlebury (0.23 -> 0.12 px on RubberWhale) for about three times its time. As good as DeepFlow on Middlebury
  (0.39 vs 0.40 px), worse on the large FlyingChairs motions; the choice when speed matters.
- ``dis-fast`` (2.91 px; 0.0033 s against ``dis``'s 0.063 s in the same run, about 19x cheaper): DIS with OpenCV's
  ``PRESET_FAST`` as shipped (coarser patches, finest level 2), a coarse and smooth field. Twice ``dis``'s error on
  Middlebury (0.85 vs 0.39 px), still better than Farneback everywhere. Made for inference-time smoothing: on vtest
  (``benchmarks/arbitrary.py``), smoothing the arbitrary-style output along it flickered less than along ``dis``
  (its smoother field passes more of the forward-backward check), for a third of the time per 640x360 frame. Not
  for the optimisation path, whose warped initialisation needs ``dis``'s sharper motion edges.
- ``farneback`` (5.31 px, 0.06 s): polynomial expansion (Farneback 2003), 6 pyramid levels at scale 0.5, 13 px
  averaging window, 5 iterations, polynomial neighbourhood 5 with sigma 1.1 (OpenCV's recommendation for that
  neighbourhood); best of the settings tried on Middlebury. A baseline; least accurate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import StrEnum

import cv2
import numpy as np


class FlowMethod(StrEnum):
    """Optical flow algorithm used by :func:`estimate_flow`."""

    DEEPFLOW = "deepflow"
    DIS = "dis"
    DIS_FAST = "dis-fast"
    FARNEBACK = "farneback"


#: The method of Ruder et al. (and the most accurate one here); what the pipeline uses unless told otherwise.
DEFAULT_METHOD = FlowMethod.DEEPFLOW

#: DIS: preset, then the finest pyramid level searched (0 = full resolution; the preset uses 1).
DIS_PRESET = cv2.DISOpticalFlow_PRESET_MEDIUM
DIS_FINEST_SCALE = 0
#: ``dis-fast``: the preset exactly as OpenCV ships it.
DIS_FAST_PRESET = cv2.DISOpticalFlow_PRESET_FAST

#: Farneback parameters, in cv2.calcOpticalFlowFarneback's order (see the module docstring for the reasons).
FARNEBACK_PARAMS = {
    "pyr_scale": 0.5,
    "levels": 6,
    "winsize": 13,
    "iterations": 5,
    "poly_n": 5,
    "poly_sigma": 1.1,
    "flags": 0,
}


def estimate_flow(a: np.ndarray, b: np.ndarray, method: FlowMethod | str = DEFAULT_METHOD) -> np.ndarray:
    """Return the (H, W, 2) float32 flow from ``a`` to ``b`` (pixels, x then y): ``a(p) ≈ b(p + flow(p))``.

    Args:
        a, b: frames of the same size, (H, W, 3) uint8 BGR (or (H, W) uint8 grey); at least 2x2 pixels.
        method: a :class:`FlowMethod` or its value.
    """
    method = FlowMethod(method)
    grey_a, grey_b = _to_grey(a, "a"), _to_grey(b, "b")
    if grey_a.shape != grey_b.shape:
        raise ValueError(f"frames differ in size: a is {grey_a.shape}, b is {grey_b.shape}")
    flow = _ESTIMATORS[method](grey_a, grey_b)
    return np.ascontiguousarray(flow, dtype=np.float32)


def input_flows(frames: Sequence[np.ndarray], method: FlowMethod | str = "dis") -> tuple[list[np.ndarray],
                                                                                  list[np.ndarray]]:
    """Return (flows t -> t-1, flows t-1 -> t) of consecutive (H, W, 3) uint8 frames, each (H, W, 2) float32."""
    method = FlowMethod(method)
    back = [estimate_flow(frames[t], frames[t - 1], method) for t in range(1, len(frames))]
    fwd = [estimate_flow(frames[t - 1], frames[t], method) for t in range(1, len(frames))]
    return back, fwd


def _to_grey(image: np.ndarray, name: str) -> np.ndarray:
    """Return the (H, W) uint8 grey version of a (H, W, 3) uint8 BGR or (H, W) uint8 frame."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"frame {name} must be uint8, got {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    elif image.ndim != 2:
        raise ValueError(f"frame {name} must be (H, W, 3) BGR or (H, W) grey, got shape {image.shape}")
    if min(image.shape) < 2:
        raise ValueError(f"frame {name} is too small for optical flow: {image.shape}")
    return np.ascontiguousarray(image)


def _deepflow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return cv2.optflow.createOptFlow_DeepFlow().calc(a, b, None)


def _dis(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    dis = cv2.DISOpticalFlow.create(DIS_PRESET)
    dis.setFinestScale(DIS_FINEST_SCALE)
    return dis.calc(a, b, None)


def _dis_fast(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return cv2.DISOpticalFlow.create(DIS_FAST_PRESET).calc(a, b, None)


def _farneback(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    p = FARNEBACK_PARAMS
    return cv2.calcOpticalFlowFarneback(
        a, b, None, p["pyr_scale"], p["levels"], p["winsize"], p["iterations"], p["poly_n"], p["poly_sigma"],
        p["flags"],
    )


_ESTIMATORS: dict[FlowMethod, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    FlowMethod.DEEPFLOW: _deepflow,
    FlowMethod.DIS: _dis,
    FlowMethod.DIS_FAST: _dis_fast,
    FlowMethod.FARNEBACK: _farneback,
}
