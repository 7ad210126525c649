"""Coarse-to-fine optimisation of one image: most iterations at a reduced size, a few at full size after upsampling.

An iteration at half size costs about a quarter of one at full size, and the large-scale layout of the painting
(where the strokes go, which colours fill which region) settles there; the full-size iterations then add the fine
texture. Used for a video's first frame and for frames with no usable warped start (after a cut, large
disocclusion), and optionally for single images.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

import cv2
import numpy as np

from transfer.features import pixel_bounds, preprocess
from transfer.objective import LossWeights, StyleObjective
from transfer.optimize import OptimizeOptions, OptimizeResult, Progress, minimize

#: Side length ratio of the coarse level.
COARSE_SCALE = 0.5
#: Below this short side the coarse level is skipped: VGG's block 5 sees only a pixel or two there, and on a
#: 48x64 test image (24x32 coarse) the pyramid ended at twice the single-scale loss, while at 96x128 it halved it.
MIN_COARSE_SIDE = 32


def resize_vgg(x: np.ndarray, height: int, width: int) -> np.ndarray:
    """Return a (1, H, W, 3) VGG-preprocessed image resized to (1, height, width, 3) float32 (area down, cubic up)."""
    if x.ndim != 4 or x.shape[0] != 1 or x.shape[3] != 3:
        raise ValueError(f"expected a (1, H, W, 3) image, got shape {x.shape}")
    shrinking = height * width < x.shape[1] * x.shape[2]
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    return cv2.resize(np.asarray(x[0], np.float32), (width, height), interpolation=interpolation)[None]


def coarse_size(height: int, width: int, scale: float = COARSE_SCALE) -> tuple[int, int]:
    """Return the (height, width) of the coarse level, at least 16 pixels a side."""
    return max(16, round(height * scale)), max(16, round(width * scale))


def equal_work_coarse_iterations(full_iterations: int, fine_iterations: int, scale: float = COARSE_SCALE) -> int:
    """Return how many coarse iterations cost what ``full_iterations - fine_iterations`` full-size ones do."""
    return max(0, round((full_iterations - fine_iterations) / (scale * scale)))


def coarse_to_fine(
    objective: StyleObjective,
    content_bgr: np.ndarray,
    grams_at: Callable[[int], Mapping],
    x0: np.ndarray,
    loss: LossWeights,
    options: OptimizeOptions,
    coarse_iterations: int,
    *,
    scale: float = COARSE_SCALE,
    warped: np.ndarray | None = None,
    certainty: np.ndarray | None = None,
    progress: Progress | None = None,
) -> OptimizeResult:
    """Optimise ``x0`` for ``coarse_iterations`` at ``scale`` of its size, upsample, then ``options.iterations`` at
    full size; return the full-size result with the evaluations and seconds of both levels.

    Args:
        content_bgr: (H, W, 3) uint8 BGR content frame.
        grams_at: ``grams_at(width)`` gives the style Gram targets for a content of that width (the style image
            resized to keep its scale relative to the frame), ``{layer: (1, C, C)}``.
        x0: (1, H, W, 3) VGG-preprocessed start.
        warped, certainty: optional temporal targets (K, H, W, 3) and (K, H, W, 1); resized for the coarse level.
        progress: called after every iteration of either level.

    The coarse level is skipped when its short side would be under :data:`MIN_COARSE_SIDE` pixels.
    """
    h, w = content_bgr.shape[:2]
    if x0.shape[1:3] != (h, w):
        raise ValueError(f"start {x0.shape} does not match the content's {h}x{w}")
    bounds = pixel_bounds()
    coarse = None
    start = x0
    ch, cw = coarse_size(h, w, scale)
    if coarse_iterations > 0 and min(ch, cw) >= MIN_COARSE_SIDE:
        small = cv2.resize(content_bgr, (cw, ch), interpolation=cv2.INTER_AREA)
        targets = objective.targets(preprocess(small), grams_at(cw), *_resize_temporal(warped, certainty, ch, cw))
        coarse = minimize(lambda x: objective.value_and_grad(x, targets, loss), resize_vgg(x0, ch, cw), bounds,
                          replace(options, iterations=coarse_iterations), progress)
        start = resize_vgg(coarse.x, h, w)
    targets = objective.targets(preprocess(content_bgr), grams_at(w), warped, certainty)
    fine = minimize(lambda x: objective.value_and_grad(x, targets, loss), start, bounds, options, progress)
    if coarse is not None:
        fine.coarse_iterations = coarse.iterations
        fine.evaluations += coarse.evaluations
        fine.seconds_evaluating += coarse.seconds_evaluating
        fine.seconds += coarse.seconds
    return fine


def _resize_temporal(warped, certainty, height: int, width: int) -> tuple:
    if warped is None or len(warped) == 0:
        return None, None
    small_w = np.stack([resize_vgg(wk[None], height, width)[0] for wk in warped])
    small_c = np.stack([cv2.resize(ck[..., 0], (width, height), interpolation=cv2.INTER_AREA)[..., None]
                        for ck in certainty])
    return small_w.astype(np.float32), small_c.astype(np.float32)
