"""evaluate-video: warping error of the output vs the input floor, and per-frame losses from the backbone."""

from __future__ import annotations

import numpy as np

from media.flow import input_flows
from tests.synthetic import synthetic_clip
from video.evaluate import evaluate_frames


def test_input_as_output_matches_floor_and_noise_raises_error():
    clip = synthetic_clip(n_frames=4, h=48, w=64, shift=(2.0, 0.0), patch_shift=None)
    back, fwd = input_flows(clip.frames, "dis")
    same = evaluate_frames(clip.frames, clip.frames, back, fwd)
    assert same["temporal_error"] == same["input_temporal_error"]
    r = np.random.default_rng(0)
    noisy = [np.clip(f.astype(int) + r.integers(-40, 40, f.shape), 0, 255).astype(np.uint8) for f in clip.frames]
    flicker = evaluate_frames(clip.frames, noisy, back, fwd)
    assert flicker["temporal_error"] > 5 * same["temporal_error"] + 1e-3
    assert len(flicker["per_frame"]["temporal_error"]) == 3


def test_losses_per_frame(bundled_backbone):
    from tests.conftest import stripes_image
    from transfer.features import CONTENT_LAYER, STYLE_LAYERS, FeatureExtractor, preprocess
    from transfer.objective import StyleObjective

    clip = synthetic_clip(n_frames=3, h=48, w=64, patch_shift=None)
    ext = FeatureExtractor(bundled_backbone, (CONTENT_LAYER, *STYLE_LAYERS))
    objective = StyleObjective(ext, CONTENT_LAYER, dict.fromkeys(STYLE_LAYERS, 1.0))
    style = stripes_image(48, 64)
    grams = objective.style_grams(preprocess(style))
    back, fwd = input_flows(clip.frames, "dis")
    as_input = evaluate_frames(clip.frames, clip.frames, back, fwd, objective, grams)
    as_style = evaluate_frames(clip.frames, [style] * 3, back, fwd, objective, grams)
    assert as_input["mean_content_loss"] == 0 and as_style["mean_content_loss"] > 0
    assert as_style["mean_style_loss"] < 1e-3 * as_input["mean_style_loss"]
