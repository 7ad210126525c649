"""The benchmark's camera clip: its 'exact' flow must really be exact, or the fast-vs-optimisation referee lies."""

import cv2
import numpy as np

from benchmarks.known_motion import camera_clip
from media.flow import estimate_flow
from media.warp import warp
from tests.synthetic import smooth_texture


def _photo() -> np.ndarray:
    ys, xs = np.mgrid[0:120, 0:160].astype(np.float64)
    return np.clip(np.rint(smooth_texture(xs, ys, seed=3)), 0, 255).astype(np.uint8)


def test_exact_flow_maps_each_frame_onto_the_next():
    clip = camera_clip(_photo(), 4, size=(96, 64), pan=(1.5, -0.5), zoom=1.01, turn_deg=0.5)
    for t in range(1, 4):
        back, mask = clip.flows_back[t - 1], clip.masks[t - 1]
        warped, _ = warp(clip.frames[t - 1], back)
        err = np.abs(warped.astype(float) - clip.frames[t])[mask].mean()
        still = np.abs(clip.frames[t - 1].astype(float) - clip.frames[t])[mask].mean()
        assert err < 0.1 * still
        # an independent estimate agrees with it to a small fraction of a pixel
        epe = np.linalg.norm(estimate_flow(clip.frames[t], clip.frames[t - 1], "dis") - back, axis=-1)[mask]
        assert np.median(epe) < 0.1
        # forward and backward flows are inverse maps: p -> p + back(p) -> back to p
        ys, xs = np.mgrid[0:64, 0:96].astype(np.float32)
        qx, qy = xs + back[..., 0], ys + back[..., 1]
        fwd_at_q = cv2.remap(clip.flows_forward[t - 1], qx, qy, cv2.INTER_LINEAR)
        np.testing.assert_allclose((back + fwd_at_q)[mask], 0.0, atol=1e-3)


def test_mask_marks_the_border_the_camera_moves_into():
    clip = camera_clip(_photo(), 3, size=(96, 64), pan=(3.0, 0.0), zoom=1.0, turn_deg=0.0)
    mask = clip.masks[0]
    # the camera pans right: the rightmost 3 columns of frame 1 were outside frame 0
    assert not mask[:, -3:].any() and mask[:, :-3].all()
    np.testing.assert_allclose(clip.flows_back[0], np.broadcast_to([3.0, 0.0], (64, 96, 2)), atol=1e-6)
