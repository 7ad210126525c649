"""Streaming inference: a 10-frame clip gives 10 stylised frames, run.json, resume, side by side, smoothing."""

from __future__ import annotations

import json

import numpy as np
import pytest

from foundation.errors import UserError
from media.encode import encode_frames
from media.smoothing import smooth_frame
from media.video_io import ReadOptions, probe, read_frames
from tests.synthetic import synthetic_clip
from transfer.fast.network import NetworkSpec, build_network, save_network
from video.fast_runner import FastVideoConfig, stylize_video_fast

TINY = NetworkSpec(channels=(4, 8, 8), residual_blocks=1, separable=True, internal_scale=2, edge_kernel=3)


@pytest.fixture(scope="module")
def clip_and_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("fast_infer")
    clip = synthetic_clip(n_frames=10, h=48, w=64, shift=(1.0, 0.5), patch_shift=(-1.0, 0.5), seed=0)
    video = encode_frames(clip.frames, root / "clip.mp4", fps=10)
    model = save_network(build_network(TINY, seed=0), root / "tiny.keras")
    return root, video, model


def test_streaming_writes_every_frame_and_reports_shares(clip_and_model):
    root, video, model = clip_and_model
    cfg = FastVideoConfig(video=video, model=model, output=root / "out.mp4", batch_size=4, side_by_side=True,
                          progress=False)
    report = stylize_video_fast(cfg)
    info = probe(root / "out.mp4")
    assert info.frame_count == 10 and (info.width, info.height) == (64, 48)
    sbs = probe(root / "out_side_by_side.mp4")
    assert sbs.frame_count == 10 and sbs.width == 128
    saved = json.loads((root / "out.work" / "run.json").read_text())
    assert saved["n_frames"] == 10 and saved["fps"] > 0
    shares = saved["throughput"]["time_share"]
    assert set(shares) == {"decode", "stylize", "smooth", "encode"}
    assert abs(sum(shares.values()) - 1) < 1e-6 and shares["stylize"] > 0
    assert report.resumed is False
    # stylised, not copied: the network changes the frames
    out = np.stack(read_frames(root / "out.mp4")).astype(float)
    src = np.stack(read_frames(video)).astype(float)
    assert np.abs(out - src).mean() > 5

    again = stylize_video_fast(cfg)
    assert again.resumed is True and again.n_frames == 10


def test_selection_and_bfloat16_and_smoothing(clip_and_model):
    root, video, model = clip_and_model
    cfg = FastVideoConfig(video=video, model=model, output=root / "sel.mp4", read=ReadOptions(frames=6, width=32),
                          batch_size=4, precision="bfloat16", smoothing=0.5, progress=False)
    report = stylize_video_fast(cfg)
    assert report.n_frames == 6 and (report.size.height, report.size.width) == (24, 32)
    assert report.stage_seconds["smooth"] > 0
    assert probe(root / "sel.mp4").frame_count == 6


def test_smooth_frame_follows_the_motion():
    """With exact motion and alpha 1, the smoothed frame is the previous output carried along the flow."""
    clip = synthetic_clip(n_frames=2, h=48, w=64, shift=(2.0, 0.0), patch_shift=None, seed=1)
    prev_out = clip.frames[0][:, :, ::-1].copy()  # any stylisation; here a channel swap
    out = np.zeros_like(prev_out)
    smoothed = smooth_frame(out, prev_out, clip.frames[1], clip.frames[0], 1.0, "dis")
    expected = clip.frames[1][:, :, ::-1].astype(float)
    inner = (slice(8, -8), slice(8, -8))
    assert np.abs(smoothed[inner].astype(float) - expected[inner]).mean() < 12
    untouched = smooth_frame(out, prev_out, clip.frames[1], clip.frames[0], 0.0, "dis")
    assert not untouched.any()


