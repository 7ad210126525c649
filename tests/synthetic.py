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


@dataclass(frozen=True)
class _Patch:
    """The moving patch: top-left corner ``(x0, y0)`` in frame 0 and size ``(height, width)``, pixels; it moves
    by ``(dx, dy)`` pixels per frame."""

    x0: float
    y0: float
    height: int
    width: int
    dx: float
    dy: float

    def covers(self, qx: np.ndarray, qy: np.ndarray, t: int) -> np.ndarray:
        """Return a bool array of ``qx``'s shape: True where the real point ``(qx, qy)`` lies on the patch in
        frame ``t``."""
        left, top = self.x0 + t * self.dx, self.y0 + t * self.dy
        return (qx >= left) & (qx < left + self.width) & (qy >= top) & (qy < top + self.height)

    def mask(self, xs: np.ndarray, ys: np.ndarray, t: int) -> np.ndarray:
        """Return the (H, W) bool mask of the patch in frame ``t`` on the pixel grid ``xs, ys`` (H, W); ValueError
        when the patch leaves the frame."""
        h, w = xs.shape
        left, top = self.x0 + t * self.dx, self.y0 + t * self.dy
        if left < 0 or top < 0 or left + self.width > w or top + self.height > h:
            raise ValueError(f"the patch leaves the {w}x{h} frame at frame {t}; use fewer frames or a smaller shift")
        return self.covers(xs, ys, t)


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
    psx, psy = (0.0, 0.0) if patch_shift is None else map(float, patch_shift)
    patch = None if patch_shift is None else _Patch((w - pw) / 2.0, (h - ph) / 2.0, ph, pw, psx, psy)
    frames, patch_masks = _render(xs, ys, n_frames, (sx, sy), patch, seed)
    flows_back, flows_forward, masks = [], [], []
    for t in range(1, n_frames):
        back, forward, visible = _exact_motion(xs, ys, t, (sx, sy), (psx, psy), patch, patch_masks)
        masks.append(visible)
        flows_back.append(back)
        flows_forward.append(forward)
    return SyntheticClip(frames, flows_back, flows_forward, masks, patch_masks, (sx, sy), (psx, psy))


def _render(xs: np.ndarray, ys: np.ndarray, n_frames: int, shift: tuple[float, float], patch: _Patch | None,
            seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Return ``(frames, patch_masks)``: T frames (H, W, 3) uint8 BGR, each evaluated from the continuous textures
    at shifted coordinates (the background of ``seed`` panned by ``shift``, the patch of ``seed + 1`` inverted),
    and T (H, W) bool masks of the patch (all False without one). ``xs, ys``: the (H, W) float64 pixel grid."""
    sx, sy = shift
    frames, patch_masks = [], []
    for t in range(n_frames):
        image = smooth_texture(xs - t * sx, ys - t * sy, seed)
        inside = np.zeros(xs.shape, dtype=bool) if patch is None else patch.mask(xs, ys, t)
        if inside.any():
            texture = smooth_texture(xs - t * patch.dx, ys - t * patch.dy, seed + 1)
            image[inside] = 255.0 - texture[inside]  # inverted so the patch contrasts with the background
        frames.append(np.clip(np.rint(image), 0, 255).astype(np.uint8))
        patch_masks.append(inside)
    return frames, patch_masks


def _exact_motion(xs: np.ndarray, ys: np.ndarray, t: int, shift: tuple[float, float],
                  patch_shift: tuple[float, float], patch: _Patch | None, patch_masks: list[np.ndarray]
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return frame ``t``'s exact ``(flow t->t-1, flow t-1->t, visibility)``: (H, W, 2) float32 twice (``-shift``
    / ``+shift`` on the background, ``-/+ patch_shift`` on the patch) and (H, W) bool, True where pixel p of
    frame t is visible in frame t-1 at ``p + flow(p)``. ``xs, ys``: the (H, W) float64 pixel grid."""
    h, w = xs.shape
    (sx, sy), (psx, psy) = shift, patch_shift
    back = np.empty((h, w, 2), dtype=np.float32)
    back[...] = (-sx, -sy)
    back[patch_masks[t]] = (-psx, -psy)
    forward = np.empty((h, w, 2), dtype=np.float32)
    forward[...] = (sx, sy)
    forward[patch_masks[t - 1]] = (psx, psy)
    # where each pixel of frame t came from in frame t-1, and whether it was visible there
    qx, qy = xs + back[..., 0], ys + back[..., 1]
    in_image = (qx >= 0) & (qx <= w - 1) & (qy >= 0) & (qy <= h - 1)
    covered = np.zeros((h, w), dtype=bool) if patch is None else patch.covers(qx, qy, t - 1)
    return back, forward, in_image & (patch_masks[t] | ~covered)
