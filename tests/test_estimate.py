"""The run-time estimate's arithmetic (video.estimate), with made-up pass times: no timing here."""

import pytest

from video.estimate import (
    EVALUATIONS_PER_ITERATION,
    MAX_EVALUATIONS_PER_ITERATION,
    MAX_OVERHEAD,
    OVERHEAD,
    Estimate,
    RunPlan,
    estimate_seconds,
    full_size_iterations,
)


def test_demo_counts_every_iteration_of_every_frame():
    # make demo: 2 s of vtest at 384 px, with a coarse-to-fine first frame
    plan = RunPlan(frames=20, height=288, width=384, first_iterations=120, coarse_iterations=40, iterations=40)
    assert plan.coarse_shape() == (144, 192)
    assert full_size_iterations(plan) == 120 + 19 * 40
    est = estimate_seconds(plan, full_pass=1.0, coarse_pass=0.25)
    vgg = (120 + 19 * 40) * 1.0 + 40 * 0.25
    assert est.typical == pytest.approx(vgg * EVALUATIONS_PER_ITERATION * (1 + OVERHEAD))
    assert est.upper == pytest.approx(vgg * MAX_EVALUATIONS_PER_ITERATION * (1 + MAX_OVERHEAD))
    assert est.upper > est.typical


def test_small_first_frame_runs_single_scale_and_one_frame_has_no_later_ones():
    plan = RunPlan(frames=1, height=48, width=64, first_iterations=10, coarse_iterations=30, iterations=7)
    assert plan.coarse_shape() is None  # 24x32: under the pyramid's smallest coarse side
    assert full_size_iterations(plan) == 10
    est = estimate_seconds(plan, full_pass=2.0, coarse_pass=100.0)  # the coarse time must not count
    assert est.typical == pytest.approx(10 * 2.0 * EVALUATIONS_PER_ITERATION * (1 + OVERHEAD))


def test_no_frames_no_time_and_negative_times_refused():
    assert estimate_seconds(RunPlan(frames=0, height=288, width=384), 1.0, 1.0) == Estimate(0.0, 0.0)
    with pytest.raises(ValueError):
        estimate_seconds(RunPlan(frames=2, height=288, width=384), -1.0, 0.1)


def test_describe_rounds_minutes_up_and_names_the_cpu():
    text = Estimate(typical=61.0, upper=400.0).describe("Some CPU (avx2 class, 2 cores)")
    assert text == "about 2 min (at most 7 min) on Some CPU (avx2 class, 2 cores)"
    assert Estimate(typical=5.0, upper=10.0).describe("x").startswith("about 1 min (at most 1 min)")


def test_plan_defaults_are_the_video_defaults():
    from video.config import VideoConfig

    plan = RunPlan(frames=3, height=96, width=128)
    assert (plan.first_iterations, plan.coarse_iterations, plan.iterations) == (
        VideoConfig.first_iterations, VideoConfig.coarse_iterations, VideoConfig.iterations)
    single = RunPlan(frames=3, height=288, width=384, coarse_iterations=0)
    assert single.coarse_shape() is None  # a painted first frame runs single-scale: no coarse pass to probe
