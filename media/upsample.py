"""Bring a frame painted at the working width to the output size, guided by the full-resolution input frame.

Painting does not need every pixel: brush marks live at a coarser scale than a photograph's detail, so every method
paints at a working width and :func:`upsample` delivers the painting at the clip's own size. The full-resolution
input frame is the guide: the painting is fitted, in small windows at the working size, as a linear function of the
input's luminance (``painted ≈ a * Y + b`` per colour channel, the guided filter of He et al. 2013), the gain ``a``
is applied to the full-resolution luminance, and the rest (``painted - a * Y``: the fit's offset and the marks it
does not explain) is upscaled bicubically: ``out = up(a) * Y_full + up(painted - a * Y_small)`` (the fast guided
upsampling of He & Sun 2015, with the fit's remainder kept). That is the bicubic upscale plus the input's detail
finer than a working pixel, scaled by how strongly the painting follows the input there: where it follows the
input's light and dark, the subject's edges come back sharp and exactly where they are in the input; where it
departs from the input (a brush mark across an edge), the mark stays, as soft as a bicubic upscale leaves it.

The candidates, measured by ``benchmarks/hd.py`` on a native 1920x1080 clip (10 frames) painted at 384x216 by the
optimisation path, brought to 1920x1080 (2 cores of an AMD EPYC with AVX-512 BF16, shared with other jobs, load
average about 10; milliseconds per frame; warping error of Lai et al. under the input's DIS flow, relative to the
bicubic upscale's; ``edges``: the structure measure of :mod:`media.structure` without its pre-blur, how closely the
output follows the input's fine edges, 0.54 for the painting at 384 against its own input):

============  ========  ===================  =======  ===========================================
method        ms/frame  warping vs bicubic   edges    what it looks like
============  ========  ===================  =======  ===========================================
bicubic       6         1.00                 0.29     every edge and mark 5x soft
detail        83        1.13                 0.77     the photograph's own detail and noise over the painting
guided        48        1.07                 0.63     the subject's edges sharp, the marks kept (the default)
guided-full   257       0.23                 0.84     a recoloured photograph: the marks are filtered away
============  ========  ===================  =======  ===========================================

- ``bicubic``: the painted frame upscaled alone. Cheapest; it cannot add flicker (a fixed linear map of each
  painting), but nothing is sharper than a working pixel.
- ``detail``: the painted-minus-input difference upsampled and added to the full-resolution input
  (``up(P - down(I)) + I``): bicubic plus all of the photograph's detail finer than a working pixel, wherever the
  painting has gone, noise and compression blocks included.
- ``guided`` (the default): above. It adds the input's fine detail only as strongly as the painting follows the
  input there, so the edges come back where the painting has them and a brush mark stays a brush mark; 7 % more
  warping error than bicubic, the cost of the edges it adds.
- ``guided-full``: OpenCV contrib's guided filter (``cv2.ximgproc.guidedFilter``) at full resolution (radius 10 px
  at 5x) on the bicubic upscale. Steadiest and sharpest, because within each window it replaces the painting by a
  linear function of the photograph: the marks are gone (see ``docs/hd_crops.jpg``), and it is 5x the cost.

A constant painted frame comes through as that constant; a painted frame that is ``alpha * Y + beta`` of the working
input's luminance comes through as ``alpha * Y_full + beta`` wherever the input is textured (``GUIDED_EPS`` against
its local variance). Frames: (H, W, 3) uint8 BGR.
"""

from __future__ import annotations

from enum import StrEnum

import cv2
import numpy as np

from foundation.errors import UserError

#: Widest output any command writes unless told: 4K UHD.
MAX_OUTPUT_WIDTH = 3840
#: Largest ``--output-width`` accepted (8K).
OUTPUT_WIDTH_LIMIT = 7680
#: Guided fit: window radius in working pixels, and the regulariser against the luminance's local variance
#: (luminance in [0, 1]; 1e-3 is a standard deviation of about 8 grey levels).
GUIDED_RADIUS = 2
GUIDED_EPS = 1e-3
#: ``guided-full``: radius in output pixels per working pixel of upscale.
FULL_RADIUS_PER_SCALE = 2


