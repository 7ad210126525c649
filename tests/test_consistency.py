"""Consistency weights: a port of artistic-videos' consistencyChecker, and the long-term "closest first" rule."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from media.consistency import certainty, flow_checks, gaussian_taps, long_term_weights
from media.flo import read_flo
from tests.conftest import shared_data
from tests.synthetic import synthetic_clip


def constant_flow(h: int, w: int, dx: float, dy: float) -> np.ndarray:
    flow = np.empty((h, w, 2), np.float32)
    flow[...] = (dx, dy)
    return flow


@pytest.fixture(scope="module")
def clip():
    return synthetic_clip(n_frames=2, h=64, w=80, shift=(1.25, -0.75), patch_shift=(-2.5, 1.5))


def test_pan_is_certain_inside_and_zero_where_the_flow_leaves_the_image():
    flow, reverse = constant_flow(20, 30, 2.5, 0.0), constant_flow(20, 30, -2.5, 0.0)
    c = certainty(flow, reverse)
    assert c.shape == (20, 30) and c.dtype == np.float32
    # x + 2.5 needs floor(x + 2.5) + 1 <= 29, i.e. x <= 26; the reference also drops the last row
    np.testing.assert_array_equal(c[:-3, :-6], 1.0)
    np.testing.assert_array_equal(c[:, -1], 0.0)
    assert (c[:, -3:] < 0.3).all() and (c[-1] < 0.5).all()
    assert 0.0 <= c.min() and c.max() <= 1.0


def test_disoccluded_band_gets_zero(clip):
    c = certainty(clip.flows_back[0], clip.flows_forward[0])
    band = ~clip.masks[0]
    band[:, :4] = band[:, -4:] = band[:4] = band[-4:] = False  # the image border is another story
    assert band.sum() > 60
    # the band's core is exactly 0; its rim may be touched by the bilinear footprint of the patch edge
    core = cv2.erode(band.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert core.sum() > 20 and (c[core] == 0).all()
    assert c[band].mean() < 0.05
    # while the visible background away from the patch is fully certain
    far = ~cv2.dilate((clip.patch_masks[0] | clip.patch_masks[1]).astype(np.uint8), np.ones((11, 11))).astype(bool)
    far[:4] = far[-4:] = far[:, :4] = far[:, -4:] = False
    assert (c[far] == 1.0).all()


def test_motion_boundaries_of_the_patch_are_excluded(clip):
    checks = flow_checks(clip.flows_back[0], clip.flows_forward[0])
    c = certainty(clip.flows_back[0], clip.flows_forward[0])
    patch = clip.patch_masks[1]
    ys, xs = np.nonzero(patch)
    left, mid_y = xs.min(), int(np.median(ys))
    # the column just left of the patch and the patch's first column straddle the flow discontinuity
    assert checks.motion_boundary[mid_y, left - 1] and checks.motion_boundary[mid_y, left]
    assert not checks.motion_boundary[mid_y, left + 3] and not checks.motion_boundary[mid_y, left - 4]
    # a two-pixel line of zeros, softened by the reference's smoothing, stays well below one half
    assert c[mid_y, left - 1] < 0.3 and c[mid_y, left] < 0.3
    assert c[mid_y, left + 3] == pytest.approx(1.0) and c[mid_y, left - 4] == pytest.approx(1.0)
    # the patch's inside moves rigidly: certain
    assert (c[ys.min() + 4 : ys.max() - 4, left + 4 : xs.max() - 4] == 1.0).all()


def test_failed_forward_backward_check_is_smoothed_as_in_the_reference():
    flow = constant_flow(15, 15, 0.0, 0.0)
    reverse = flow.copy()
    reverse[7, 7] = (3.0, 0.0)  # one pixel fails the check: entered as -1 among 1s, then Gaussian-smoothed
    c = certainty(flow, reverse)
    w0, w1 = gaussian_taps(0.8, 2.0)[2:4]
    assert c[7, 7] == pytest.approx(1 - 2 * w0 * w0, abs=1e-6)
    assert c[7, 6] == pytest.approx(1 - 2 * w0 * w1, abs=1e-6)
    assert c[2, 2] == 1.0
    reverse[6:9, 6:9] = (3.0, 0.0)  # a 3x3 failed block stays at 0 thanks to the negative entries
    c = certainty(flow, reverse)
    assert (c[6:9, 6:9] == 0).all() and 0.5 < c[7, 5] < 0.9


def test_gaussian_taps_match_the_reference_smoother():
    taps = gaussian_taps(0.8, 2.0)
    assert len(taps) == 5 and taps.sum() == pytest.approx(1.0)
    e1, e2 = np.exp(-1 / 1.28), np.exp(-4 / 1.28)
    np.testing.assert_allclose(taps, np.array([e2, e1, 1, e1, e2]) / (1 + 2 * e1 + 2 * e2))


def test_rejects_mismatched_flows():
    with pytest.raises(ValueError, match="reverse"):
        certainty(np.zeros((4, 4, 2), np.float32), np.zeros((4, 5, 2), np.float32))
    with pytest.raises(ValueError, match="flow"):
        certainty(np.zeros((4, 4, 3), np.float32), np.zeros((4, 4, 3), np.float32))


def test_long_term_weights_closest_first_hand_computed():
    c1 = np.array([[1.0, 0.0, 0.5, 0.2]], np.float32)
    c2 = np.array([[1.0, 1.0, 1.0, 0.3]], np.float32)
    c3 = np.array([[1.0, 1.0, 0.4, 1.0]], np.float32)
    w1, w2, w3 = long_term_weights([c1, c2, c3])
    np.testing.assert_allclose(w1, c1)
    np.testing.assert_allclose(w2, [[0.0, 1.0, 0.5, 0.1]], atol=1e-7)
    # c3 - (c1 + c2): the original weights of the closer frames are subtracted
    np.testing.assert_allclose(w3, [[0.0, 0.0, 0.0, 0.5]], atol=1e-7)
    assert all(w.dtype == np.float32 for w in (w1, w2, w3))
    assert c1[0, 0] == 1.0 and c2[0, 1] == 1.0  # inputs untouched
    assert long_term_weights([]) == []
    with pytest.raises(ValueError, match="shape"):
        long_term_weights([c1, np.zeros((2, 2), np.float32)])



@pytest.mark.shared_data
@pytest.mark.parametrize("pair", [(2, 1), (1, 2), (3, 2), (2, 3), (4, 3), (3, 4), (5, 4), (4, 5)])
def test_agrees_with_reference_checker_output(pair):
    """Given the reference's own DeepFlow flows, the weights match the reliable_j_i.pgm its checker wrote."""
    j, i = pair
    folder = shared_data("video", "manuelruder+artistic-videos", "deepflow")
    name = "backward" if j > i else "forward"
    reverse_name = "forward" if j > i else "backward"
    flow = read_flo(folder / f"{name}_{j}_{i}.flo")
    reverse = read_flo(folder / f"{reverse_name}_{i}_{j}.flo")
    reference = cv2.imread(str(folder / f"reliable_{j}_{i}.pgm"), cv2.IMREAD_UNCHANGED)
    c = certainty(flow, reverse)
    assert c.shape == reference.shape
    agreement = np.mean((c >= 0.5) == (reference >= 128))
    assert agreement >= 0.999, agreement
    # the reference stores int(255 * c) computed in float32 (so a certain pixel becomes 254): within one level
    ours = np.floor(c.astype(np.float64) * 255 + 1e-3)
    assert np.abs(ours - reference).max() <= 1


