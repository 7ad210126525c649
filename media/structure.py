"""How much of the input's shapes an output frame keeps: mean local correlation of blurred luminance.

The measure does not use the VGG backbone the optimisation is steered by, so it can referee content-layer and weight
choices. Both images go to luminance (Y of BT.601, in [0, 1]) and are blurred with a Gaussian of sigma = width / 128
(brush texture finer than that is the style's business, not the subject's). Local means, variances and the
covariance are taken under SSIM's window (11 x 11 Gaussian, sigma 1.5) and combined into the local correlation
``sigma_xy / (sigma_x * sigma_y)``, which is SSIM's structure term without its stabilising constant: with the
constant in numerator and denominator a flat output would score 1 against any input. Windows where the input itself
is flat (local standard deviation below ``sqrt(C3)``, SSIM's C3 = (0.03)^2 / 2, about 5 grey levels) have no
structure to keep and are left out; where the output is flat but the input is not, the correlation is 0.

Scores lie in [-1, 1]: 1 when every shape is kept (any brightness or contrast change allowed), about 0 for a
constant or unrelated output, lower for a shifted copy than for the image itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

#: SSIM's window: 11 x 11 Gaussian, sigma 1.5 pixels.
WINDOW = 11
WINDOW_SIGMA = 1.5
#: Input windows with a local standard deviation below this (luminance in [0, 1]) count as flat: sqrt of SSIM's C3.
FLAT_STD = float(np.sqrt(0.03**2 / 2))
#: The pre-blur's sigma is the frame width divided by this.
BLUR_DIVISOR = 128.0
#: BT.601 luminance weights of the B, G, R channels (OpenCV's order; also that of VGG-preprocessed images).
LUMA_BGR = (0.114, 0.587, 0.299)


def luminance(image_bgr: np.ndarray) -> np.ndarray:
    """Return the (H, W) float32 BT.601 luminance in [0, 1] of an (H, W, 3) uint8 BGR image."""
    if image_bgr.ndim != 3 or image_bgr.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) BGR image, got shape {image_bgr.shape}")
    b, g, r = (image_bgr[..., k].astype(np.float32) / 255.0 for k in range(3))
    return LUMA_BGR[0] * b + LUMA_BGR[1] * g + LUMA_BGR[2] * r


def _blurred(y: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(y, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)


def _window(a: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(a, (WINDOW, WINDOW), sigmaX=WINDOW_SIGMA, sigmaY=WINDOW_SIGMA,
                            borderType=cv2.BORDER_REFLECT)


def structure_map(reference_bgr: np.ndarray, output_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (local correlation (H, W) float32 in [-1, 1], valid (H, W) bool: the input is not flat there).

    Args:
        reference_bgr: (H, W, 3) uint8 BGR input frame; output_bgr: the stylised frame, same shape.
    """
    if reference_bgr.shape != output_bgr.shape:
        raise ValueError(f"shapes differ: {reference_bgr.shape} vs {output_bgr.shape}")
    sigma = max(reference_bgr.shape[1] / BLUR_DIVISOR, 0.5)
    x = _blurred(luminance(reference_bgr), sigma)
    y = _blurred(luminance(output_bgr), sigma)
    mx, my = _window(x), _window(y)
    var_x = np.maximum(_window(x * x) - mx * mx, 0.0)
    var_y = np.maximum(_window(y * y) - my * my, 0.0)
    cov = _window(x * y) - mx * my
    denom = np.sqrt(var_x * var_y)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.where(denom > 1e-12, cov / np.maximum(denom, 1e-12), 0.0)
    return np.clip(corr, -1.0, 1.0).astype(np.float32), np.sqrt(var_x) >= FLAT_STD


def structure_score(reference_bgr: np.ndarray, output_bgr: np.ndarray) -> float:
    """Return the mean local correlation over the input's non-flat windows (1.0 if the input is flat everywhere)."""
    corr, valid = structure_map(reference_bgr, output_bgr)
    return float(corr[valid].mean()) if valid.any() else 1.0


def mean_structure(references: Sequence[np.ndarray], outputs: Sequence[np.ndarray]) -> float:
    """Return the mean of :func:`structure_score` over paired frames ((H, W, 3) uint8 BGR each)."""
    if len(references) != len(outputs) or not references:
        raise ValueError(f"need equally many frames, got {len(references)} inputs and {len(outputs)} outputs")
    return float(np.mean([structure_score(r, o) for r, o in zip(references, outputs, strict=True)]))
