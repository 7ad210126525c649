"""The studio's keyframes method: painted frames uploaded by name, checked, stored by frame number, run as a job."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from foundation.errors import UserError
from media.video_io import ReadOptions, iter_frames
from studio.config import StudioConfig
from studio.jobs import JobManager, JobSpec, keyframe_frame
from studio.runner import run_job
from studio.service import Choices, Studio
from studio.uploads import UploadLimits, check_clip, check_keyframes
from tests.studio.conftest import finished_job

KEYFRAMES = ("input/keyframe_0001.png", "input/keyframe_0006.png")


def recolour(frame: np.ndarray) -> np.ndarray:
    """Return a painted version of a (H, W, 3) uint8 frame: channels swapped and lifted (same shapes, new colours)."""
    return np.clip(frame[..., ::-1].astype(np.int16) // 2 + 100, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def painted(media, tmp_path_factory) -> dict[str, Path]:
    """Return keyframes made from frames 1 and 6 of the tiny clip, recoloured, under upload-like names."""
    frames = [f for _, f in iter_frames(media["clip"], ReadOptions())]
    root = tmp_path_factory.mktemp("painted")
    files = {"first": root / "painted 0001.png", "last": root / "frame_6.png", "nameless": root / "painted.png",
             "beyond": root / "0009.png", "not_image": root / "0002.png", "other_shape": root / "0003.png",
             "again_first": root / "take2_1.png"}
    for key, index in (("first", 0), ("last", 5), ("nameless", 2), ("beyond", 5), ("again_first", 0)):
        cv2.imwrite(str(files[key]), recolour(frames[index]))
    files["not_image"].write_text("not a picture\n")
    cv2.imwrite(str(files["other_shape"]), recolour(frames[2])[:, :24])
    return files


def test_keyframes_spec_validates_and_round_trips():
    s = JobSpec(clip="input/clip.mp4", method="keyframes", keyframes=KEYFRAMES, width=64, evaluate=False)
    assert JobSpec.from_json(json.loads(json.dumps(s.__dict__))) == s
    assert [keyframe_frame(k) for k in s.keyframes] == [1, 6]
    assert JobSpec.from_json({"clip": "input/clip.mp4", "paintings": ["p.png"]}).keyframes == ()  # an older job.json
    for kwargs, needle in (({}, "at least one painted keyframe"),
                           ({"keyframes": KEYFRAMES, "paintings": ("p.png",)}, "give no painting"),
                           ({"keyframes": ("input/../evil_0001.png",)}, "input/keyframe_N.png"),
                           ({"keyframes": ("input/keyframe_0000.png",)}, "from 1")):
        with pytest.raises(UserError, match=needle) as refused:
            JobSpec(clip="input/clip.mp4", method="keyframes", **kwargs)
        assert "\n" not in str(refused.value)


def test_run_job_keyframes_writes_the_film_from_the_painted_frames(media, painted, tmp_path):
    job = tmp_path / "job"
    (job / "input").mkdir(parents=True)
    shutil.copyfile(media["clip"], job / "input" / "clip.mp4")
    shutil.copyfile(painted["first"], job / KEYFRAMES[0])
    shutil.copyfile(painted["last"], job / KEYFRAMES[1])
    spec = JobSpec(clip="input/clip.mp4", method="keyframes", keyframes=KEYFRAMES, width=64, evaluate=False)
    with pytest.raises(UserError, match="film width 128") as refused:
        run_job(job, JobSpec(**{**spec.__dict__, "output_width": 128}))
    assert "\n" not in str(refused.value)

    outputs = run_job(job, spec)
    run = finished_job(job, outputs, frames=6)
    assert run["method"] == "keyframes" and [k["frame"] for k in run["model"]["keyframes"]] == [1, 6]
    film = [f.astype(np.float32) for _, f in iter_frames(job / outputs["video"], ReadOptions())]
    source = [f.astype(np.float32) for _, f in iter_frames(media["clip"], ReadOptions())]
    key = cv2.imread(str(painted["first"])).astype(np.float32)
    # the film's first frame is the painted keyframe (H.264 loss aside), far from the unpainted frame
    assert np.abs(film[0] - key).mean() < 8 < np.abs(film[0] - source[0]).mean()
    # a frame between keyframes takes the painted colours too
    assert np.abs(film[3] - recolour(source[3].astype(np.uint8))).mean() < np.abs(film[3] - source[3]).mean() / 3


def test_studio_stores_keyframes_by_frame_number_and_refuses_bad_ones(media, painted, tmp_path):
    config = StudioConfig(out=tmp_path / "out", samples=tmp_path, models=tmp_path / "models")
    ran = []
    studio = Studio(config, JobManager(config.jobs_dir, lambda d, s: ran.append(d) or {}, start_worker=False))
    clip, good = str(media["clip"]), [str(painted["first"]), str(painted["last"])]
    choices = Choices(method="keyframes", width=64)
    cases = [([], choices, "keyframes: no file given"),
             ([*good, str(painted["nameless"])], choices, "keyframe (painted.png): the name must hold the frame"),
             ([*good, str(painted["beyond"])], choices, "keyframe (0009.png): frame 9 is outside the 6 frames"),
             (good, Choices(method="keyframes", width=64, frames=3), "(frame_6.png): frame 6 is outside the 3"),
             ([*good, str(painted["not_image"])], choices, "keyframe (0002.png): not an image"),
             ([*good, str(painted["other_shape"])], choices, "keyframe (0003.png): 24x48 is another shape"),
             ([*good, str(painted["again_first"])], choices, "frame 1 already has a keyframe (painted 0001.png)"),
             (good, Choices(method="keyframes", width=64, output_width=128), "film width 128")]
    for keyframes, chosen, needle in cases:
        with pytest.raises(UserError) as refused:
            studio.submit(clip, [str(media["painting"])], chosen, keyframes)
        assert needle in str(refused.value) and "\n" not in str(refused.value)
        assert str(tmp_path / "painted") not in str(refused.value)  # the upload's server path is never shown
    assert not Path(config.jobs_dir).exists() or list(Path(config.jobs_dir).iterdir()) == []
    with pytest.raises(UserError, match="preview: not offered for painted keyframes"):
        studio.preview(clip, [], choices)

    # a painting sent along (the page keeps its box filled) is not copied; the names are the studio's
    job_id = studio.submit(clip, [str(media["painting"])], choices, list(reversed(good)))
    job_dir = studio.manager.job_dir(job_id)
    assert sorted(p.name for p in (job_dir / "input").iterdir()) == ["clip.mp4", "keyframe_0001.png",
                                                                    "keyframe_0006.png"]
    spec = studio.manager.get(job_id)["spec"]
    assert (spec["method"], spec["keyframes"], spec["paintings"], spec["evaluate"]) == (
        "keyframes", list(KEYFRAMES), [], False)
    assert ran == []


def test_check_keyframes_returns_frames_in_order(media, painted):
    info = check_clip(media["clip"], UploadLimits())
    found = check_keyframes([painted["last"], painted["first"]], info, 6, UploadLimits())
    assert list(found) == [1, 6] and found[6] == painted["last"]
