"""Backward warping: exact on known shifts, shapes kept, ``inside`` where the flow leaves the image."""

from __future__ import annotations

import numpy as np
import pytest

from media.warp import warp
from tests.conftest import textured_image


def constant_flow(h: int, w: int, dx: float, dy: float) -> np.ndarray:
    flow = np.empty((h, w, 2), np.float32)
    flow[...] = (dx, dy)
    return flow


def test_integer_shift_is_exact_and_marks_the_band_outside():
    image = textured_image(20, 30, seed=1)
    warped, inside = warp(image, constant_flow(20, 30, 3, -2))
    # out(y, x) = image(y - 2, x + 3)
    np.testing.assert_array_equal(warped[2:, :-3], image[:-2, 3:].astype(np.float32))
    assert warped.dtype == np.float32 and warped.shape == image.shape
    expected_inside = np.zeros((20, 30), bool)
    expected_inside[2:, :-3] = True
    np.testing.assert_array_equal(inside, expected_inside)
    # outside pixels repeat the nearest edge instead of turning black
    np.testing.assert_array_equal(warped[0, :-3], image[0, 3:].astype(np.float32))


def test_subpixel_shift_interpolates_bilinearly():
    # bilinear interpolation reproduces an affine image exactly; 0.25 and 0.375 are on remap's 1/32 grid
    ys, xs = np.mgrid[0:16, 0:24].astype(np.float32)
    image = np.stack([2 * xs + 3 * ys, 100 - xs, 5 + 0 * xs], axis=-1)
    warped, inside = warp(image, constant_flow(16, 24, 1.25, -0.375))
    expected = np.stack([2 * (xs + 1.25) + 3 * (ys - 0.375), 100 - (xs + 1.25), 5 + 0 * xs], axis=-1)
    np.testing.assert_allclose(warped[inside], expected[inside], atol=1e-4)
    assert not inside[0].any() and not inside[:, -2:].any() and inside[1:, :-2].all()


def test_real_image_subpixel_warp_matches_manual_bilinear(rng):
    image = textured_image(12, 14, seed=2).astype(np.float32)
    flow = rng.uniform(-3, 3, size=(12, 14, 2)).astype(np.float32)
    flow = np.round(flow * 32) / 32  # on remap's interpolation grid
    warped, inside = warp(image, flow)
    ys, xs = np.mgrid[0:12, 0:14]
    for y, x in zip(ys[inside], xs[inside], strict=True):
        px, py = x + flow[y, x, 0], y + flow[y, x, 1]
        x0, y0 = int(np.floor(px)), int(np.floor(py))
        ax, ay = px - x0, py - y0
        x1, y1 = min(x0 + 1, 13), min(y0 + 1, 11)
        top = (1 - ax) * image[y0, x0] + ax * image[y0, x1]
        bottom = (1 - ax) * image[y1, x0] + ax * image[y1, x1]
        np.testing.assert_allclose(warped[y, x], (1 - ay) * top + ay * bottom, atol=1e-3)


@pytest.mark.parametrize("shape", [(9, 10), (9, 10, 1), (9, 10, 3), (9, 10, 6)])
def test_keeps_shape_for_any_channel_count(shape, rng):
    image = rng.uniform(0, 1, size=shape).astype(np.float32)
    warped, inside = warp(image, constant_flow(9, 10, 1, 0))
    assert warped.shape == shape and inside.shape == (9, 10)
    np.testing.assert_allclose(warped[:, :-1], image[:, 1:], atol=1e-6)


def test_zero_flow_is_identity_and_uint8_is_not_rounded():
    image = textured_image(8, 9)
    warped, inside = warp(image, np.zeros((8, 9, 2), np.float32))
    np.testing.assert_array_equal(warped, image.astype(np.float32))
    assert inside.all()
    half, _ = warp(np.array([[0, 1]], np.uint8), constant_flow(1, 2, 0.5, 0))
    assert half[0, 0] == pytest.approx(0.5)


def test_non_finite_flow_is_outside():
    flow = np.zeros((4, 4, 2), np.float32)
    flow[1, 2] = (np.nan, 0)
    flow[3, 3] = (0, np.inf)
    _, inside = warp(np.ones((4, 4), np.float32), flow)
    assert not inside[1, 2] and not inside[3, 3] and inside.sum() == 14


def test_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="flow"):
        warp(np.zeros((4, 4, 3)), np.zeros((4, 5, 2), np.float32))
    with pytest.raises(ValueError, match="H, W, 2"):
        warp(np.zeros((4, 4, 3)), np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="image"):
        warp(np.zeros((2, 4, 4, 3)), np.zeros((4, 4, 2), np.float32))


def test_cubic_keeps_fine_texture_that_linear_blurs():
    """A half-pixel shift of a fine sinusoid: bilinear halves its contrast, bicubic keeps most of it."""
    x = np.arange(64, dtype=np.float32)
    img = np.tile(127 + 100 * np.sin(2 * np.pi * x / 4), (16, 1))
    flow = np.zeros((16, 64, 2), np.float32)
    flow[..., 0] = 0.5
    lin, _ = warp(img, flow)
    cub, inside = warp(img, flow, interpolation="cubic")
    core = (slice(None), slice(4, 56))
    assert np.std(cub[core]) > 1.15 * np.std(lin[core])
    shift = np.ones_like(flow)  # whole pixels: both exact
    np.testing.assert_allclose(warp(img, shift, "cubic")[0][:, :-2], img[:, 1:-1], atol=1e-3)
