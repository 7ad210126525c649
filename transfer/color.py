"""Colour preservation after Gatys et al. 2016, "Preserving color in neural artistic style transfer".

Two ways to keep the content's colours while taking the style's texture:

- **Luminance-only transfer** (:attr:`ColorMode.LUMINANCE`): stylise only the luminance. The optimisation sees
  :func:`luminance` of the content and of the style (the style's luminance first matched to the content's mean
  and standard deviation by :func:`match_luminance`), and :func:`recombine` puts the result's luminance under the
  content's chroma.
- **Colour histogram matching** (:attr:`ColorMode.HISTOGRAM`): before stylising, :func:`match_histogram` applies
  the affine colour map that gives the style image the content's colour mean and covariance; the stylised result
  is used as it is.

Colour space: YCrCb of ITU-R BT.601 as OpenCV defines it (``Y = 0.299 R + 0.587 G + 0.114 B``; Cr and Cb are
scaled R - Y and B - Y). The paper uses YIQ; its Y is the same, and Cr/Cb span the same chroma plane as I/Q (a
rotation and scaling of it), so which of the two holds the chroma does not change the result.

Images are (H, W, 3) uint8 BGR throughout (OpenCV's order); nothing here modifies its arguments.
:func:`prepare_inputs` and :func:`restore_colors` wrap the two modes for a stylisation pipeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

import cv2
import numpy as np


class ColorMode(StrEnum):
    """How the stylised result keeps the content's colours (``--preserve-colors``)."""

    NONE = "none"
    LUMINANCE = "luminance"
    HISTOGRAM = "histogram"


class HistogramMethod(StrEnum):
    """Square root of the covariance in :func:`match_histogram` (both give exactly the content's mean and covariance).

    ``EIGEN`` is the symmetric square root from an eigen-decomposition, the "image analogies" variant of the
    paper (the map with the least rotation of colours); ``CHOLESKY`` uses lower-triangular Cholesky factors.
    """

    EIGEN = "eigen"
    CHOLESKY = "cholesky"


#: Added to the style's covariance diagonal (colours in [0, 1]) so a flat or two-colour style stays invertible.
COVARIANCE_EPS = 1e-5


def luminance(image: np.ndarray) -> np.ndarray:
    """Return the (H, W, 3) uint8 image whose three channels all hold the Y (luma) channel of ``image``.

    This is what the optimisation sees in luminance-only mode: a grey picture with the input's brightness.

    Args:
        image: (H, W, 3) uint8 BGR.
    """
    _check_image(image, "image")
    y = cv2.cvtColor(image, cv2.COLOR_BGR2YCrCb)[..., 0]
    return np.repeat(y[..., None], 3, axis=2)


def match_luminance(style_y: np.ndarray, content_y: np.ndarray) -> np.ndarray:
    """Return ``style_y`` affinely mapped to the mean and standard deviation of ``content_y``.

    The paper's ``L_S' = sigma_C / sigma_S * (L_S - mu_S) + mu_C``, so that the style's texture is transferred
    at the content's brightness and contrast. A flat style (sigma_S = 0) becomes flat at the content's mean.

    Args:
        style_y, content_y: luminance images, (H, W) or (H, W, 3) grey as :func:`luminance` returns; sizes
            may differ. uint8 input gives uint8 output (rounded and clipped to [0, 255]); float input gives
            float32 output on the same scale, unclipped.
    """
    s = np.asarray(style_y)
    c = np.asarray(content_y)
    for name, a in (("style_y", s), ("content_y", c)):
        if a.ndim not in (2, 3) or a.size == 0:
            raise ValueError(f"{name} must be a non-empty (H, W) or (H, W, 3) luminance image, got shape {a.shape}")
    sf, cf = s.astype(np.float64), c.astype(np.float64)
    std_s = sf.std()
    scale = cf.std() / std_s if std_s > 0 else 0.0
    out = (sf - sf.mean()) * scale + cf.mean()
    if s.dtype == np.uint8:
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return out.astype(np.float32)


def recombine(stylized: np.ndarray, content: np.ndarray) -> np.ndarray:
    """Return the (H, W, 3) uint8 BGR image with the luminance of ``stylized`` and the chroma (Cr, Cb) of ``content``.

    The last step of luminance-only transfer. Where the combination falls outside the RGB cube (a very bright
    or dark luminance under a saturated chroma) the channels are clipped, so the chroma is kept up to that
    clipping.

    Args:
        stylized, content: (H, W, 3) uint8 BGR of the same size.
    """
    _check_image(stylized, "stylized")
    _check_image(content, "content")
    if stylized.shape != content.shape:
        raise ValueError(f"stylized is {stylized.shape} but content is {content.shape}; they must match")
    # float32 in [0, 1] so that neither Y nor the chroma is quantised before the way back to BGR
    y = cv2.cvtColor(stylized.astype(np.float32) / 255.0, cv2.COLOR_BGR2YCrCb)[..., :1]
    chroma = cv2.cvtColor(content.astype(np.float32) / 255.0, cv2.COLOR_BGR2YCrCb)[..., 1:]
    bgr = cv2.cvtColor(np.concatenate([y, chroma], axis=2), cv2.COLOR_YCrCb2BGR)
    return np.clip(np.rint(bgr * 255.0), 0, 255).astype(np.uint8)


