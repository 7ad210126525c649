"""Painting at a working width, delivering at the output size: sizes, the guided upsampler's invariants, and that it
adds no flicker at full resolution (warping error under exact flow)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from foundation.errors import UserError
from media.frame_pairs import iter_frame_pairs
from media.metrics import warping_error
from media.upsample import (
    UpsampleMethod,
    check_output_width,
    default_output_width,
    even_size,
    guided_upsample,
    image_size,
    upsample,
    upsample_to_width,
)
from media.video_io import ReadOptions, read_frames
from tests.conftest import textured_image
from tests.synthetic import synthetic_clip


@pytest.mark.parametrize(("w", "h", "out"), [(641, 359, 1280), (1920, 1080, 1920), (75, 49, 151), (33, 97, 64)])
def test_output_sizes_keep_the_aspect_and_are_even_for_video(w, h, out):
    vw, vh = even_size(w, h, out)
    assert vw % 2 == 0 and vh % 2 == 0 and abs(vw - out) <= 1
    assert abs(vh - h * vw / w) <= 1.0  # aspect within a pixel
    iw, ih = image_size(w, h, out)
    assert iw == out and abs(ih - h * out / w) <= 0.5  # images keep odd sides


@pytest.mark.parametrize("method", list(UpsampleMethod))
def test_every_method_gives_the_guide_size_for_odd_sizes(method):
    guide = textured_image(77, 101, seed=1)
    painted = cv2.resize(textured_image(77, 101, seed=2), (25, 19), interpolation=cv2.INTER_AREA)
    out = upsample(painted, guide, method)
    assert out.shape == (77, 101, 3) and out.dtype == np.uint8
    assert upsample(guide, guide, method) is guide  # same size: nothing to do


def test_a_constant_painting_stays_that_constant():
    guide = textured_image(96, 128, seed=3)
    painted = np.full((24, 32, 3), (40, 120, 200), np.uint8)
    out = guided_upsample(painted, guide)
    assert np.abs(out.astype(int) - painted[0, 0].astype(int)).max() <= 1


def test_a_flat_guide_gives_the_bicubic_upscale():
    guide = np.full((96, 128, 3), 90, np.uint8)
    painted = textured_image(24, 32, seed=4)
    bicubic = cv2.resize(painted, (128, 96), interpolation=cv2.INTER_CUBIC)
    assert np.abs(guided_upsample(painted, guide).astype(int) - bicubic.astype(int)).max() <= 1


def _grey(image: np.ndarray) -> np.ndarray:
    y = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return cv2.merge([y, y, y])


def test_a_constant_difference_comes_through_on_the_full_resolution_input():
    """Painted = working input + c: the output is the full-resolution input + c (where the input is textured),
    sharp, where the bicubic upscale of the same painting is soft."""
    full = _grey(textured_image(128, 160, seed=5))
    small = cv2.resize(full, (40, 32), interpolation=cv2.INTER_AREA)
    c = np.array([30, -20, 10])
    painted = np.clip(small.astype(int) + c, 0, 255).astype(np.uint8)
    want = np.clip(full.astype(int) + c, 0, 255)
    guided = guided_upsample(painted, full, eps=1e-6).astype(int)
    bicubic = upsample(painted, full, "bicubic").astype(int)
    err, err_bicubic = np.abs(guided - want)[8:-8, 8:-8].mean(), np.abs(bicubic - want)[8:-8, 8:-8].mean()
    assert err < 3.0 and err < 0.5 * err_bicubic


def test_a_linear_function_of_the_luminance_comes_through_at_full_resolution():
    full = textured_image(128, 160, seed=6)
    small = cv2.resize(full, (40, 32), interpolation=cv2.INTER_AREA)
    y_small = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY).astype(float)
    alpha, beta = np.array([0.5, -0.8, 1.2]), np.array([60.0, 220.0, -20.0])
    painted = np.clip(y_small[..., None] * alpha + beta, 0, 255).astype(np.uint8)
    y_full = cv2.cvtColor(full, cv2.COLOR_BGR2GRAY).astype(float)
    want = np.clip(y_full[..., None] * alpha + beta, 0, 255)
    out = guided_upsample(painted, full, eps=1e-6).astype(float)
    assert np.abs(out - want)[8:-8, 8:-8].mean() < 3.0


def test_upsample_to_width_follows_the_source_aspect():
    source = textured_image(75, 121, seed=7)
    painted = cv2.resize(source, (40, 25), interpolation=cv2.INTER_AREA)
    assert upsample_to_width(painted, source, 200).shape == (124, 200, 3)
    assert upsample_to_width(painted, source, None) is painted


def test_output_width_defaults_and_bad_values():
    assert default_output_width(1920, 384) == 1920
    assert default_output_width(7680, 384) == 3840  # capped at 4K
    assert default_output_width(200, 256) == 256  # never below the working width
    check_output_width(None, 256)
    check_output_width(1920, 256)
    for bad, words in ((0, "--output-width 0"), (16, "smaller than --width"), (100000, "at most")):
        with pytest.raises(UserError, match=words):
            check_output_width(bad, 32)


def test_frame_pairs_give_the_working_frame_and_the_output_frame(tmp_path):
    from media.encode import encode_frames

    clip = synthetic_clip(n_frames=3, h=48, w=64, shift=(1.0, 0.5), patch_shift=None, seed=0)
    video = encode_frames(clip.frames, tmp_path / "c.mp4", fps=5)
    pairs = list(iter_frame_pairs(video, ReadOptions(width=32), 100))
    working = read_frames(video, ReadOptions(width=32))
    assert len(pairs) == 3
    for (k, work, full), expected in zip(pairs, working, strict=True):
        assert pairs[k][0] == k
        np.testing.assert_array_equal(work, expected)  # exactly what the working-width reader gives
        assert full.shape == (76, 100, 3)


def _painted(frame: np.ndarray) -> np.ndarray:
    """A per-pixel stand-in for a painting: a tone curve and a channel mix (steady wherever the input is)."""
    f = frame.astype(np.float32) / 255.0
    toned = 0.5 + 0.5 * np.sin(3.0 * f[..., ::-1] + np.array([0.0, 1.0, 2.0], np.float32))
    return np.clip(toned * 255.0, 0, 255).astype(np.uint8)


def test_full_resolution_warping_error_is_not_above_the_working_resolutions():
    """On a clip with exact flow, the film upsampled to full resolution flickers no more than the painting at the
    working width (warping error of Lai et al., [0, 1] images, under the exact flow at each size)."""
    scale, h, w = 4, 128, 160
    clip = synthetic_clip(n_frames=5, h=h, w=w, shift=(2.5, -1.5), patch_shift=None, seed=1)
    size = (w // scale, h // scale)
    small = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in clip.frames]
    painted = [_painted(s) for s in small]
    full_out = [upsample(p, f) for p, f in zip(painted, clip.frames, strict=True)]
    small_flows = [cv2.resize(fl, size, interpolation=cv2.INTER_AREA) / scale for fl in clip.flows_back]
    small_masks = [cv2.resize(m.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0 for m in clip.masks]
    at_full = warping_error(full_out, clip.flows_back, clip.masks).mean()
    at_work = warping_error(painted, small_flows, small_masks).mean()
    assert 0 < at_full <= at_work
