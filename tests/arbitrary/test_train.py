"""Training the arbitrary-style decoder on tiny inputs: the loss falls, held-out paintings are evaluated apart,
checkpoints resume, the temporal term makes the output steadier, and the CLI trains and exports."""

from __future__ import annotations

import json
from dataclasses import replace

import cv2
import numpy as np
import pytest
import tensorflow as tf

from foundation.errors import UserError
from media.metrics import warping_error
from paintvid.cli import main
from tests.conftest import stripes_image, textured_image
from transfer.arbitrary.network import build_arbitrary, design_spec, load_arbitrary
from transfer.arbitrary.paintings import find_paintings, split_paintings
from transfer.arbitrary.train import (
    ArbitraryConfig,
    ArbitraryLossWeights,
    LossNets,
    build_bank,
    evaluate_bank,
    train_arbitrary,
)
from transfer.backbone import load_backbone
from transfer.fast.data import PairOptions
from transfer.fast.motion import MotionOptions, synthetic_pair
from transfer.features import FeatureExtractor, Precision

TINY = design_spec("wct", channels=(16, 8, 8), style_size=48)
#: What each design's decoder is trained to lower: the wct one reconstructs, the adain one paints.
TRAINED_ON = {"wct": "reconstruction", "adain": "style"}


@pytest.fixture
def data(tmp_path):
    paintings = tmp_path / "paintings"
    paintings.mkdir()
    for i in range(10):
        image = stripes_image(48, 48, period=4 + i, angle_deg=17 * i)
        cv2.imwrite(str(paintings / f"painting_{i}.png"), np.roll(image, i * 20, axis=2) if i % 2 else image)
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(4):
        cv2.imwrite(str(photos / f"p{i}.png"), textured_image(40, 48, seed=10 + i))
    return paintings, photos


def config(tmp_path, paintings, photos, **kw) -> ArbitraryConfig:
    base = dict(paintings=(paintings,), content=(photos,), output=tmp_path / "out" / "w.npz", network=TINY,
                pairs=PairOptions(size=32, video_pairs=0), batch_size=2, steps=30, learning_rate=3e-3,
                log_every=1, checkpoint_every=10, preview_every=10, eval_every=10, eval_paintings=2,
                precision=Precision.FLOAT32, progress=False,
                # shallow VGG layers keep the test fast; the wiring is the same for the default deep ones
                style_layers=("block1_conv1", "block2_conv1"))
    return ArbitraryConfig(**{**base, **kw})


@pytest.mark.parametrize("transform", ["wct", "adain"])
def test_training_lowers_the_loss_evaluates_heldout_and_exports(tmp_path, data, transform):
    spec = design_spec(transform, channels=(16, 8, 8), style_size=48)
    cfg = config(tmp_path, *data, steps=60, learning_rate=1e-3, network=spec)
    part = TRAINED_ON[transform]
    before = _fixed_loss(build_arbitrary(spec, cfg.weights, cfg.precision, seed=cfg.seed), cfg, data, part)
    result = train_arbitrary(cfg)
    assert len(result.history) == 60
    after = _fixed_loss(load_arbitrary(cfg.output, Precision.FLOAT32), cfg, data, part)
    # per-step losses are noisy (a random painting per pair); on fixed frames and paintings the fall is clear
    assert after < 0.9 * before, (before, after)
    split = split_paintings(find_paintings([data[0]]))
    assert result.paintings.train == len(split.train) and result.paintings.heldout == len(split.heldout) > 0
    assert result.heldout_files == [str(p) for p in split.heldout]
    assert [row["step"] for row in result.evaluation] == [10, 20, 30, 40, 50, 60]
    assert {"heldout_style", "train_style", "heldout_content"} <= result.evaluation[-1].keys()
    out = tmp_path / "out"
    assert json.loads((out / "w.json").read_text())["steps"] == 60
    net = load_arbitrary(out / "w.npz", Precision.FLOAT32)
    assert net.spec == spec and net.meta["recipe"] == "default"
    preview = cv2.imread(str(out / "w.train" / "previews" / "step_000060.png"))
    assert preview.shape[1] == 4 * 32 and preview.shape[0] >= 2 * 32


