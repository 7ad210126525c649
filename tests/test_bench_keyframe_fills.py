"""The keyframe fills comparison's measures (``benchmarks.keyframe_fills``) on tiny known inputs."""

from __future__ import annotations

import cv2
import numpy as np

from benchmarks.keyframe_fills import region_warping_ratio, texture, verdict


def test_texture_of_a_blurred_region_is_lower():
    image = np.random.default_rng(0).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    mask = np.zeros((32, 48), bool)
    mask[8:24, 8:40] = True
    assert texture(cv2.GaussianBlur(image, (0, 0), 2.0), mask) < 0.2 * texture(image, mask)


def test_region_warping_ratio_judges_only_the_region():
    rng = np.random.default_rng(1)
    inputs = [rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(3)]
    steady = [inputs[0]] * 3  # still frames under zero flow: no error anywhere
    zero = [np.zeros((16, 16, 2), np.float32)] * 2
    masks = [np.ones((16, 16), bool)] * 2
    assert region_warping_ratio(steady, inputs, (zero, zero), masks) == 0.0
    flicker = [inputs[0], inputs[0].copy(), inputs[0]]
    flicker[1][:8] = 255 - flicker[1][:8]  # the top half flickers
    bottom = [np.zeros((16, 16), bool)] * 2
    bottom[0][8:], bottom[1][8:] = True, True
    assert region_warping_ratio(flicker, inputs, (zero, zero), bottom) == 0.0
    assert region_warping_ratio(flicker, inputs, (zero, zero), masks) > 0.0


def test_verdict_names_the_crispest_steadiest_and_closest():
    rows = {"colour_model": {"hold_out_texture_ratio": 0.78, "warping_error_ratio_unseen": 0.26,
                             "hold_out_colour_error": 6.8},
            "network": {"hold_out_texture_ratio": 0.33, "warping_error_ratio_unseen": 0.87,
                        "hold_out_colour_error": 11.0},
            "network_detail": {"hold_out_texture_ratio": 1.2, "warping_error_ratio_unseen": 0.5,
                               "hold_out_colour_error": 6.7}}
    assert verdict(rows) == {"crispest": "network_detail", "steadiest": "colour_model",
                             "closest_colours": "network_detail"}
