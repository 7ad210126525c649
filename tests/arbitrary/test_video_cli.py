"""``paintvid video/image --method arbitrary``: any painting, streamed, blended or scheduled, with one-line errors."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from media.encode import encode_frames
from media.flow import FlowMethod
from media.video_io import probe, read_frames
from paintvid.cli import main
from tests.conftest import stripes_image
from tests.synthetic import synthetic_clip
from transfer.arbitrary.network import ArbitrarySpec, build_arbitrary, save_arbitrary
from transfer.features import Precision
from video.fast_runner import FastVideoConfig


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("arbitrary_cli")
    clip = synthetic_clip(n_frames=8, h=48, w=64, shift=(1.0, 0.5), patch_shift=None, seed=0)
    video = encode_frames(clip.frames, root / "clip.mp4", fps=8)
    net = build_arbitrary(ArbitrarySpec(channels=(16, 8, 8), style_size=64), precision=Precision.FLOAT32, seed=0)
    # untrained, the decoder is random; the colour and feature transforms still make the output the painting's
    model = save_arbitrary(net, root / "tiny.npz", {"recipe": "untrained"})
    blue, red = root / "blue.png", root / "red.png"
    cv2.imwrite(str(blue), stripes_image(64, 64))
    cv2.imwrite(str(red), stripes_image(64, 64)[..., ::-1])
    return root, video, model, blue, red


def test_video_arbitrary_streams_every_frame_and_records_it(setup, capsys):
    root, video, model, blue, _ = setup
    out = root / "out.mp4"
    assert main(["video", str(video), str(blue), "--method", "arbitrary", "--model", str(model), "-o", str(out),
                 "--width", "64", "--smoothing", "0.5", "--side-by-side", "--quiet"]) == 0
    assert "8 frames" in capsys.readouterr().out
    assert probe(out).frame_count == 8 and probe(root / "out_side_by_side.mp4").width == 128
    run = json.loads((root / "out.work" / "run.json").read_text())
    assert run["method"] == "arbitrary" and run["fps"] > 0 and run["model"]["paintings"] == [str(blue)]
    # the same command again is a finished run: nothing is redone
    assert main(["video", str(video), str(blue), "--method", "arbitrary", "--model", str(model), "-o", str(out),
                 "--width", "64", "--smoothing", "0.5", "--side-by-side", "--quiet"]) == 0
    assert json.loads((root / "out.work" / "run.json").read_text())["wall_seconds"] == run["wall_seconds"]


def test_arbitrary_smooths_lightly_by_default_and_fast_does_not(setup):
    """The defaults differ per method; what the user names wins; the run record keeps the resolved values."""
    root, video, model, blue, _ = setup
    arbitrary = FastVideoConfig(video=video, model=model, output=root / "a.mp4", paintings=(blue,))
    assert (arbitrary.smoothing, arbitrary.flow_method) == (0.9, FlowMethod.DIS)
    fast = FastVideoConfig(video=video, model=root / "style.keras", output=root / "f.mp4")
    assert (fast.smoothing, fast.flow_method) == (0.0, FlowMethod.DIS)
    named = FastVideoConfig(video=video, model=model, output=root / "n.mp4", paintings=(blue,), smoothing=0.0,
                            flow_method="deepflow")
    assert (named.smoothing, named.flow_method) == (0.0, FlowMethod.DEEPFLOW)
    out = root / "default.mp4"
    assert main(["video", str(video), str(blue), "--method", "arbitrary", "--model", str(model), "-o", str(out),
                 "--width", "64", "--quiet"]) == 0
    options = json.loads((root / "default.work" / "run.json").read_text())["config"]
    assert options["smoothing"] == 0.9 and options["flow_method"] == "dis"


def test_schedule_moves_from_one_painting_to_the_other(setup):
    """Frames follow the schedule: the first frame matches painting 0 alone, the last painting 1 alone (smoothing
    off: along flow it carries earlier frames' paintings forward, which is its job, not the schedule's)."""
    root, video, model, blue, red = setup
    runs = {}
    for name, styles, extra in (("blue", [blue], []), ("red", [red], []),
                                ("sched", [blue, red], ["--style-schedule", "0:0,7:1"])):
        out = root / f"{name}.mp4"
        assert main(["video", str(video), *map(str, styles), "--method", "arbitrary", "--model", str(model),
                     "-o", str(out), "--width", "64", "--smoothing", "0", "--quiet", *extra]) == 0
        runs[name] = np.stack(read_frames(out)).astype(np.float32)
    first, last = runs["sched"][0], runs["sched"][-1]
    assert np.abs(first - runs["blue"][0]).mean() < 0.3 * np.abs(first - runs["red"][0]).mean()
    assert np.abs(last - runs["red"][-1]).mean() < 0.3 * np.abs(last - runs["blue"][-1]).mean()


def test_image_arbitrary_with_strength_and_colours(setup, capsys):
    root, video, model, blue, _ = setup
    content = root / "photo.png"
    cv2.imwrite(str(content), read_frames(video)[0])
    outputs = {}
    for strength in ("0", "1"):
        out = root / f"s{strength}.png"
        assert main(["image", str(content), str(blue), "--method", "arbitrary", "--model", str(model),
                     "-o", str(out), "--width", "64", "--strength", strength, "--preserve-colors", "luminance"]) == 0
        outputs[strength] = cv2.imread(str(out))
        assert json.loads(out.with_suffix(".json").read_text())["method"] == "arbitrary"
    assert outputs["0"].shape == (48, 64, 3)
    assert not np.array_equal(outputs["0"], outputs["1"])


@pytest.mark.parametrize("case", ["no painting", "unreadable painting", "bad model", "bad strength"])
def test_bad_input_is_one_line(setup, capsys, case):
    root, video, model, blue, _ = setup
    broken = root / "broken.jpg"
    broken.write_text("not an image")
    args = {
        "no painting": [str(video)],
        "unreadable painting": [str(video), str(broken)],
        "bad model": [str(video), str(blue), "--model", str(blue)],
        "bad strength": [str(video), str(blue), "--strength", "1.5"],
    }[case]
    if "--model" not in args:
        args += ["--model", str(model)]
    assert main(["video", *args, "--method", "arbitrary", "-o", str(root / "bad.mp4"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    expected = {"no painting": "needs at least one PAINTING", "unreadable painting": "broken.jpg",
                "bad model": "blue.png: not an arbitrary-style weights file", "bad strength": "--strength 1.5"}[case]
    assert expected in err, err


def test_a_fresh_clone_paints_with_the_committed_weights(setup, capsys):
    """No training step: the committed default weights load, and a painting the network never saw is applied."""
    from transfer.arbitrary.weights_file import default_weights, read_header

    weights = default_weights()
    header = read_header(weights)
    assert header["meta"]["recipe"] == "default" and weights.stat().st_size < 20_000_000
    root, video, _, blue, _ = setup
    out = root / "committed.mp4"
    assert main(["video", str(video), str(blue), "--method", "arbitrary", "-o", str(out), "--width", "64",
                 "--quiet"]) == 0
    frames = np.stack(read_frames(out)).astype(np.float32)
    assert len(frames) == 8
    original = np.stack(read_frames(video)).astype(np.float32)
    assert np.abs(frames - original).mean() > 5.0  # it painted something
