"""Temporal-consistency and flow-accuracy metrics.

- :func:`warping_error` / :func:`flicker_map`: the warping error of Lai et al. 2018 ("Learning Blind Video
  Temporal Consistency"): for each t >= 1, the mean over non-occluded pixels (and colour channels) of
  ``(O_t - warp(O_{t-1}, flow_{t->t-1}))^2`` with images scaled to [0, 1], where the flow and the occlusion
  masks come from the INPUT video, so that a stylised video is judged by how well it follows the input's
  motion.
- :func:`occlusion_mask`: non-occluded pixels by the forward-backward check.
- :func:`endpoint_error`: average end-point error of a flow against ground truth.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from media.consistency import flow_checks
from media.flo import UNKNOWN_FLOW_THRESHOLD
from media.warp import check_flow, warp


def occlusion_mask(flow: np.ndarray, reverse: np.ndarray) -> np.ndarray:
    """Return the (H, W) bool mask of pixels that are NOT occluded: ``p + flow(p)`` lies in the image and
    passes the forward-backward check against ``reverse`` (the same test as :func:`media.consistency.certainty`,
    without its motion-boundary exclusion and smoothing).

    Args:
        flow: (H, W, 2) float32 flow t->t-1; reverse: (H, W, 2) float32 flow t-1->t.
    """
    return flow_checks(flow, reverse).consistent


def warping_error(
    frames: Sequence[np.ndarray] | np.ndarray,
    flows_back: Sequence[np.ndarray],
    masks: Sequence[np.ndarray] | None = None,
    *,
    flows_forward: Sequence[np.ndarray] | None = None,
) -> np.ndarray:
    """Return the (T-1,) float64 warping errors ``E_t``, t = 1..T-1, of a video (Lai et al. 2018).

    Args:
        frames: T frames (H, W, 3) uint8 (scaled to [0, 1] here) or float already in [0, 1]; e.g. the
            stylised output.
        flows_back: T-1 flows; ``flows_back[t-1]`` is the (H, W, 2) flow from frame t to frame t-1, estimated
            on the INPUT video.
        masks: optional T-1 (H, W) bool masks, True where pixel p of frame t is visible in frame t-1
            (ground truth); if omitted they are computed by :func:`occlusion_mask` from ``flows_back`` and
            ``flows_forward`` (``flows_forward[t-1]``: flow t-1 -> t), or, without those, only pixels whose
            flow stays inside the image count.

    ``E_t`` is the mean over valid pixels and channels of the squared difference; NaN if no pixel is valid.
    """
    per_pixel, valid = _per_pixel_errors(frames, flows_back, masks, flows_forward)
    sums = np.array([e[v].sum() for e, v in zip(per_pixel, valid, strict=True)], dtype=np.float64)
    counts = np.array([v.sum() for v in valid], dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def flicker_map(
    frames: Sequence[np.ndarray] | np.ndarray,
    flows_back: Sequence[np.ndarray],
    masks: Sequence[np.ndarray] | None = None,
    *,
    flows_forward: Sequence[np.ndarray] | None = None,
) -> np.ndarray:
    """Return the (H, W) float32 per-pixel warping error averaged over the time steps where the pixel is valid.

    Same arguments and per-pixel error as :func:`warping_error` (mean over channels of the squared difference
    of [0, 1] images); 0 where a pixel is never valid. Meant for a heat map of where a video flickers.
    """
    per_pixel, valid = _per_pixel_errors(frames, flows_back, masks, flows_forward)
    total = np.zeros(per_pixel[0].shape, dtype=np.float64)
    count = np.zeros(per_pixel[0].shape, dtype=np.float64)
    for e, v in zip(per_pixel, valid, strict=True):
        total += np.where(v, e, 0.0)
        count += v
    return (total / np.maximum(count, 1.0)).astype(np.float32)


def endpoint_error(flow: np.ndarray, gt: np.ndarray) -> float:
    """Return the average end-point error ``mean |flow - gt|`` in pixels over pixels where ``gt`` is valid.

    Args:
        flow, gt: (H, W, 2) float flows, pixels, x then y. Ground-truth values whose magnitude exceeds 1e9
            (Middlebury's "unknown") or that are not finite are ignored.
    """
    flow = np.asarray(flow, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    check_flow(flow)
    check_flow(gt)
    if flow.shape != gt.shape:
        raise ValueError(f"flow is {flow.shape} but ground truth is {gt.shape}")
    with np.errstate(invalid="ignore"):
        valid = np.all(np.isfinite(gt) & (np.abs(gt) <= UNKNOWN_FLOW_THRESHOLD), axis=-1)
    if not valid.any():
        raise ValueError("ground-truth flow has no valid pixel")
    return float(np.linalg.norm(flow[valid] - gt[valid], axis=-1).mean())


def _per_pixel_errors(frames, flows_back, masks, flows_forward) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Return per step t = 1..T-1 the (H, W) channel-mean squared warping error and its (H, W) validity mask."""
    images = [_unit_image(f, i) for i, f in enumerate(frames)]
    if len(images) < 2:
        raise ValueError(f"need at least 2 frames, got {len(images)}")
    steps = len(images) - 1
    for name, seq in (("flows_back", flows_back), ("masks", masks), ("flows_forward", flows_forward)):
        if seq is not None and len(seq) != steps:
            raise ValueError(f"{name} has {len(seq)} items for {len(images)} frames (need {steps})")
    shape = images[0].shape
    errors, valid = [], []
    for t in range(1, len(images)):
        if images[t].shape != shape:
            raise ValueError(f"frame {t} is {images[t].shape}, frame 0 is {shape}")
        flow = np.asarray(flows_back[t - 1], dtype=np.float32)
        warped, inside = warp(images[t - 1], flow)
        if masks is not None:
            mask = np.asarray(masks[t - 1], dtype=bool)
            if mask.shape != shape[:2]:
                raise ValueError(f"mask {t - 1} is {mask.shape}, frames are {shape[:2]}")
            mask = mask & inside
        elif flows_forward is not None:
            mask = occlusion_mask(flow, flows_forward[t - 1])
        else:
            mask = inside
        errors.append(np.mean(np.square(images[t] - warped, dtype=np.float64), axis=-1))
        valid.append(mask)
    return errors, valid


def _unit_image(frame: np.ndarray, index: int) -> np.ndarray:
    """Return frame ``index`` as (H, W, C) float32 in [0, 1] (uint8 divided by 255, floats taken as they are)."""
    frame = np.asarray(frame)
    if frame.ndim == 2:
        frame = frame[..., None]
    if frame.ndim != 3:
        raise ValueError(f"frame {index} must be (H, W, 3), got shape {frame.shape}")
    if frame.dtype == np.uint8:
        return frame.astype(np.float32) / 255.0
    if not np.issubdtype(frame.dtype, np.floating):
        raise ValueError(f"frame {index} must be uint8 or float in [0, 1], got {frame.dtype}")
    return frame.astype(np.float32)
