"""End to end on a tiny synthetic clip: frame count, run.json, temporal error below the independent baseline,
resume after an interruption giving identical frames, and stale outputs discarded when the style changes."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import stripes_image
from transfer.objective import LossWeights
from transfer.stylize import StyleSpec
from video.config import Init, VideoConfig

H, W, N = 48, 64, 6


def panning_clip(path: Path, n: int = N, dx: float = 2.0) -> None:
    """Write an MJPG .avi of a smooth texture panned right by ``dx`` pixels per frame."""
    r = np.random.default_rng(5)
    big = cv2.resize(r.uniform(0, 255, (16, 24, 3)).astype(np.float32), (W + 40, H), interpolation=cv2.INTER_CUBIC)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (W, H))
    for t in range(n):
        m = np.float32([[1, 0, 20 - dx * t], [0, 1, 0]])
        frame = cv2.warpAffine(big, m, (W + 40, H), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)[:, :W]
        writer.write(np.clip(frame, 0, 255).astype(np.uint8))
    writer.release()


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("clip")
    video, style = d / "pan.avi", d / "style.png"
    panning_clip(video)
    cv2.imwrite(str(style), stripes_image(64, 64))
    return video, style


def make_config(video: Path, style_path: Path, out: Path, **kw) -> VideoConfig:
    from media.video_io import ReadOptions

    base = dict(video=video, output=out, style=StyleSpec(styles=(style_path,)), read=ReadOptions(width=W),
                flow="dis", first_iterations=30, iterations=10, progress=False,
                loss=LossWeights(temporal=1e3))
    base.update(kw)
    return VideoConfig(**base)


def stylized_frames(workdir: Path) -> list[np.ndarray]:
    return [cv2.imread(str(p)) for p in sorted((workdir / "stylized").glob("*.png"))]


def input_backward_flows(workdir: Path, n: int) -> list[np.ndarray]:
    from media.flo import read_flo

    return [read_flo(workdir / "flow" / f"{i:06d}_{i - 1:06d}.flo") for i in range(2, n + 1)]


@pytest.fixture(scope="module")
def temporal_run(clip, tmp_path_factory):
    from video.pipeline import stylize_video

    out = tmp_path_factory.mktemp("temporal") / "out.mp4"
    report = stylize_video(make_config(*clip, out))
    return out, report


def test_output_video_and_run_json(temporal_run):
    out, report = temporal_run
    cap = cv2.VideoCapture(str(out))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    assert len(frames) == N and frames[0].shape == (H, W, 3)
    run = json.loads((out.with_suffix(".work") / "run.json").read_text())
    assert run["n_frames"] == N and run["weights_used"].startswith("bundled")
    assert run["config"]["init"] == "prev-warped" and run["config"]["loss"]["temporal"] == 1e3
    per_frame = [run["frames"][k] for k in sorted(run["frames"])]
    assert [f["frame"] for f in per_frame] == list(range(1, N + 1))
    assert all(f["seconds"] > 0 and f["losses"]["style"] > 0 for f in per_frame)
    assert all(f["losses"]["temporal"] > 0 for f in per_frame[1:]) and per_frame[0]["losses"]["temporal"] == 0
    assert per_frame[0]["iterations"] == 30 and per_frame[1]["iterations"] <= 10
    assert len(stylized_frames(out.with_suffix(".work"))) == N


def test_notebook_reader_understands_the_run_record(temporal_run):
    """The evaluation notebook reads the run.json the optimisation runner writes (not a hand-written one)."""
    from video import report_plots as rp
    from video.results import read_result

    out, result = temporal_run
    workdir = out.with_suffix(".work")
    assert read_result(workdir / "run.json") == result
    run = rp.load_run("temporal", workdir)
    row = rp.summary_table([run]).loc["temporal"]
    assert row["kind"] == "temporal" and row["frames"] == N
    assert row["seconds_per_frame"] == pytest.approx(result.summary.mean_seconds_per_frame)
    series, source = rp.per_frame(run, "style_loss")
    assert len(series) == N and source == "run.json (weighted)"


def test_temporal_error_below_independent_baseline(clip, temporal_run, tmp_path):
    from media.metrics import warping_error
    from video.pipeline import stylize_video

    out, _ = temporal_run
    base_out = tmp_path / "independent.mp4"
    stylize_video(make_config(*clip, base_out, init=Init.CONTENT, loss=LossWeights(temporal=0.0)))
    flows = input_backward_flows(out.with_suffix(".work"), N)
    temporal = warping_error(stylized_frames(out.with_suffix(".work")), flows).mean()
    independent = warping_error(stylized_frames(base_out.with_suffix(".work")), flows).mean()
    assert temporal < 0.7 * independent, (temporal, independent)


def test_resume_after_interruption_gives_identical_frames(clip, temporal_run, tmp_path, monkeypatch):
    import video.optimization_stylizer as stylizer_module
    import video.pipeline as pipeline

    out, _ = temporal_run
    real = stylizer_module.OptimizationStylizer._optimise  # every frame's optimisation, pyramid or single-scale
    calls = {"n": 0}

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    resumed_out = tmp_path / "resumed.mp4"
    monkeypatch.setattr(stylizer_module.OptimizationStylizer, "_optimise", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pipeline.stylize_video(make_config(*clip, resumed_out))
    workdir = resumed_out.with_suffix(".work")
    assert len(list((workdir / "stylized").glob("*.png"))) == 3
    assert not list(workdir.rglob("*.tmp*")) and not resumed_out.exists()

    monkeypatch.setattr(stylizer_module.OptimizationStylizer, "_optimise", real)
    calls["n"] = 0
    report = pipeline.stylize_video(make_config(*clip, resumed_out))
    assert resumed_out.exists()
    for a, b in zip(stylized_frames(workdir), stylized_frames(out.with_suffix(".work")), strict=True):
        np.testing.assert_array_equal(a, b)
    assert len(report.frames) == N


def test_changed_style_discards_stale_frames(clip, tmp_path):
    from video.pipeline import stylize_video

    video, style = clip
    out = tmp_path / "o.mp4"
    stylize_video(make_config(video, style, out, first_iterations=3, iterations=2))
    first = stylized_frames(out.with_suffix(".work"))
    style2 = tmp_path / "style2.png"
    cv2.imwrite(str(style2), stripes_image(64, 64, period=10, angle_deg=-45)[:, :, ::-1].copy())
    stylize_video(make_config(video, style2, out, first_iterations=3, iterations=2))
    second = stylized_frames(out.with_suffix(".work"))
    assert len(second) == N
    assert all(np.abs(a.astype(int) - b.astype(int)).mean() > 1 for a, b in zip(first, second, strict=True))
    # flows did not depend on the style and were kept
    assert len(list((out.with_suffix(".work") / "flow").glob("*.flo"))) == 2 * (N - 1)


def test_long_term_and_multipass_run(clip, tmp_path):
    from video.pipeline import stylize_video

    out = tmp_path / "lt.mp4"
    report = stylize_video(make_config(*clip, out, long_term=(1, 2, 4), passes=2, first_iterations=5, iterations=3,
                                       pass_iterations=2))
    workdir = out.with_suffix(".work")
    assert (workdir / "flow" / f"{5:06d}_{1:06d}.flo").exists()
    assert len(list((workdir / "pass2").glob("*.png"))) == N == len(stylized_frames(workdir))
    assert {f["pass"] for f in report.frames.values()} == {1, 2}
    # a later frame's cost is its iterations in both passes
    assert report.summary.mean_later_iterations == 3 + 2
    assert report.summary.first_frame_iterations == 5


@pytest.mark.parametrize(
    "kw, needle",
    [(dict(long_term=(2,)), "must include 1"), (dict(passes=0), "at least 1"), (dict(output=Path("x.avi")), ".mp4")],
)
def test_bad_config(clip, tmp_path, kw, needle):
    from foundation.errors import UserError

    with pytest.raises(UserError, match=needle):
        make_config(*clip, tmp_path / "o.mp4", **kw)


def test_cli_errors_one_line(clip, tmp_path, capsys):
    from paintvid.cli import main

    video, style = clip
    text = tmp_path / "notvideo.mp4"
    text.write_text("hello")
    cases = [([str(text), str(style)], "notvideo.mp4"), ([str(video), str(text)], "notvideo.mp4: not an image"),
             ([str(tmp_path / "missing.avi"), str(style)], "missing.avi: no such file")]
    for argv, needle in cases:
        code = main(["video", *argv, "-o", str(tmp_path / "o.mp4"), "--quiet"])
        err = capsys.readouterr().err.strip()
        assert code == 2 and needle in err and "\n" not in err, err


def test_style_schedule_moves_from_first_to_second_style(clip, tmp_path):
    from tests.conftest import textured_image
    from transfer.features import preprocess
    from transfer.stylize import build_objective
    from video.evaluate import frame_losses
    from video.pipeline import stylize_video

    video, style_a = clip
    style_b = tmp_path / "b.png"
    cv2.imwrite(str(style_b), textured_image(64, 64, seed=9))
    spec = StyleSpec(styles=(style_a, style_b))
    out = tmp_path / "sched.mp4"
    stylize_video(make_config(video, style_a, out, style=spec, style_schedule="0:0,1:0,4:1", first_iterations=30,
                              iterations=15, loss=LossWeights(temporal=100.0)))
    inputs = [cv2.imread(str(p)) for p in sorted((out.with_suffix(".work") / "frames").glob("*.png"))]
    outputs = stylized_frames(out.with_suffix(".work"))
    objective = build_objective(spec)
    to_a = frame_losses(objective, objective.style_grams(preprocess(cv2.imread(str(style_a)))), inputs, outputs)
    to_b = frame_losses(objective, objective.style_grams(preprocess(cv2.imread(str(style_b)))), inputs, outputs)
    ratio = [a / b for a, b in zip(to_a["style"], to_b["style"], strict=True)]
    assert ratio[0] < ratio[-1], ratio  # first frame nearer style a, last frame nearer style b


def test_bad_schedule_fails_before_work(clip, tmp_path):
    from foundation.errors import UserError
    from video.pipeline import stylize_video

    with pytest.raises(UserError, match="style schedule"):
        stylize_video(make_config(*clip, tmp_path / "o.mp4", style_schedule="0:0,4:3"))
    assert not (tmp_path / "o.work" / "frames").exists()


def test_luminance_mode_keeps_each_frames_colours(clip, tmp_path):
    from video.pipeline import final_frame, stylize_video
    from video.workdir import WorkDir

    out = tmp_path / "lum.mp4"
    config = make_config(*clip, out, preserve_colors="luminance", first_iterations=10, iterations=5)
    stylize_video(config)
    wd = WorkDir(out.with_suffix(".work"))
    painted = wd.read_png(wd.stylized(3))
    final, original = final_frame(config, wd, 3), wd.read_png(wd.frame(3))
    luma = [cv2.cvtColor(x, cv2.COLOR_BGR2YCrCb)[..., 0].astype(float) for x in (final, painted, original)]
    assert np.abs(luma[0] - luma[1]).mean() < 2.0  # the painted luminance ...
    assert np.abs(luma[0] - luma[2]).mean() > 5.0  # ... which is not the frame's own
    chroma = [cv2.cvtColor(x, cv2.COLOR_BGR2YCrCb)[..., 1:].astype(float) for x in (final, original)]
    assert np.abs(chroma[0] - chroma[1]).mean() < 2.0  # with the frame's own colours


def test_sigkill_mid_run_then_resume_matches_uninterrupted_run(clip, temporal_run, tmp_path):
    """Kill -9 the CLI once frame 2 is written; the rerun finishes and every frame equals the uninterrupted run's."""
    import os
    import signal
    import subprocess
    import sys
    import time

    video, style = clip
    out = tmp_path / "killed.mp4"
    argv = [sys.executable, "-m", "paintvid", "video", str(video), str(style), "-o", str(out), "--width", str(W),
            "--flow", "dis", "--first-iterations", "30", "--iterations", "10", "--temporal-weight", "1000", "--quiet"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    target = out.with_suffix(".work") / "stylized" / "000002.png"
    deadline = time.time() + 300
    while not target.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-500:]
    for a, b in zip(stylized_frames(out.with_suffix(".work")), stylized_frames(temporal_run[0].with_suffix(".work")),
                    strict=True):
        np.testing.assert_array_equal(a, b)
