"""Warping error (Lai et al. 2018), flicker map, occlusion mask and end-point error on clips with known motion."""

from __future__ import annotations

import numpy as np
import pytest

from media.metrics import endpoint_error, flicker_map, occlusion_mask, warping_error
from tests.synthetic import synthetic_clip


@pytest.fixture(scope="module")
def pan():
    """A pure pan by a whole number of pixels: every frame is exactly the previous one shifted."""
    return synthetic_clip(n_frames=4, h=32, w=40, shift=(2.0, -1.0), patch_shift=None)


@pytest.fixture(scope="module")
def clip():
    return synthetic_clip(n_frames=3, h=64, w=80, shift=(1.25, -0.75), patch_shift=(-2.5, 1.5))


def test_zero_for_a_perfectly_warped_clip(pan):
    errors = warping_error(pan.frames, pan.flows_back, pan.masks)
    assert errors.shape == (3,) and errors.dtype == np.float64
    np.testing.assert_array_equal(errors, 0.0)
    np.testing.assert_array_equal(warping_error(pan.frames, pan.flows_back), 0.0)  # inside-only mask


def test_noise_gives_twice_its_variance(pan, rng):
    sigma = 8.0
    noisy = [np.clip(f + rng.normal(0, sigma, f.shape), 0, 255).round().astype(np.uint8) for f in pan.frames]
    errors = warping_error(noisy, pan.flows_back, pan.masks)
    # independent noise in O_t and O_{t-1}: E[(n_t - n_{t-1})^2] = 2 sigma^2, in [0, 1] units
    np.testing.assert_allclose(errors, 2 * (sigma / 255) ** 2, rtol=0.15)
    assert warping_error([f.astype(np.float32) / 255 for f in noisy], pan.flows_back, pan.masks) == pytest.approx(
        errors)  # floats in [0, 1] are taken as they are


def test_masks_leave_out_disocclusions(clip):
    exact = warping_error(clip.frames, clip.flows_back, clip.masks)
    from_flows = warping_error(clip.frames, clip.flows_back, flows_forward=clip.flows_forward)
    unmasked = warping_error(clip.frames, clip.flows_back)
    # the sub-pixel pan leaves only bilinear-interpolation error; the disoccluded band adds real error
    assert (exact < 2e-4).all() and (from_flows < 2e-4).all()
    assert (unmasked > 3 * exact).all()


def test_occlusion_mask_matches_the_exact_masks(clip):
    for t in (1, 2):
        mask = occlusion_mask(clip.flows_back[t - 1], clip.flows_forward[t - 1])
        assert mask.dtype == bool and mask.shape == (64, 80)
        assert np.mean(mask == clip.masks[t - 1]) > 0.97
        disoccluded = ~clip.masks[t - 1]
        disoccluded[:, -2:] = disoccluded[-2:] = False
        assert np.mean(~mask[disoccluded]) > 0.85


def test_flicker_map_locates_flicker(pan):
    frames = [f.copy() for f in pan.frames]
    for t in (1, 3):  # a patch that brightens every other frame
        frames[t][10:20, 5:15] = np.clip(frames[t][10:20, 5:15].astype(int) + 40, 0, 255)
    heat = flicker_map(frames, pan.flows_back, pan.masks)
    assert heat.shape == (32, 40) and heat.dtype == np.float32
    assert heat[12:18, 7:13].min() > 0.01
    outside = np.ones((32, 40), bool)
    outside[8:22, 3:17] = False
    assert heat[outside].max() == 0.0
    per_step = warping_error(frames, pan.flows_back, pan.masks)
    assert (per_step > 0).all()


def test_endpoint_error_hand_computed_and_invalid_ground_truth():
    flow = np.zeros((2, 2, 2), np.float32)
    flow[0, 0] = (3, 4)
    gt = np.zeros((2, 2, 2), np.float32)
    assert endpoint_error(flow, gt) == pytest.approx(5 / 4)
    gt[1, 1] = (1e10, 1e10)  # Middlebury "unknown": ignored
    flow[1, 1] = (100, 0)
    assert endpoint_error(flow, gt) == pytest.approx(5 / 3)
    with pytest.raises(ValueError, match="no valid pixel"):
        endpoint_error(flow, np.full((2, 2, 2), 1e10, np.float32))
    with pytest.raises(ValueError, match="ground truth"):
        endpoint_error(flow, np.zeros((2, 3, 2), np.float32))


def test_rejects_inconsistent_inputs(pan):
    with pytest.raises(ValueError, match="flows_back has 2 items for 4 frames"):
        warping_error(pan.frames, pan.flows_back[:2])
    with pytest.raises(ValueError, match="masks"):
        warping_error(pan.frames, pan.flows_back, pan.masks[:1])
    with pytest.raises(ValueError, match="at least 2 frames"):
        warping_error(pan.frames[:1], [])
