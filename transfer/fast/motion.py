"""Synthetic motion for training pairs: a still image and a moved copy with exact flow and occlusion.

A small random affine motion (shift, rotation, zoom about the centre) plus a smooth elastic field defines the
flow ``t -> t-1`` exactly; frame t is frame t-1 backward-warped by it (``media.warp.warp``), then given noise and
a brightness change, as a camera would. Where the flow leaves the image, frame t has no source: certainty 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from media.warp import warp


@dataclass(frozen=True)
class MotionOptions:
    """Ranges of the random motion (each drawn uniformly in ``[-max, max]``).

    Attributes:
        max_shift: translation in pixels; max_rotate_deg: rotation in degrees; max_zoom: relative scale change.
        elastic: amplitude in pixels of a smooth random displacement (a 4x4 grid upsampled bicubically).
        noise: standard deviation of Gaussian noise added to frame t, [0, 255] scale.
        brightness: largest global brightness offset of frame t, [0, 255] scale.
    """

    max_shift: float = 6.0
    max_rotate_deg: float = 2.0
    max_zoom: float = 0.03
    elastic: float = 1.5
    noise: float = 3.0
    brightness: float = 6.0


def random_flow(h: int, w: int, rng: np.random.Generator, options: MotionOptions) -> np.ndarray:
    """Return a random smooth (h, w, 2) float32 flow in pixels (x, y) drawn from ``options``."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    angle = np.deg2rad(rng.uniform(-options.max_rotate_deg, options.max_rotate_deg))
    scale = 1.0 + rng.uniform(-options.max_zoom, options.max_zoom)
    tx, ty = rng.uniform(-options.max_shift, options.max_shift, size=2)
    cos, sin = scale * np.cos(angle), scale * np.sin(angle)
    x, y = xs - cx, ys - cy
    flow = np.stack([cos * x - sin * y + cx + tx - xs, sin * x + cos * y + cy + ty - ys], axis=-1)
    if options.elastic > 0:
        grid = rng.uniform(-options.elastic, options.elastic, size=(4, 4, 2)).astype(np.float32)
        flow = flow + cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
    return flow.astype(np.float32)


def synthetic_pair(
    image: np.ndarray, rng: np.random.Generator, options: MotionOptions = MotionOptions()
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(prev, cur, flow, certainty)`` made from one still image.

    Args:
        image: (H, W, 3) uint8 BGR.

    Returns:
        prev, cur: (H, W, 3) float32 BGR in [0, 255]; ``cur(p) ≈ prev(p + flow(p))`` plus noise and brightness.
        flow: (H, W, 2) float32 exact flow cur -> prev, pixels, x then y.
        certainty: (H, W, 1) float32, 1 where ``p + flow(p)`` lies inside the image, else 0.
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected (H, W, 3) image, got shape {image.shape}")
    prev = image.astype(np.float32)
    h, w = prev.shape[:2]
    flow = random_flow(h, w, rng, options)
    cur, inside = warp(prev, flow)
    cur = cur + rng.uniform(-options.brightness, options.brightness)
    if options.noise > 0:
        cur = cur + rng.normal(0.0, options.noise, size=cur.shape).astype(np.float32)
    cur = np.clip(cur, 0.0, 255.0).astype(np.float32)
    return prev, cur, flow, inside.astype(np.float32)[..., None]