def match_histogram(
    style: np.ndarray, content: np.ndarray, method: HistogramMethod | str = HistogramMethod.EIGEN
) -> np.ndarray:
    """Return ``style`` recoloured so that its colour mean and covariance are those of ``content``.

    The paper's linear colour transfer: every pixel ``p`` of the style becomes ``A (p - mu_S) + mu_C`` with
    ``A Sigma_S A^T = Sigma_C``. With :attr:`HistogramMethod.EIGEN` (default, "image analogies")
    ``A = Sigma_C^(1/2) Sigma_S^(-1/2)`` with symmetric square roots from eigen-decompositions; with
    :attr:`HistogramMethod.CHOLESKY` ``A = L_C L_S^(-1)`` from Cholesky factors. Statistics are those of colours
    scaled to [0, 1]; the result is rounded and clipped to uint8, which moves the statistics slightly where the
    map leaves the colour cube. A style whose colours span less than three dimensions (a greyscale print, a
    two-colour pattern) cannot take on a full covariance: its colours stay on their line or plane, mapped to the
    content's, and the little 8-bit noise across the missing directions is what gets amplified.

    Args:
        style: (H, W, 3) uint8 BGR, the image to recolour.
        content: (H', W', 3) uint8 BGR whose colour statistics are the target (any size).
        method: :class:`HistogramMethod` or its value.

    Returns:
        (H, W, 3) uint8 BGR, the same size as ``style``.
    """
    _check_image(style, "style")
    _check_image(content, "content")
    method = HistogramMethod(method)
    s = style.reshape(-1, 3).astype(np.float64) / 255.0
    c = content.reshape(-1, 3).astype(np.float64) / 255.0
    mu_s, mu_c = s.mean(axis=0), c.mean(axis=0)
    cov_s = np.cov(s, rowvar=False, bias=True) + COVARIANCE_EPS * np.eye(3)
    cov_c = np.cov(c, rowvar=False, bias=True)
    if method is HistogramMethod.EIGEN:
        a = _sqrtm(cov_c) @ np.linalg.inv(_sqrtm(cov_s))
    else:
        # the content may be flat (singular covariance): the tiny ridge keeps Cholesky defined, like the style's
        l_c = np.linalg.cholesky(cov_c + COVARIANCE_EPS * np.eye(3))
        a = l_c @ np.linalg.inv(np.linalg.cholesky(cov_s))
    out = (s - mu_s) @ a.T + mu_c
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8).reshape(style.shape)


def prepare_inputs(
    mode: ColorMode | str, content: np.ndarray, styles: Sequence[np.ndarray]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Return the (content, styles) the optimisation (or a fast network) should see under ``mode``.

    - ``none``: both unchanged.
    - ``luminance``: :func:`luminance` of the content, and of each style after :func:`match_luminance` to the
      content's luminance.
    - ``histogram``: the content unchanged, each style passed through :func:`match_histogram` to the content.

    Args:
        content: (H, W, 3) uint8 BGR; styles: each (H_i, W_i, 3) uint8 BGR.
    """
    mode = ColorMode(mode)
    _check_image(content, "content")
    if mode is ColorMode.NONE:
        return content, list(styles)
    if mode is ColorMode.HISTOGRAM:
        return content, [match_histogram(s, content) for s in styles]
    content_y = luminance(content)
    return content_y, [match_luminance(luminance(s), content_y) for s in styles]


def restore_colors(mode: ColorMode | str, stylized: np.ndarray, content: np.ndarray) -> np.ndarray:
    """Return the final image of a stylisation under ``mode``: for ``luminance`` the stylised luminance recombined
    with the content's chroma (:func:`recombine`), otherwise ``stylized`` itself.

    Args:
        stylized, content: (H, W, 3) uint8 BGR of the same size; ``content`` is the ORIGINAL colour content.
    """
    if ColorMode(mode) is ColorMode.LUMINANCE:
        return recombine(stylized, content)
    return stylized


def _sqrtm(cov: np.ndarray) -> np.ndarray:
    """Return the symmetric square root of a symmetric positive semi-definite 3x3 matrix."""
    vals, vecs = np.linalg.eigh(cov)
    return (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T


def _check_image(image: np.ndarray, name: str) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.size == 0:
        raise ValueError(f"{name} must be a non-empty (H, W, 3) uint8 BGR image, got {getattr(image, 'shape', image)}")
    if image.dtype != np.uint8:
        raise ValueError(f"{name} must be uint8 BGR, got dtype {image.dtype}")