def test_quick_certainty_passes_a_consistent_shift_and_fails_a_wrong_reverse():
    """The forward-backward test alone: a uniform shift and its exact reverse pass except where the flow leaves the
    image; a reverse that does not undo the flow fails everywhere; agrees with the reference checker on the pass."""
    from media.consistency import certainty, quick_certainty

    h, w = 24, 32
    flow = np.zeros((h, w, 2), np.float32)
    flow[..., 0] = 3.0  # frame j's pixel p came from p + (3, 0) in frame i
    reverse = -flow
    c = quick_certainty(flow, reverse)
    assert c.shape == (h, w) and c.dtype == np.float32
    assert c[:, : w - 6].min() > 0.99 and c[:, w - 2:].max() < 0.01  # the last 3 columns leave the image
    assert quick_certainty(flow, flow).max() < 0.01  # the "reverse" moves the same way: inconsistent
    reference = certainty(flow, reverse)
    assert ((c > 0.5) == (reference > 0.5))[2:-2, 2: w - 6].all()  # the reference drops its last row and column


def test_photometric_certainty_trusts_a_flow_that_explains_the_frame_and_not_one_that_does_not():
    """A textured frame moved by (2, 1) px: the exact flow back gives weight 1 inside the image, 0 where it leaves;
    zero flow on the same pair leaves the textured pixels mostly below the threshold."""
    from media.consistency import photometric_certainty
    from tests.conftest import textured_image

    prev = textured_image(48, 64)
    frame = np.roll(prev, (1, 2), axis=(0, 1))  # frame(p) = prev(p - (2, 1))
    back = np.zeros((48, 64, 2), np.float32)
    back[..., 0], back[..., 1] = -2.0, -1.0
    c = photometric_certainty(frame, prev, back)
    assert c.shape == (48, 64) and c.dtype == np.float32
    assert c[4:-4, 4:-4].min() > 0.99 and c[:, 0].max() == 0.0
    assert photometric_certainty(frame, prev, np.zeros_like(back))[4:-4, 4:-4].mean() < 0.7