class UpsampleMethod(StrEnum):
    """How a painted frame is brought to the output size (see the module docstring)."""

    BICUBIC = "bicubic"
    DETAIL = "detail"
    GUIDED = "guided"
    GUIDED_FULL = "guided-full"


DEFAULT_METHOD = UpsampleMethod.GUIDED


def even_size(width: int, height: int, output_width: int) -> tuple[int, int]:
    """Return the (W, H) of a (width x height) picture at ``output_width``: aspect kept, both sides even (H.264
    4:2:0 needs even sides), at least 2 each."""
    w = max(2, int(output_width) // 2 * 2)
    h = max(2, int(round(height * w / width / 2.0)) * 2)
    return w, h


def image_size(width: int, height: int, output_width: int) -> tuple[int, int]:
    """Return the (W, H) of a (width x height) image at ``output_width`` with the aspect kept (odd sides allowed)."""
    w = max(1, int(output_width))
    return w, max(1, int(round(height * w / width)))


def default_output_width(source_width: int, working_width: int) -> int:
    """Return the output width used when none is given: the source's own width (at most :data:`MAX_OUTPUT_WIDTH`),
    never below the working width."""
    return max(int(working_width), min(int(source_width), MAX_OUTPUT_WIDTH))


def check_output_width(output_width: int | None, working_width: int | None) -> None:
    """Raise UserError for an ``--output-width`` that is not a whole number in [working width, 7680]."""
    if output_width is None:
        return
    if isinstance(output_width, bool) or int(output_width) != output_width or output_width < 2:
        raise UserError(f"--output-width {output_width}: must be a whole number of pixels >= 2")
    if output_width > OUTPUT_WIDTH_LIMIT:
        raise UserError(f"--output-width {output_width}: choose at most {OUTPUT_WIDTH_LIMIT} pixels")
    if working_width is not None and output_width < working_width:
        raise UserError(f"--output-width {output_width} is smaller than --width {working_width}: the output must be "
                        "at least as wide as the painting")


def upsample(painted: np.ndarray, guide: np.ndarray, method: UpsampleMethod | str = DEFAULT_METHOD) -> np.ndarray:
    """Return ``painted`` (h, w, 3) uint8 BGR brought to the size of ``guide`` (H, W, 3) uint8 BGR, the input frame
    at full resolution; the same array when the sizes already agree."""
    _check(painted, "painted")
    _check(guide, "guide")
    if painted.shape == guide.shape:
        return painted
    method = UpsampleMethod(method)
    size = (guide.shape[1], guide.shape[0])
    if method is UpsampleMethod.BICUBIC:
        return cv2.resize(painted, size, interpolation=cv2.INTER_CUBIC)
    if method is UpsampleMethod.DETAIL:
        return _detail(painted, guide)
    if method is UpsampleMethod.GUIDED_FULL:
        return _guided_full(painted, guide)
    return guided_upsample(painted, guide)


def _check(frame: np.ndarray, name: str) -> None:
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"{name} must be (H, W, 3) uint8 BGR, got {frame.shape} {frame.dtype}")


def working_input(guide: np.ndarray, painted_shape: tuple[int, ...]) -> np.ndarray:
    """Return the input at the painted frame's size, resized the way the frame reader resizes (INTER_AREA down)."""
    h, w = painted_shape[:2]
    interp = cv2.INTER_AREA if w < guide.shape[1] else cv2.INTER_CUBIC
    return cv2.resize(guide, (w, h), interpolation=interp)


def _detail(painted: np.ndarray, guide: np.ndarray) -> np.ndarray:
    """``up(P - down(I)) + I``: the painting's difference from the input, upsampled, over the full input."""
    small = working_input(guide, painted.shape)
    diff = painted.astype(np.float32) - small.astype(np.float32)
    up = cv2.resize(diff, (guide.shape[1], guide.shape[0]), interpolation=cv2.INTER_CUBIC)
    return np.clip(cv2.add(up, guide.astype(np.float32)), 0, 255).round().astype(np.uint8)


def _luma(frame: np.ndarray) -> np.ndarray:
    """Return the (H, W) float32 luminance in [0, 1] of a uint8 BGR frame."""
    return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(np.float32) * (1.0 / 255.0)