def _fixed_loss(net, cfg: ArbitraryConfig, data, part: str) -> float:
    """The mean ``part`` loss of ``net`` over every (training painting, content photo) pair."""
    paintings, photos = data
    backbone = load_backbone(cfg.weights)
    nets = LossNets(FeatureExtractor(backbone, cfg.style_layers, Precision.FLOAT32),
                    {name: 1.0 for name in cfg.style_layers})
    bank = build_bank(net, FeatureExtractor(backbone, cfg.style_layers, Precision.FLOAT32),
                      split_paintings(find_paintings([paintings])).train, cfg.style_layers, False, "test")
    frames = np.stack([cv2.resize(cv2.imread(str(p)), (32, 32)) for p in sorted(photos.iterdir())]).astype(np.float32)
    losses = evaluate_bank(net, nets, bank, frames)
    return losses[part]


def test_resume_continues_and_refuses_other_options(tmp_path, data):
    first = train_arbitrary(config(tmp_path, *data, steps=10))
    assert first.resumed_from_step == 0
    # the checkpoint holds every decoder variable: restored into a fresh network it equals the exported weights
    fresh = build_arbitrary(TINY, precision=Precision.FLOAT32, seed=123)
    ckpt = tf.train.Checkpoint(decoder=fresh.decoder, gain=fresh.detail_gain)
    ckpt.restore(tf.train.latest_checkpoint(tmp_path / "out" / "w.train" / "checkpoints")).expect_partial()
    exported = load_arbitrary(first.output, Precision.FLOAT32)
    for got, want in zip(fresh.decoder.get_weights(), exported.decoder.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    second = train_arbitrary(config(tmp_path, *data, steps=14))
    assert second.resumed_from_step == 10
    assert [h["step"] for h in second.history] == list(range(1, 15))
    with pytest.raises(UserError, match=r"w\.train: its checkpoints were trained with other options \(loss\)"):
        train_arbitrary(config(tmp_path, *data, steps=16, loss=ArbitraryLossWeights(temporal=0.0)))


def _warping_error_of(net, photos, rng) -> float:
    """Mean warping error (exact flow) of the network's outputs on fresh synthetic pairs."""
    errors = []
    code = net.style_code(stripes_image(48, 48, period=5))
    for path in sorted(photos.iterdir()):
        image = cv2.resize(cv2.imread(str(path)), (32, 32))
        prev, cur, flow, cert = synthetic_pair(image, rng, MotionOptions(max_shift=3.0))
        out = net.stylize(tf.constant(np.stack([prev, cur])), code).numpy()
        frames = np.clip(np.rint(out), 0, 255).astype(np.uint8)
        errors.append(float(warping_error(list(frames), [flow], [cert[..., 0] > 0.5])[0]))
    return float(np.mean(errors))


def test_temporal_term_lowers_the_warping_error(tmp_path, data):
    """The same tiny recipe with and without the temporal term: the temporal one is clearly steadier."""
    runs = {}
    for name, weight in (("with", 200.0), ("without", 0.0)):
        # the whole-picture decoder (no residual on the colour-matched frame, which starts out steady): a tiny
        # one decodes each frame on its own, so there is flicker for the temporal term to remove
        loss = replace(ArbitraryLossWeights.for_transform("wct"), temporal=weight)
        cfg = config(tmp_path / name, *data, steps=40, eval_paintings=0, loss=loss,
                     network=replace(TINY, residual=False, color_transfer=False))
        train_arbitrary(cfg)
        runs[name] = _warping_error_of(load_arbitrary(cfg.output, Precision.FLOAT32), data[1],
                                       np.random.default_rng(5))
    assert runs["with"] < 0.8 * runs["without"], runs


def test_cli_train_arbitrary_fast(tmp_path, data, capsys):
    paintings, photos = data
    out = tmp_path / "cli.npz"
    code = main(["train-arbitrary", "--paintings", str(paintings), "--content", str(photos), "--out", str(out),
                 "--fast", "--steps", "4", "--precision", "float32", "--quiet"])
    assert code == 0 and out.is_file()
    assert "held-out style" in capsys.readouterr().out
    assert load_arbitrary(out).meta["recipe"] == "quick"
    assert main(["train-arbitrary", "--paintings", str(tmp_path / "none"), "--content", str(photos),
                 "--out", str(out)]) == 2
    assert "none: no such file" in capsys.readouterr().err
