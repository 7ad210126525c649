"""Optical flow estimation: each method recovers the exact flow of a synthetic clip on its textured background."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from media.flow import DEFAULT_METHOD, FlowMethod, estimate_flow
from media.metrics import endpoint_error
from tests.synthetic import synthetic_clip

#: Largest average end-point error (pixels) tolerated on the background; measured about 0.03-0.05 for DeepFlow
#: and DIS and 0.25 for Farneback on this clip.
MAX_BACKGROUND_EPE = {FlowMethod.DEEPFLOW: 0.1, FlowMethod.DIS: 0.1, FlowMethod.DIS_FAST: 0.4,
                      FlowMethod.FARNEBACK: 0.4}


@pytest.fixture(scope="module")
def clip():
    return synthetic_clip(n_frames=3, h=64, w=80, shift=(1.25, -0.75), patch_shift=(-2.5, 1.5))


def background_region(clip, t: int) -> np.ndarray:
    """Pixels of frame t on the background, away from the patch (4 px) and the image border (6 px)."""
    near_patch = cv2.dilate(clip.patch_masks[t].astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    region = clip.masks[t - 1] & ~near_patch
    region[:6] = region[-6:] = False
    region[:, :6] = region[:, -6:] = False
    return region


@pytest.mark.parametrize("method", list(FlowMethod))
def test_backward_and_forward_flow_on_textured_background(clip, method):
    for t in (1, 2):
        back = estimate_flow(clip.frames[t], clip.frames[t - 1], method)
        assert back.shape == (64, 80, 2) and back.dtype == np.float32
        region = background_region(clip, t)
        assert region.sum() > 1500
        gt = np.where(region[..., None], clip.flows_back[t - 1], np.float32(1e10))  # 1e10 = ignored
        assert endpoint_error(back, gt) < MAX_BACKGROUND_EPE[method]
    forward = estimate_flow(clip.frames[0], clip.frames[1], method)
    region = background_region(clip, 1)
    np.testing.assert_allclose(np.median(forward[region], axis=0), clip.shift, atol=0.1)


def test_default_is_deepflow_and_strings_are_accepted(clip):
    assert DEFAULT_METHOD is FlowMethod.DEEPFLOW
    a = estimate_flow(clip.frames[1], clip.frames[0], "dis")
    b = estimate_flow(clip.frames[1], clip.frames[0], FlowMethod.DIS)
    np.testing.assert_array_equal(a, b)  # deterministic
    with pytest.raises(ValueError):
        estimate_flow(clip.frames[1], clip.frames[0], "lucas-kanade")


def test_grey_input_gives_the_same_flow(clip):
    grey = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in clip.frames[:2]]
    np.testing.assert_array_equal(estimate_flow(grey[1], grey[0], "farneback"),
                                  estimate_flow(clip.frames[1], clip.frames[0], "farneback"))


def test_identical_frames_give_near_zero_flow(clip):
    flow = estimate_flow(clip.frames[0], clip.frames[0], DEFAULT_METHOD)
    assert np.abs(flow).max() < 0.05


def test_rejects_bad_frames(clip):
    f = clip.frames[0]
    with pytest.raises(ValueError, match="differ in size"):
        estimate_flow(f, f[:-1], "dis")
    with pytest.raises(ValueError, match="uint8"):
        estimate_flow(f.astype(np.float32), f, "dis")
    with pytest.raises(ValueError, match="shape"):
        estimate_flow(f[..., :2], f[..., :2], "dis")