def guided_gain(painted: np.ndarray, small_luma: np.ndarray, radius: int = GUIDED_RADIUS,
                eps: float = GUIDED_EPS) -> np.ndarray:
    """Return the (h, w, 3) float32 window-averaged gain ``a`` of the guided-filter fit ``painted ≈ a * Y + b``.

    Args:
        painted: (h, w, 3) float32 BGR in [0, 1]; small_luma: (h, w) float32 luminance of the input at the same
            size, in [0, 1]. radius: box window radius in pixels; eps: regulariser of the luminance's local variance.
    """
    box = (2 * radius + 1, 2 * radius + 1)

    def mean(x: np.ndarray) -> np.ndarray:
        return cv2.blur(x, box, borderType=cv2.BORDER_REFLECT)

    mean_y = mean(small_luma)
    var_y = np.maximum(mean(small_luma * small_luma) - mean_y * mean_y, 0.0)
    cov = mean(painted * small_luma[..., None]) - mean(painted) * mean_y[..., None]
    return mean(cov / (var_y[..., None] + eps))


def guided_upsample(painted: np.ndarray, guide: np.ndarray, radius: int = GUIDED_RADIUS,
                    eps: float = GUIDED_EPS) -> np.ndarray:
    """Return ``up(a) * Y_full + up(painted - a * Y_small)``: (H, W, 3) uint8 BGR at the guide's size.

    ``a`` is :func:`guided_gain` at the working size; the gain goes up bilinearly, the remainder (the fit's offset
    plus whatever of the painting the fit does not explain: its marks) bicubically. So the output is the bicubic
    upscale plus the input's luminance detail finer than a working pixel, scaled by how strongly the painting
    follows the input there: none where it does not (a constant painting stays that constant, a flat guide gives
    the bicubic upscale), all of it where the painting is the input's luminance.
    """
    small_luma = _luma(working_input(guide, painted.shape))
    p = painted.astype(np.float32) * (1.0 / 255.0)
    a = guided_gain(p, small_luma, radius, eps)
    rest = (p - a * small_luma[..., None]) * 255.0
    size = (guide.shape[1], guide.shape[0])
    y = cv2.cvtColor(guide, cv2.COLOR_BGR2GRAY).astype(np.float32)
    # one colour plane at a time, in OpenCV's own ops: no (H, W, 3) float temporaries at full size, and saturating
    # into uint8 at once (about 4x faster than NumPy at 1080p)
    planes = []
    for c in range(3):
        a_up = cv2.resize(np.ascontiguousarray(a[..., c]), size, interpolation=cv2.INTER_LINEAR)
        rest_up = cv2.resize(np.ascontiguousarray(rest[..., c]), size, interpolation=cv2.INTER_CUBIC)
        planes.append(cv2.add(cv2.multiply(a_up, y), rest_up, dtype=cv2.CV_8U))
    return cv2.merge(planes)


def _guided_full(painted: np.ndarray, guide: np.ndarray) -> np.ndarray:
    """OpenCV contrib's guided filter at full resolution: the bicubic upscale filtered with the input as guide."""
    size = (guide.shape[1], guide.shape[0])
    up = cv2.resize(painted, size, interpolation=cv2.INTER_CUBIC)
    scale = guide.shape[1] / painted.shape[1]
    radius = max(1, int(round(FULL_RADIUS_PER_SCALE * scale)))
    eps = (GUIDED_EPS * 255.0**2)
    return cv2.ximgproc.guidedFilter(guide=cv2.cvtColor(guide, cv2.COLOR_BGR2GRAY), src=up, radius=radius, eps=eps)


def upsample_to_width(painted: np.ndarray, source: np.ndarray, output_width: int | None,
                      method: UpsampleMethod | str = DEFAULT_METHOD) -> np.ndarray:
    """Return ``painted`` (h, w, 3) uint8 BGR at ``output_width`` with ``source``'s aspect (odd sides allowed),
    guided by ``source`` (the full-resolution input, any size) resized to that size; ``painted`` itself when
    ``output_width`` is None or its own width."""
    if output_width is None or output_width == painted.shape[1]:
        return painted
    size = image_size(source.shape[1], source.shape[0], output_width)
    interp = cv2.INTER_AREA if size[0] < source.shape[1] else cv2.INTER_CUBIC
    guide = source if size == (source.shape[1], source.shape[0]) else cv2.resize(source, size, interpolation=interp)
    return upsample(painted, guide, method)
