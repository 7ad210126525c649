"""A clip with two hard cuts through the optimisation path: the cuts are found, each shot starts like a first
frame with no flow across a cut, the run record lists the shots, and with two Ray workers (one of them SIGKILLed
mid-shot) every frame is produced, the killed shot's finished frames are untouched, and the frames equal those of
a one-worker run."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from media.shots import ShotsConfig
from media.video_io import ReadOptions
from tests.conftest import stripes_image
from tests.test_shots import scenes
from transfer.stylize import StyleSpec
from video.config import VideoConfig
from video.distributed import ClusterConfig, read_status

H, W = 48, 64
LENGTHS = (4, 9, 4)  # the middle shot is long enough to be caught mid-way
CUTS = [4, 13]
N = sum(LENGTHS)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("cuts")
    video, style = d / "cuts.avi", d / "style.png"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (W, H))
    for frame in scenes(LENGTHS, H, W, seed=4):
        writer.write(frame)
    writer.release()
    cv2.imwrite(str(style), stripes_image(64, 64))
    return video, style


def config(clip, out: Path, **kw) -> VideoConfig:
    video, style = clip
    base = dict(video=video, output=out, style=StyleSpec(styles=(style,)), read=ReadOptions(width=W), flow="dis",
                first_iterations=5, iterations=3, progress=False, shots=ShotsConfig(min_frames=3))
    return VideoConfig(**{**base, **kw})


def stylized(workdir: Path) -> list[np.ndarray]:
    return [cv2.imread(str(p)) for p in sorted((workdir / "stylized").glob("0*.png"))]


@pytest.fixture(scope="module")
def one_worker(clip, tmp_path_factory):
    from video.pipeline import stylize_video

    out = tmp_path_factory.mktemp("one") / "out.mp4"
    return stylize_video(config(clip, out)), out.with_suffix(".work")


def test_cuts_found_and_every_shot_starts_like_a_first_frame(one_worker):
    result, workdir = one_worker
    assert [(s.start, s.end) for s in result.shots] == [(0, 4), (4, 13), (13, 17)]
    assert [s.status for s in result.shots] == ["done"] * 3
    assert (workdir / "shots.csv").read_text().splitlines()[1:] == ["4,0.400", "13,1.300"]
    firsts = {f["frame"] for f in result.frames.values() if f["first_of_shot"]}
    assert firsts == {1, 5, 14}
    for f in result.frames.values():
        starts = f["frame"] in firsts
        assert f["init"] == (VideoConfig.first_init.value if starts else "prev-warped"), f
        assert f["iterations"] <= (5 if starts else 3)
    assert result.summary.first_frame_iterations == 5 and result.summary.mean_later_iterations <= 3
    # no flow, certainty or warp across a cut; inside a shot they exist
    for i, j in [(5, 4), (4, 5), (14, 13), (13, 14)]:
        assert not (workdir / "flow" / f"{i:06d}_{j:06d}.flo").exists()
        assert not (workdir / "certainty" / f"{i:06d}_{j:06d}.png").exists()
    assert (workdir / "flow" / "000006_000005.flo").exists()
    record = json.loads((workdir / "run.json").read_text())
    assert [s["shot"] for s in record["shots"]] == [1, 2, 3]


def test_first_frame_of_a_shot_ignores_the_previous_shot(clip, one_worker, tmp_path):
    """Stylising the second shot alone (its frames as their own clip) gives the same first frame."""
    from video.pipeline import stylize_video

    _, workdir = one_worker
    alone = tmp_path / "alone.avi"
    writer = cv2.VideoWriter(str(alone), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (W, H))
    for frame in scenes(LENGTHS, H, W, seed=4)[4:13]:
        writer.write(frame)
    writer.release()
    stylize_video(config((alone, clip[1]), tmp_path / "alone.mp4"))
    a = cv2.imread(str(tmp_path / "alone.work" / "frames" / "000001.png")).astype(int)
    b = cv2.imread(str(workdir / "frames" / "000005.png")).astype(int)
    assert np.array_equal(a, b)  # MJPG codes each frame alone: the same content frames
    first_alone = cv2.imread(str(tmp_path / "alone.work" / "stylized" / "000001.png")).astype(int)
    first_in_run = cv2.imread(str(workdir / "stylized" / "000005.png")).astype(int)
    assert np.abs(first_alone - first_in_run).mean() < 1.0


@pytest.mark.slow
def test_two_workers_with_a_killed_worker_match_one_worker(clip, one_worker, tmp_path):
    pytest.importorskip("ray", reason="Ray is a dev dependency (the [distributed] extra)")
    from video.pipeline import stylize_video

    out = tmp_path / "two.mp4"
    workdir = out.with_suffix(".work")
    victim, before, killed = 2, {}, []

    def kill_mid_shot() -> None:
        deadline = time.time() + 240
        while time.time() < deadline and not killed:
            status = read_status(workdir, victim)
            mine = [workdir / "stylized" / f"{i:06d}.png" for i in range(5, 14)]
            done = [p for p in mine if p.exists()]
            if status.get("status") == "running" and status.get("pid") != os.getpid() and 2 <= len(done) < 9:
                before.update({p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in done})
                os.kill(status["pid"], signal.SIGKILL)
                killed.append(status["pid"])
            time.sleep(0.02)

    killer = threading.Thread(target=kill_mid_shot, daemon=True)
    killer.start()
    result = stylize_video(config(clip, out, cluster=ClusterConfig(workers=2)))
    killer.join()
    assert killed, "the worker was never caught mid-shot"
    assert out.exists()
    shots = {s.shot: s for s in result.shots}
    assert [s.status for s in result.shots] == ["done"] * 3
    assert shots[victim].attempt == 2 and shots[victim].pid != killed[0] and shots[victim].threads == 1
    frames = stylized(workdir)
    assert len(frames) == N and all(f is not None and f.shape == (H, W, 3) for f in frames)  # none corrupt
    for name, ident in before.items():  # the killed shot's finished frames were not recomputed
        p = workdir / "stylized" / name
        assert (p.stat().st_ino, p.stat().st_mtime_ns) == ident, name
    assert shots[victim].result["frames_computed"] == 9 - len(before)
    assert {f["frame"] for f in result.frames.values() if f["first_of_shot"]} == {1, 5, 14}
    reference = stylized(one_worker[1])
    diffs = [np.abs(a.astype(int) - b.astype(int)).mean() for a, b in zip(frames, reference, strict=True)]
    # one TensorFlow thread per worker against the driver's two: the last bits differ, and the optimiser carries
    # that over a shot (the projected L-BFGS, the video default, to at most 1.5 grey levels on average here)
    assert max(diffs) < 2.0, diffs


def test_shots_none_runs_one_shot(clip, tmp_path):
    from media.shots import ShotMode
    from video.pipeline import stylize_video

    result = stylize_video(config(clip, tmp_path / "one.mp4", first_iterations=2, iterations=1,
                                  shots=ShotsConfig(mode=ShotMode.NONE)))
    assert [(s.start, s.end) for s in result.shots] == [(0, N)]
    assert {f["frame"] for f in result.frames.values() if f["first_of_shot"]} == {1}
    assert (tmp_path / "one.work" / "flow" / "000005_000004.flo").exists()


@pytest.mark.parametrize(("extra", "needle"), [
    (["--shots", "{d}/cuts.csv"], "cuts.csv: row 2: 'soon' is not a frame number"),
    (["--shots", "{d}/missing.csv"], "missing.csv: no such file"),
    (["--workers", "0"], "--workers must be at least 1"),
])
def test_cli_refuses_bad_shot_and_worker_options(clip, tmp_path, capsys, extra, needle):
    from paintvid.cli import main

    (tmp_path / "cuts.csv").write_text("frame\nsoon\n")
    video, style = clip
    argv = ["video", str(video), str(style), "-o", str(tmp_path / "o.mp4"), "--quiet"]
    code = main(argv + [a.format(d=tmp_path) for a in extra])
    err = capsys.readouterr().err.strip()
    assert code == 2 and needle in err and "\n" not in err, err
    assert not (tmp_path / "o.work" / "stylized").exists()


def test_edited_shots_csv_in_the_workdir_is_used_and_kept(clip, one_worker, tmp_path):
    """The user edits OUT.work/shots.csv in place (drops a cut) and passes it back: the run follows it, leaves the
    file as the user wrote it, and a rerun of the same command recomputes nothing."""
    import shutil

    from media.shots import ShotMode
    from video.pipeline import stylize_video

    out = tmp_path / "edited.mp4"
    shutil.copytree(one_worker[1], out.with_suffix(".work"))
    cuts = out.with_suffix(".work") / "shots.csv"
    cuts.write_text("frame\n13\n")
    edited = config(clip, out, shots=ShotsConfig(mode=ShotMode.FILE, file=cuts))
    result = stylize_video(edited)
    assert [(s.start, s.end) for s in result.shots] == [(0, 13), (13, 17)]
    assert cuts.read_text() == "frame\n13\n"
    again = stylize_video(edited)
    assert again.resumed and all(s.result["frames_computed"] == 0 for s in again.shots)
