"""Backward warping by optical flow: ``warp(image, flow) -> (warped, inside)``.

``out(p) = image(p + flow(p))`` with bilinear interpolation. With the flow from frame t to frame t-1 this
brings frame t-1 (or its stylised version) into frame t's coordinates.
"""

from __future__ import annotations

import cv2
import numpy as np

#: cv2.remap takes at most 4 channels at a time; wider arrays are warped in chunks.
_REMAP_MAX_CHANNELS = 4


def sample_coordinates(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the (H, W) float32 maps ``x + u`` and ``y + v`` where a (H, W, 2) flow points to."""
    check_flow(flow)
    h, w = flow.shape[:2]
    xs = np.arange(w, dtype=np.float32)[None, :] + flow[..., 0]
    ys = np.arange(h, dtype=np.float32)[:, None] + flow[..., 1]
    return xs.astype(np.float32), ys.astype(np.float32)


#: Interpolations :func:`warp` offers. Bicubic keeps fine painted texture: bilinear resampling low-passes it, which
#: measurably raises the block1/block2 style loss of a warped stylised frame (about 5x on the sample clip).
INTERPOLATIONS = {"linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC}


def warp(image: np.ndarray, flow: np.ndarray, interpolation: str = "linear") -> tuple[np.ndarray, np.ndarray]:
    """Return ``(warped, inside)``: ``image`` sampled at ``p + flow(p)`` and where that point lies in the image.

    Args:
        image: (H, W), (H, W, 1) or (H, W, C) array of any real dtype (e.g. uint8 BGR or float32 VGG input).
        flow: (H, W, 2) float32, pixels, x then y; same H, W as ``image``.
        interpolation: ``linear`` (default; what metrics use) or ``cubic`` (for warping stylised frames; may
            overshoot the input range slightly).

    Returns:
        warped: float32 array of ``image``'s shape. Bilinear interpolation (cv2.remap, whose sub-pixel
            weights are quantised to 1/32 px); where ``p + flow(p)`` leaves the image the nearest edge pixel
            is used (so the result has no black bands), and ``inside`` is False there.
        inside: (H, W) bool, True where ``p + flow(p)`` lies within ``[0, W-1] x [0, H-1]`` and is finite.
    """
    image = np.asarray(image)
    if image.ndim not in (2, 3) or image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image must be (H, W) or (H, W, C), got shape {image.shape}")
    flow = np.asarray(flow, dtype=np.float32)
    check_flow(flow)
    if image.shape[:2] != flow.shape[:2]:
        raise ValueError(f"image is {image.shape[:2]} but flow is {flow.shape[:2]}")
    h, w = flow.shape[:2]
    xs, ys = sample_coordinates(flow)
    finite = np.isfinite(xs) & np.isfinite(ys)
    inside = finite & (xs >= 0) & (xs <= w - 1) & (ys >= 0) & (ys <= h - 1)
    # non-finite targets would make remap read garbage; send them to the corner (they are marked outside)
    xs = np.where(finite, xs, 0).astype(np.float32)
    ys = np.where(finite, ys, 0).astype(np.float32)

    src = image.astype(np.float32, copy=False)
    if src.ndim == 2:
        warped = _remap(src, xs, ys, INTERPOLATIONS[interpolation])
    else:
        chunks = [
            _remap(src[..., i : i + _REMAP_MAX_CHANNELS], xs, ys, INTERPOLATIONS[interpolation]).reshape(h, w, -1)
            for i in range(0, src.shape[2], _REMAP_MAX_CHANNELS)
        ]
        warped = np.concatenate(chunks, axis=2)
    return warped.astype(np.float32, copy=False), inside


def check_flow(flow: np.ndarray) -> None:
    """Raise ValueError unless ``flow`` is a non-empty (H, W, 2) array."""
    if flow.ndim != 3 or flow.shape[2] != 2 or flow.shape[0] == 0 or flow.shape[1] == 0:
        raise ValueError(f"flow must be (H, W, 2), got shape {flow.shape}")


def _remap(src: np.ndarray, xs: np.ndarray, ys: np.ndarray, interpolation: int) -> np.ndarray:
    return cv2.remap(np.ascontiguousarray(src), xs, ys, interpolation=interpolation,
                     borderMode=cv2.BORDER_REPLICATE)
