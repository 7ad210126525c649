"""The studio without a page: fast-mode models found under models/, previewed and run as a job; the host warning."""

from __future__ import annotations

import json

import cv2
import pytest

from foundation.errors import UserError
from media.video_io import probe
from paintvid.cli import build_parser
from studio.app import host_warning
from studio.config import StudioConfig
from studio.runner import find_fast_models
from studio.service import Choices, Studio
from transfer.fast.network import NetworkSpec, build_network, save_network

TINY = NetworkSpec(channels=(4, 8, 8), residual_blocks=1, separable=True, internal_scale=2, edge_kernel=3)


@pytest.fixture
def studio_with_model(tmp_path):
    models = tmp_path / "models"
    model = save_network(build_network(TINY, seed=0), models / "tiny_fast.keras")
    model.with_suffix(".json").write_text(json.dumps({"options": {"style": "painting.png"}}))
    save_network(build_network(TINY, seed=1), models / "no_report.keras")  # not from train-style: not offered
    (models / "classifier.keras").write_bytes(b"not a style network")
    (models / "classifier.json").write_text(json.dumps({"accuracy": 0.9}))
    studio = Studio(StudioConfig(out=tmp_path / "out", samples=tmp_path / "samples", models=models))
    yield studio
    studio.manager.stop(timeout=60)


def test_fast_mode_model_is_found_previewed_and_run_as_a_job(studio_with_model, media):
    studio = studio_with_model
    assert [p.name for p in find_fast_models(studio.config.models)] == ["tiny_fast.keras"]
    fast = Choices(method="fast", model="tiny_fast.keras", width=64, frames=4)
    image = cv2.imread(studio.preview(str(media["clip"]), [], fast, frame=1, width=32))
    assert image.shape == (24, 32, 3)

    job = studio.submit(str(media["clip"]), [], fast)
    record = studio.manager.wait(job, timeout=120)
    assert record["status"] == "done", record["error"]
    assert record["spec"]["model"] == str((studio.config.models / "tiny_fast.keras").resolve())
    view = studio.view(job)
    info = probe(view.video)
    assert (info.frame_count, info.width) == (4, 64) and probe(view.side_by_side).width == 128
    assert "Fast mode: 4 frames" in view.evaluation

    with pytest.raises(UserError, match="no_report.keras"):
        studio.submit(str(media["clip"]), [], Choices(method="fast", model="no_report.keras", frames=2))


def test_host_warning_and_cli_defaults():
    args = build_parser().parse_args(["app"])
    assert (args.host, args.port) == ("127.0.0.1", 7860)
    assert host_warning(StudioConfig(host=args.host, port=args.port)) is None
    assert host_warning(StudioConfig(host="localhost")) is None
    warning = host_warning(StudioConfig(host="0.0.0.0", port=7860))
    assert "0.0.0.0" in warning and "no login" in warning
    assert host_warning(StudioConfig(host="192.168.1.20")) is not None
    with pytest.raises(UserError, match="--port"):
        StudioConfig(port=70000)
