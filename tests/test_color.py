"""Colour preservation (Gatys et al. 2016): luminance-only transfer and colour histogram matching."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.conftest import stripes_image, textured_image
from transfer.color import (
    ColorMode,
    HistogramMethod,
    luminance,
    match_histogram,
    match_luminance,
    prepare_inputs,
    recombine,
    restore_colors,
)


def _moderate(h: int, w: int, seed: int, scale: float = 0.5, offset: float = 64) -> np.ndarray:
    """A textured image squeezed into the middle of the colour cube, as real photos mostly are."""
    return (textured_image(h, w, seed=seed) * scale + offset).astype(np.uint8)


def _ycrcb(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_BGR2YCrCb).astype(np.float64)


def _stats(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    px = image.reshape(-1, 3).astype(np.float64) / 255.0
    return px.mean(axis=0), np.cov(px, rowvar=False, bias=True)


def test_luminance_is_grey_with_the_images_luma():
    image = textured_image(20, 30, seed=4)
    y = luminance(image)
    assert y.shape == image.shape and y.dtype == np.uint8
    assert np.array_equal(y[..., 0], y[..., 1]) and np.array_equal(y[..., 0], y[..., 2])
    b, g, r = (image[..., k].astype(np.float64) for k in range(3))
    np.testing.assert_allclose(y[..., 0], 0.299 * r + 0.587 * g + 0.114 * b, atol=1.0)
    # a grey image is its own luminance
    grey = np.repeat(y[..., :1], 3, axis=2)
    assert np.array_equal(luminance(grey), grey)


def test_recombine_keeps_content_chroma_and_stylized_luminance():
    content = _moderate(40, 56, seed=1)
    stylized = _moderate(40, 56, seed=2, scale=0.6, offset=50)
    out = recombine(stylized, content)
    assert out.shape == content.shape and out.dtype == np.uint8
    got, want = _ycrcb(out), _ycrcb(content)
    before = np.abs(_ycrcb(stylized)[..., 1:] - want[..., 1:]).mean()
    chroma_err = np.abs(got[..., 1:] - want[..., 1:])
    assert before > 10  # the two images really differ in colour
    assert chroma_err.mean() < 0.5 and np.percentile(chroma_err, 99) <= 1.0
    assert np.percentile(np.abs(got[..., 0] - _ycrcb(stylized)[..., 0]), 99) <= 1.0


def test_recombine_of_saturated_colours_is_only_off_where_clipped():
    content, stylized = textured_image(40, 56, seed=1), textured_image(40, 56, seed=2)
    out = recombine(stylized, content)
    # redo the combination without clipping to find the pixels that leave the RGB cube
    ycc = np.concatenate([_ycrcb(stylized)[..., :1], _ycrcb(content)[..., 1:]], axis=2).astype(np.float32)
    raw = cv2.cvtColor(ycc / 255.0, cv2.COLOR_YCrCb2BGR)
    inside = np.all((raw > -0.5 / 255) & (raw < 1 + 0.5 / 255), axis=2)
    assert 0.3 < inside.mean() < 1.0  # the case really exercises clipping
    err = np.abs(_ycrcb(out)[..., 1:] - _ycrcb(content)[..., 1:]).max(axis=2)
    assert err[inside].max() <= 2.0


def test_recombine_identity_and_bad_inputs():
    image = textured_image(16, 24, seed=5)
    assert np.abs(recombine(image, image).astype(int) - image).max() <= 2
    with pytest.raises(ValueError, match="must match"):
        recombine(image, image[:8])
    with pytest.raises(ValueError, match="uint8"):
        recombine(image.astype(np.float32), image)
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        luminance(image[..., 0])


def test_match_luminance_mean_and_std():
    style_y = luminance(_moderate(30, 40, seed=6, scale=0.3, offset=150))[..., 0]
    content_y = luminance(_moderate(20, 36, seed=7, scale=0.7, offset=20))[..., 0]
    out = match_luminance(style_y, content_y)
    assert out.shape == style_y.shape and out.dtype == np.uint8
    assert abs(out.mean() - content_y.mean()) < 0.5
    assert abs(out.std() - content_y.std()) < 0.5
    # float in, float out, exact
    f = match_luminance(style_y.astype(np.float32), content_y.astype(np.float32))
    assert f.dtype == np.float32
    assert f.mean() == pytest.approx(content_y.mean(), abs=1e-3) and f.std() == pytest.approx(content_y.std(), rel=1e-4)
    # a flat style becomes flat at the content's mean
    flat = match_luminance(np.full((5, 5), 200, np.uint8), content_y)
    assert np.all(flat == np.uint8(round(content_y.mean())))


@pytest.mark.parametrize("method", list(HistogramMethod))
def test_match_histogram_gives_content_mean_and_covariance(method):
    style = _moderate(48, 64, seed=3, scale=0.5, offset=30)
    content = _moderate(40, 56, seed=1)
    out = match_histogram(style, content, method)
    assert out.shape == style.shape and out.dtype == np.uint8
    (mu_o, cov_o), (mu_c, cov_c), (mu_s, cov_s) = _stats(out), _stats(content), _stats(style)
    assert np.abs(mu_s - mu_c).max() > 0.1 and np.abs(cov_s - cov_c).max() > 1e-3  # far apart before
    np.testing.assert_allclose(mu_o, mu_c, atol=1e-3)
    np.testing.assert_allclose(cov_o, cov_c, atol=2e-4)


def test_match_histogram_keeps_the_styles_texture():
    style = _moderate(48, 64, seed=3)
    out = match_histogram(style, _moderate(40, 56, seed=1, scale=0.3, offset=100))
    # an affine colour map keeps the spatial pattern: luminances stay strongly correlated
    a, b = (luminance(x)[..., 0].astype(np.float64).ravel() for x in (style, out))
    assert np.corrcoef(a, b)[0, 1] > 0.9


def test_match_histogram_eigen_and_cholesky_differ_but_both_match():
    style, content = _moderate(30, 30, seed=8), _moderate(30, 30, seed=9, scale=0.4, offset=90)
    e = match_histogram(style, content, "eigen")
    c = match_histogram(style, content, "cholesky")
    assert not np.array_equal(e, c)
    with pytest.raises(ValueError):
        match_histogram(style, content, "nearest")


def test_match_histogram_survives_a_flat_style():
    out = match_histogram(np.full((8, 8, 3), 77, np.uint8), _moderate(10, 10, seed=2))
    assert out.shape == (8, 8, 3) and out.dtype == np.uint8


def test_prepare_and_restore_by_mode():
    content, style = _moderate(24, 32, seed=1), stripes_image(20, 20)
    c, s = prepare_inputs(ColorMode.NONE, content, [style])
    assert c is content and s[0] is style
    c, s = prepare_inputs("luminance", content, [style, style])
    assert len(s) == 2 and np.array_equal(c, luminance(content))
    assert np.ptp(s[0].astype(int), axis=2).max() == 0  # grey
    assert abs(s[0].mean() - c.mean()) < 1.0
    c, s = prepare_inputs(ColorMode.HISTOGRAM, content, [style])
    assert c is content and np.array_equal(s[0], match_histogram(style, content))
    stylized = _moderate(24, 32, seed=5)
    assert np.array_equal(restore_colors("luminance", stylized, content), recombine(stylized, content))
    assert restore_colors(ColorMode.HISTOGRAM, stylized, content) is stylized
    with pytest.raises(ValueError):
        prepare_inputs("sepia", content, [style])
