"""The video benchmark's bookkeeping: passes per frame from a run record, make demo's plans, the style gain."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from benchmarks.video import DEMO_FRAMES, PREVIOUS_DEFAULTS, _cos, demo_plan, passes
from video.config import VideoConfig


def _record(frame: int, evaluations: int, first: bool, coarse: int = 0, pass_index: int = 1) -> dict:
    return {"frame": frame, "pass": pass_index, "first_of_shot": first, "evaluations": evaluations,
            "coarse_iterations": coarse}


def test_passes_count_first_pass_only_and_split_first_from_later_frames():
    frames = {"1:000001": _record(1, 100, True, coarse=40), "1:000002": _record(2, 20, False),
              "1:000003": _record(3, 30, False), "2:000001": _record(1, 999, True, pass_index=2)}
    out = passes(SimpleNamespace(frames=frames))
    assert out["evaluations_per_frame"] == pytest.approx(50.0)
    assert out["first_frame_evaluations"] == 100 and out["later_frame_evaluations"] == 25
    assert out["first_frame_coarse_iterations"] == 40


def test_demo_plans_follow_the_previous_and_the_current_defaults():
    previous, current = demo_plan(PREVIOUS_DEFAULTS), demo_plan({})
    assert (previous.frames, previous.height, previous.width) == (DEMO_FRAMES, 288, 384)
    assert (previous.first_iterations, previous.coarse_iterations, previous.iterations) == (120, 40, 40)
    assert (current.first_iterations, current.coarse_iterations, current.iterations) == (
        VideoConfig.first_iterations, VideoConfig.coarse_iterations, VideoConfig.iterations)


def test_cosine_of_parallel_and_orthogonal_codes():
    a = np.array([1.0, 2.0, 0.0])
    assert _cos(a, 3 * a) == pytest.approx(1.0)
    assert _cos(a, np.array([-2.0, 1.0, 5.0])) == pytest.approx(0.0)
