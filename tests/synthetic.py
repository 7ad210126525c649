"""A synthetic clip with exact optical flow and occlusion masks, for flow, warping and pipeline tests.

The background is a smooth procedural texture panned by a constant sub-pixel ``shift`` per frame; a textured
rectangular patch moves by ``patch_shift`` per frame on top of it. Every frame is rendered by evaluating the
continuous textures at shifted coordinates (no resampling of an earlier frame), so the flows are exact:

- background: frame_t(p) = B(p - t * shift), hence flow t->t-1 = -shift and t-1->t = +shift;
- patch (occupying R_t = R_0 + t * patch_shift): frame_t(p) = P(p - t * patch_shift), flows -/+ patch_shift.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SyntheticClip:
    """Frames and exact motion of a synthetic clip with T frames of size H x W.

    Attributes:
        frames: T arrays (H, W, 3) uint8 BGR.
        flows_back: T-1 arrays (H, W, 2) float32; ``flows_back[t-1]`` is the flow from frame t to frame t-1.
        flows_forward: T-1 arrays (H, W, 2) float32; ``flows_forward[t-1]`` is the flow from frame t-1 to t.
        masks: T-1 arrays (H, W) bool; ``masks[t-1]`` is True where pixel p of frame t is visible in frame t-1
            at ``p + flows_back[t-1](p)`` (not disoccluded and inside the image).
        patch_masks: T arrays (H, W) bool, True on the patch in frame t.
        shift, patch_shift: per-frame motion (dx, dy) of background and patch, pixels.
    """

    frames: list[np.ndarray]
    flows_back: list[np.ndarray]
    flows_forward: list[np.ndarray]
    masks: list[np.ndarray]
    patch_masks: list[np.ndarray]
    shift: tuple[float, float]
    patch_shift: tuple[float, float]


def smooth_texture(xs: np.ndarray, ys: np.ndarray, seed: int, components: int = 40) -> np.ndarray:
    """Return a (..., 3) float64 BGR texture in about [20, 235] evaluated at real coordinates ``xs, ys``.

    A sum of random plane waves with wavelengths of 5 to 40 pixels in random directions: smooth (so bilinear
    interpolation is accurate) yet textured everywhere (so optical flow is well defined).
    """
    r = np.random.default_rng(seed)
    out = np.zeros(xs.shape + (3,), dtype=np.float64)
    wavelength = r.uniform(5.0, 40.0, size=components)
    angle = r.uniform(0.0, np.pi, size=components)
    phase = r.uniform(0.0, 2 * np.pi, size=components)
    colour = r.uniform(-1.0, 1.0, size=(components, 3))
    for k in range(components):
        fx, fy = np.cos(angle[k]) / wavelength[k], np.sin(angle[k]) / wavelength[k]
        wave = np.sin(2 * np.pi * (fx * xs + fy * ys) + phase[k])
        out += wave[..., None] * colour[k]
    out *= 105.0 / max(np.abs(out).max(), 1e-9)
    return out + 127.5


def synthetic_clip(
    n_frames: int = 4,
    h: int = 64,
    w: int = 80,
    shift: tuple[float, float] = (1.25, -0.75),
    patch_shift: tuple[float, float] | None = (-2.5, 1.5),
    patch_size: tuple[int, int] = (20, 24),
    seed: int = 0,
) -> SyntheticClip:
    """Return a :class:`SyntheticClip`: a panned texture plus a patch moving its own way, with exact flow.

    Args:
        n_frames: T >= 2.
        h, w: frame size.
        shift: background motion (dx, dy) per frame, pixels (sub-pixel values welcome).
        patch_shift: patch motion (dx, dy) per frame; ``None`` for no patch (a pure pan).
        patch_size: (height, width) of the patch; it starts centred and must stay inside the frame.
        seed: texture seed (the patch uses ``seed + 1``).
    """
    if n_frames < 2:
        raise ValueError("a clip needs at least 2 frames")
    sx, sy = map(float, shift)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    ph, pw = patch_size
    x0, y0 = (w - pw) / 2.0, (h - ph) / 2.0
    psx, psy = (0.0, 0.0) if patch_shift is None else map(float, patch_shift)

    def patch_mask(t: int) -> np.ndarray:
        if patch_shift is None:
            return np.zeros((h, w), dtype=bool)
        left, top = x0 + t * psx, y0 + t * psy
        if left < 0 or top < 0 or left + pw > w or top + ph > h:
            raise ValueError(f"the patch leaves the {w}x{h} frame at frame {t}; use fewer frames or a smaller shift")
        return (xs >= left) & (xs < left + pw) & (ys >= top) & (ys < top + ph)

    frames, patch_masks = [], []
    for t in range(n_frames):
        image = smooth_texture(xs - t * sx, ys - t * sy, seed)
        inside = patch_mask(t)
        if inside.any():
            patch = smooth_texture(xs - t * psx, ys - t * psy, seed + 1)
            image[inside] = 255.0 - patch[inside]  # inverted so the patch contrasts with the background
        frames.append(np.clip(np.rint(image), 0, 255).astype(np.uint8))
        patch_masks.append(inside)

    flows_back, flows_forward, masks = [], [], []
    for t in range(1, n_frames):
        back = np.empty((h, w, 2), dtype=np.float32)
        back[...] = (-sx, -sy)
        back[patch_masks[t]] = (-psx, -psy)
        forward = np.empty((h, w, 2), dtype=np.float32)
        forward[...] = (sx, sy)
        forward[patch_masks[t - 1]] = (psx, psy)
        # where each pixel of frame t came from in frame t-1, and whether it was visible there
        qx, qy = xs + back[..., 0], ys + back[..., 1]
        in_image = (qx >= 0) & (qx <= w - 1) & (qy >= 0) & (qy <= h - 1)
        if patch_shift is None:
            covered = np.zeros((h, w), dtype=bool)
        else:
            left, top = x0 + (t - 1) * psx, y0 + (t - 1) * psy
            covered = (qx >= left) & (qx < left + pw) & (qy >= top) & (qy < top + ph)
        masks.append(in_image & (patch_masks[t] | ~covered))
        flows_back.append(back)
        flows_forward.append(forward)
    return SyntheticClip(frames, flows_back, flows_forward, masks, patch_masks, (sx, sy), (psx, psy))
