"""A painted starting image for the optimisation: the any-painting painter's frame (Magenta's networks, about 50 ms),
optionally blended with the photo.

Started from the photo, a first frame spends its coarse level and most full-size iterations laying out where the
colours and strokes go; started from the painter's frame, that layout is already there and the optimisation only
has to match the Gram statistics and the Laplacian of the photo, so far fewer iterations reach the same loss.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from transfer.arbitrary.magenta import load_magenta, paint_frame
from transfer.features import preprocess

#: Share of the painter's frame in the start (the rest is the photo): 1 starts from the painting itself.
DEFAULT_PAINTED_MIX = 1.0


def style_vector(styles: Sequence[np.ndarray], blend: Sequence[float]) -> np.ndarray:
    """Return the painter's (100,) float32 style vector of ``styles`` ((H, W, 3) uint8 BGR each) blended by the
    normalised weights ``blend`` (one per style)."""
    if len(styles) != len(blend) or not styles:
        raise ValueError(f"{len(blend)} blend weights for {len(styles)} styles")
    painter = load_magenta()
    vectors = np.stack([painter.style_vector(s) for s in styles])
    weights = np.asarray(blend, np.float32)
    return (weights[:, None] * vectors).sum(axis=0) / weights.sum()


def painted_start(content: np.ndarray, vector: np.ndarray, mix: float = DEFAULT_PAINTED_MIX,
                  stroke_scale: float = 1.0) -> np.ndarray:
    """Return the (1, H, W, 3) VGG-preprocessed start: ``mix`` x the painter's rendering of ``content`` ((H, W, 3)
    uint8 BGR) with style ``vector`` + ``(1 - mix)`` x ``content``; ``mix`` in [0, 1]."""
    if not 0.0 <= mix <= 1.0:
        raise ValueError(f"mix {mix} is outside [0, 1]")
    painted = paint_frame(load_magenta(), content, vector, stroke_scale).astype(np.float32)
    start = mix * painted + (1.0 - mix) * content.astype(np.float32)
    return preprocess(start)
