"""The studio's any-painting method: specs without a painting refused, a job and a preview with a tiny network."""

from __future__ import annotations

import json
import shutil

import cv2
import pytest

from foundation.errors import UserError
from studio.config import StudioConfig
from studio.jobs import JobManager, JobSpec
from studio.runner import preview, run_job
from studio.service import Choices, Studio
from tests.studio.conftest import finished_job
from transfer.arbitrary.network import ArbitrarySpec, build_arbitrary, save_arbitrary
from transfer.features import Precision


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """Return an untrained arbitrary-style weights file (a tiny decoder) in a ``models/`` folder."""
    net = build_arbitrary(ArbitrarySpec(channels=(16, 8, 8), style_size=64), precision=Precision.FLOAT32, seed=0)
    return save_arbitrary(net, tmp_path_factory.mktemp("arbitrary_models") / "tiny.npz", {"recipe": "untrained"})


def test_arbitrary_spec_needs_a_painting_and_npz_weights():
    with pytest.raises(UserError, match="painting") as refused:
        JobSpec(clip="input/clip.mp4", method="arbitrary")
    assert "\n" not in str(refused.value)
    with pytest.raises(UserError, match=r"\.npz"):
        JobSpec(clip="input/clip.mp4", paintings=("p.png",), method="arbitrary", model="/models/x.keras")
    with pytest.raises(UserError, match="strength"):
        JobSpec(clip="input/clip.mp4", paintings=("p.png",), method="arbitrary", strength=1.5)
    with pytest.raises(UserError, match="optimize, fast, arbitrary or keyframes"):
        JobSpec(clip="input/clip.mp4", paintings=("p.png",), method="magic")
    s = JobSpec(clip="input/clip.mp4", paintings=("p.png",), method="arbitrary", strength=0.5)
    assert JobSpec.from_json(json.loads(json.dumps(s.__dict__))) == s
    assert JobSpec.from_json({"clip": "input/clip.mp4", "paintings": ["p.png"]}).strength == 1.0  # an older job.json


def test_run_job_arbitrary_writes_every_frame_without_evaluation(weights, media, tmp_path):
    job = tmp_path / "job"
    (job / "input").mkdir(parents=True)
    shutil.copyfile(media["clip"], job / "input" / "clip.mp4")
    shutil.copyfile(media["painting"], job / "input" / "painting_0.png")
    cv2.imwrite(str(job / "input" / "painting_1.png"), cv2.imread(str(media["painting"]))[..., ::-1])
    spec = JobSpec(clip="input/clip.mp4", paintings=("input/painting_0.png", "input/painting_1.png"),
                   method="arbitrary", model=str(weights), width=64, frames=4, style_schedule="0:0,3:1",
                   preserve_colors="luminance", strength=0.5, evaluate=False)
    run = finished_job(job, run_job(job, spec), frames=4)
    assert run["method"] == "arbitrary" and len(run["model"]["paintings"]) == 2
    assert run["config"]["style_schedule"] == "0:0,3:1" and run["config"]["strength"] == 0.5


def test_preview_arbitrary_writes_an_image(weights, media, tmp_path):
    out = preview(media["clip"], [media["painting"]], tmp_path, frame=2, width=32, method="arbitrary", model=weights,
                  preserve_colors="histogram")
    assert out == tmp_path / "preview.png" and cv2.imread(str(out)).shape == (24, 32, 3)


def test_studio_arbitrary_weights_by_name_and_job_spec(weights, media, tmp_path, monkeypatch):
    config = StudioConfig(out=tmp_path / "out", samples=tmp_path / "samples", models=weights.parent)
    studio = Studio(config, JobManager(config.jobs_dir, run_job, start_worker=False))
    arbitrary = Choices(method="arbitrary", model="tiny.npz", width=64, frames=2, strength=0.25)
    with pytest.raises(UserError, match="painting"):
        studio.submit(str(media["clip"]), [], arbitrary)
    for bad in ("../tiny.npz", "missing.npz", "tiny.keras"):
        with pytest.raises(UserError, match=bad.replace(".", r"\.")):
            studio.submit(str(media["clip"]), [str(media["painting"])], Choices(method="arbitrary", model=bad))
    assert studio.manager.list_jobs() == []

    record = studio.manager.get(studio.submit(str(media["clip"]), [str(media["painting"])], arbitrary))
    spec = record["spec"]
    assert (spec["method"], spec["model"], spec["strength"], spec["evaluate"]) == (
        "arbitrary", str(weights.resolve()), 0.25, False)

    image = cv2.imread(studio.preview(str(media["clip"]), [str(media["painting"])], arbitrary, frame=1, width=32))
    assert image.shape == (24, 32, 3)

    # no model: the painter, which needs no weights file; the brush size travels with the job
    painter = Choices(method="arbitrary", width=64, frames=2, stroke_scale=2.0)
    spec = studio.manager.get(studio.submit(str(media["clip"]), [str(media["painting"])], painter))["spec"]
    assert (spec["model"], spec["stroke_scale"]) == (None, 2.0)
    with pytest.raises(UserError, match="stroke scale"):
        studio.submit(str(media["clip"]), [str(media["painting"])], Choices(method="arbitrary", stroke_scale=9))
