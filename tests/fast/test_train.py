"""Training: a handful of steps on tiny images lower the loss; checkpoints resume; the CLI trains and exports."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from foundation.errors import UserError
from paintvid.cli import main
from tests.conftest import stripes_image, textured_image
from transfer.fast.data import PairOptions, find_sources
from transfer.fast.losses import FastLossWeights
from transfer.fast.network import NetworkSpec, load_network
from transfer.fast.train import TrainConfig, train_style
from transfer.features import Precision

TINY = NetworkSpec(channels=(8, 16, 16), residual_blocks=1, separable=True, internal_scale=2, edge_kernel=3)


@pytest.fixture
def style_and_content(tmp_path):
    style = tmp_path / "style.png"
    cv2.imwrite(str(style), stripes_image(48, 48))
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"p{i}.png"), textured_image(40, 48, seed=10 + i))
    (folder / "notes.txt").write_text("ignored")
    return style, folder


def config(tmp_path, style, folder, **kw) -> TrainConfig:
    base = dict(style=style, output=tmp_path / "out" / "m.keras", content=(folder,), network=TINY,
                pairs=PairOptions(size=32, video_pairs=0), style_size=48, batch_size=1, steps=16,
                learning_rate=1e-2, log_every=1, checkpoint_every=8, preview_every=8, preview_frames=2,
                loss=FastLossWeights(temporal=0.1), precision=Precision.FLOAT32, progress=False,
                # shallow VGG layers keep the test fast; the wiring is the same for the default deep ones
                content_layer="block2_conv2", style_layers=("block1_conv1", "block2_conv1"),
                style_layer_weights=(1.0, 1.0))
    return TrainConfig(**{**base, **kw})


def test_a_few_steps_lower_the_loss_and_export(tmp_path, style_and_content):
    report = train_style(config(tmp_path, *style_and_content))
    totals = [h["total"] for h in report.history]
    assert all(h["temporal"] > 0 for h in report.history)
    assert len(totals) == 16
    assert np.mean(totals[-4:]) < 0.7 * np.mean(totals[:4]), totals
    out = tmp_path / "out"
    assert (out / "m.keras").is_file() and (out / "m.json").is_file()
    net = load_network(out / "m.keras")
    assert net.spec == TINY
    work = out / "m.train"
    assert (work / "previews" / "step_000008.png").is_file()
    assert cv2.imread(str(work / "previews" / "step_000016.png")).shape == (64, 64, 3)
    saved = json.loads((work / "checkpoints" / "ckpt-16.json").read_text())
    assert saved["step"] == 16 and len(saved["history"]) == 16 and saved["options"]["steps"] == 16
    assert any(p.name.startswith("events.out.tfevents") for p in (work / "logs").iterdir())


def test_resume_continues_from_checkpoint(tmp_path, style_and_content):
    first = train_style(config(tmp_path, *style_and_content, steps=8))
    assert first.resumed_from_step == 0
    second = train_style(config(tmp_path, *style_and_content, steps=10))
    assert second.resumed_from_step == 8
    assert [h["step"] for h in second.history] == list(range(1, 11))
    # other losses must not silently continue these checkpoints
    with pytest.raises(UserError, match=r"m\.train: its checkpoints were trained with other options \(loss\)"):
        train_style(config(tmp_path, *style_and_content, steps=12, loss=FastLossWeights(temporal=0.0)))


def test_find_sources_and_errors(tmp_path, style_and_content):
    _, folder = style_and_content
    sources = find_sources([folder])
    assert len(sources.images) == 3 and not sources.videos

    with pytest.raises(UserError, match="no such file"):
        find_sources([tmp_path / "nope"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="no images or videos"):
        find_sources([empty])
    with pytest.raises(UserError, match="multiple of 8"):
        config(tmp_path, *style_and_content, pairs=PairOptions(size=36))


def test_cli_train_style_fast(tmp_path, style_and_content, capsys):
    style, folder = style_and_content
    out = tmp_path / "cli.keras"
    code = main(["train-style", str(style), "--out", str(out), "--content", str(folder), "--fast", "--steps", "3",
                 "--size", "32", "--width-multiplier", "0.25", "--precision", "float32",
                 "--temporal-weight", "0", "--quiet"])
    assert code == 0 and out.is_file()
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["steps"] == 3 and report["history"][-1]["temporal"] == 0.0  # the ablation's switch
    assert load_network(out).spec.width == 0.25
    assert main(["train-style", str(tmp_path / "missing.png"), "--out", str(out), "--content", str(folder)]) == 2
    assert "missing.png: no such file" in capsys.readouterr().err


def test_video_pairs_have_flow_that_explains_the_motion(tmp_path):
    """Real pairs from a clip panned by a known shift: estimated flow ≈ -shift, certainty mostly high."""
    from media.encode import encode_frames
    from tests.synthetic import synthetic_clip
    from transfer.fast.data import video_pairs

    clip = synthetic_clip(n_frames=6, h=64, w=80, shift=(2.0, 1.0), patch_shift=None, seed=2)
    video = encode_frames(clip.frames, tmp_path / "pan.mp4", fps=10)
    pairs = video_pairs([video], count=3, size=48, flow_method="dis", seed=0)
    assert len(pairs) == 3
    for prev, cur, flow, cert in pairs:
        assert prev.shape == cur.shape == (48, 48, 3) and flow.shape == (48, 48, 2) and cert.shape == (48, 48, 1)
        inner = flow[8:-8, 8:-8]
        scale = 48 / 64  # crops are resized so that the short side is 48..72 px; flow scales with them
        assert np.median(inner[..., 0]) < -2.0 * scale * 0.7 and np.median(inner[..., 1]) < -1.0 * scale * 0.5
        assert cert.mean() > 0.5
