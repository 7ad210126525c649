"""``paintvid video CLIP --keyframe N=FILE`` end to end on a tiny clip with known motion, and its one-line errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from media.video_io import read_frames
from paintvid.cli import main
from tests.synthetic import synthetic_clip
from video.keyframe_runner import KeyframeVideoConfig, stylize_video_keyframes
from video.keyframes import Keyframe
from video.results import read_result

N_FRAMES = 12


def paint(frame: np.ndarray) -> np.ndarray:
    """A known painting of a frame: inverted tones, warm cast."""
    return np.clip(255.0 - frame.astype(np.float32) * 0.8 + np.float32([0, 10, 30]), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A 64x48 MJPG clip panning 2 px per frame, and painted keyframes of frames 1 and 12 (frame 1 twice as big)."""
    d = tmp_path_factory.mktemp("keyframes")
    clip = synthetic_clip(n_frames=N_FRAMES, h=48, w=64, shift=(2.0, 0.0), patch_shift=None, seed=5)
    writer = cv2.VideoWriter(str(d / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for frame in clip.frames:
        writer.write(frame)
    writer.release()
    cv2.imwrite(str(d / "k1.png"), cv2.resize(paint(clip.frames[0]), (128, 96), interpolation=cv2.INTER_CUBIC))
    cv2.imwrite(str(d / "k12.png"), paint(clip.frames[-1]))
    cv2.imwrite(str(d / "tall.png"), np.zeros((96, 48, 3), np.uint8))
    (d / "keys").mkdir()
    cv2.imwrite(str(d / "keys" / "frame_0001.png"), paint(clip.frames[0]))
    cv2.imwrite(str(d / "keys" / "frame_0012.png"), paint(clip.frames[-1]))
    (d / "cuts.csv").write_text("frame\n6\n")
    return d


def test_two_keyframes_make_the_film_with_its_run_record(folder, capsys):
    out = folder / "out" / "film.mp4"
    argv = ["video", str(folder / "clip.avi"), "--keyframe", f"1={folder / 'k1.png'}", "--keyframe",
            f"12={folder / 'k12.png'}", "-o", str(out), "--width", "64", "--side-by-side", "--shots", "none",
            "--quiet"]
    assert main(argv) == 0
    assert "film.mp4\t12 frames from 2 keyframe(s)" in capsys.readouterr().out
    result = read_result(out.with_suffix(".work") / "run.json")
    assert result.method == "keyframes" and result.n_frames == N_FRAMES and (result.size.height,
                                                                              result.size.width) == (48, 64)
    assert Path(result.side_by_side).is_file() and len(result.shots) == 1
    assert [k["frame"] for k in result.model["keyframes"]] == [1, 12]
    frames = read_frames(out)
    assert len(frames) == N_FRAMES
    painted_12 = cv2.imread(str(folder / "k12.png")).astype(np.float32)
    assert np.abs(frames[-1].astype(np.float32) - painted_12).mean() < 6.0  # the keyframe itself, through H.264
    originals = read_frames(folder / "clip.avi")
    # every frame looks like the painting (inverted tones), not the photo
    for made, original in zip(frames, originals, strict=True):
        assert np.corrcoef(made.astype(np.float32).ravel(), original.astype(np.float32).ravel())[0, 1] < -0.5


def test_a_finished_run_is_not_redone_and_the_folder_form_works(folder):
    config = KeyframeVideoConfig(video=folder / "clip.avi", keyframes=(Keyframe(1, folder / "keys" / "frame_0001.png"),
                                 Keyframe(12, folder / "keys" / "frame_0012.png")), output=folder / "dir.mp4",
                                 progress=False)
    first = stylize_video_keyframes(config)
    assert not first.resumed and first.shots[0].result["frames_computed"] == N_FRAMES
    assert stylize_video_keyframes(config).resumed
    out = folder / "dir2.mp4"
    assert main(["video", str(folder / "clip.avi"), "--keyframes", str(folder / "keys"), "-o", str(out),
                 "--width", "64", "--shots", "none", "--quiet"]) == 0
    assert len(read_frames(out)) == N_FRAMES


@pytest.mark.parametrize("extra, needle, problem", [
    (["--keyframe", "k1.png"], "--keyframe 'k1.png'", "expected N=FILE"),
    (["--keyframe", "1={d}/k1.png", "--keyframe", "13={d}/k12.png"], "k12.png", "outside the 12 frames"),
    (["--keyframe", "1={d}/k1.png", "--keyframe", "1={d}/k12.png"], "k12.png", "already has a keyframe"),
    (["--keyframe", "1={d}/tall.png"], "tall.png", "another shape"),
    (["--keyframe", "1={d}/missing.png"], "missing.png", "no such"),
    (["--keyframes", "{d}/nokeys"], "nokeys", "no such folder"),
    (["--keyframe", "1={d}/k12.png"], "k12.png", "looks like frame 12"),
    (["--keyframe", "1={d}/k1.png", "--shots", "{d}/cuts.csv"], "frames 7..12", "no keyframe"),
    (["--keyframe", "1={d}/k1.png", "--smoothing", "2"], "--smoothing 2", "choose 0 to 1"),
    (["{d}/k1.png", "--keyframe", "1={d}/k1.png"], "k1.png", "drop STYLE"),
    (["--keyframe", "1={d}/k1.png", "--output-width", "128"], "--output-width 128", "made at --width"),
])
def test_bad_keyframe_input_is_one_line(folder, tmp_path, capsys, extra, needle, problem):
    if extra[0].startswith("{d}"):  # a STYLE after the clip
        argv = ["video", str(folder / "clip.avi"), extra[0].format(d=folder), *(a.format(d=folder) for a in extra[1:])]
    else:
        argv = ["video", str(folder / "clip.avi"), *(a.format(d=folder) for a in extra)]
    code = main([*argv, "-o", str(tmp_path / "out.mp4"), "--width", "64", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.count("\n") == 0 and err.startswith("paintvid: ") and "Traceback" not in err
    assert needle in err and problem in err, err