def test_config_errors(clip_and_model, tmp_path):
    root, video, model = clip_and_model
    with pytest.raises(UserError, match="must be an .mp4"):
        FastVideoConfig(video=video, model=model, output=tmp_path / "x.gif")
    with pytest.raises(UserError, match="smoothing"):
        FastVideoConfig(video=video, model=model, output=tmp_path / "x.mp4", smoothing=2)
    with pytest.raises(UserError, match="no such model"):
        stylize_video_fast(FastVideoConfig(video=video, model=tmp_path / "none.keras", output=tmp_path / "x.mp4"))


def test_smooth_frame_at_half_flow_resolution_still_follows_the_motion():
    clip = synthetic_clip(n_frames=2, h=48, w=64, shift=(2.0, 0.0), patch_shift=None, seed=1)
    prev_out = clip.frames[0][:, :, ::-1].copy()
    smoothed = smooth_frame(np.zeros_like(prev_out), prev_out, clip.frames[1], clip.frames[0], 1.0, "dis", 0.5)
    expected = clip.frames[1][:, :, ::-1].astype(float)
    inner = (slice(8, -8), slice(8, -8))
    assert np.abs(smoothed[inner].astype(float) - expected[inner]).mean() < 15


def test_schedule_blends_network_outputs_per_frame():
    """Two 'networks' (constant 0 and constant 200): the schedule fades from the first to the second over frames."""
    import numpy as np

    from video.fast_stylizer import scheduled_stylizer

    calls = []

    def constant(value):
        def run(frames):
            calls.append(value)
            return np.full(frames.shape, value, np.uint8)

        return run

    f = scheduled_stylizer([constant(0), constant(200)], "0:0,2:0,6:1", fps=10.0)
    frames = np.zeros((4, 2, 2, 3), np.uint8)
    first = f(frames)  # frames 0..3: weights of style 1 are 0, 0, 0, 0.25
    second = f(frames)  # frames 4..7: 0.5, 0.75, 1, 1
    values = [int(x[0, 0, 0]) for x in (*first, *second)]
    assert values == [0, 0, 0, 50, 100, 150, 200, 200]
    calls.clear()
    f(frames)  # frames 8..11: only the second network has weight, the first is skipped
    assert calls == [200]


def test_several_models_need_a_schedule():
    import pytest

    from foundation.errors import UserError
    from video.fast_stylizer import scheduled_stylizer

    with pytest.raises(UserError, match="style-schedule"):
        scheduled_stylizer([lambda f: f, lambda f: f], None, fps=10.0)


def test_cli_smoothing_flow_options_reach_the_run(clip_and_model, capsys):
    from paintvid.cli import main

    root, video, model = clip_and_model
    out = root / "cli_smooth.mp4"
    code = main(["video", str(video), "--method", "fast", "--model", str(model), "-o", str(out), "--width", "64",
                 "--frames", "4", "--smoothing", "0.8", "--smoothing-flow", "farneback", "--smoothing-scale", "1",
                 "--quiet"])
    assert code == 0
    run = json.loads((root / "cli_smooth.work" / "run.json").read_text())
    assert run["config"]["smoothing"] == 0.8
    assert (run["config"]["flow_method"], run["config"]["flow_scale"]) == ("farneback", 1.0)
    assert run["stage_seconds"]["smooth"] > 0
    # the CLI prints the real frame count (it once printed "? frames" reading a field the report did not have)
    assert f"{out}\t4 frames\t" in capsys.readouterr().out


def test_notebook_reader_understands_the_fast_run_record(clip_and_model):
    """The evaluation notebook reads the run.json the fast runner writes (not a hand-written one)."""
    from video import report_plots as rp
    from video.results import read_result

    root, video, model = clip_and_model
    cfg = FastVideoConfig(video=video, model=model, output=root / "schema.mp4", progress=False)
    result = stylize_video_fast(cfg)
    assert read_result(root / "schema.work" / "run.json") == result
    run = rp.load_run("fast", root / "schema.work")
    row = rp.summary_table([run]).loc["fast"]
    assert row["kind"] == "fast" and row["frames"] == 10 and row["fps"] == pytest.approx(result.fps)
