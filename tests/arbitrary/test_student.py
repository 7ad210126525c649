"""The distilled any-painting student: its output contract, that training on the teacher's paintings brings it
closer to them, that the temporal term makes it steadier, saving and loading, the distillation run (targets cached,
resumed), and one-line errors for bad input."""

from __future__ import annotations

import json
from dataclasses import replace

import cv2
import numpy as np
import pytest
import tensorflow as tf

from foundation.errors import UserError
from media.encode import encode_frames
from media.video_io import probe, read_frames
from paintvid.cli import main
from tests.conftest import stripes_image, textured_image
from tests.synthetic import synthetic_clip
from transfer.arbitrary.distill import (
    DistillConfig,
    distill,
    heldout_l1,
    make_batch,
    make_train_step,
    texture_loss,
)
from transfer.arbitrary.distill_data import TargetOptions, TargetSet, random_crop, sample_vectors
from transfer.arbitrary.magenta import load_magenta
from transfer.arbitrary.student import StudentSpec, build_student, load_student, paint_batch, save_student
from transfer.arbitrary.student_file import read_student_header
from transfer.backbone import load_backbone
from transfer.fast.motion import MotionOptions, synthetic_pair
from transfer.fast.warp_tf import warp
from transfer.features import FeatureExtractor
from video.painter_stylizer import PainterOptions
from video.student_stylizer import student_stylizer

SIZE = 32


def _teacher_set(n: int, seed: int) -> TargetSet:
    """``n`` textured SIZE x SIZE crops painted by the teacher with two stripe 'paintings' (their vectors)."""
    painter = load_magenta()
    bank = np.stack([painter.style_vector(stripes_image(64, 64)),
                     painter.style_vector(cv2.applyColorMap(stripes_image(64, 64)[..., 0], cv2.COLORMAP_JET))])
    rng = np.random.default_rng(seed)
    content = np.stack([random_crop(textured_image(48, 64, seed=seed * 100 + i), SIZE, rng) for i in range(n)])
    vector = bank[np.arange(n) % 2].astype(np.float32)
    target = np.stack([painter.paint(c[None], v)[0] for c, v in zip(content, vector, strict=True)])
    return TargetSet(content, vector, target)


def _config(tmp_path, **fields) -> DistillConfig:
    base = DistillConfig.quick(paintings=(tmp_path,), content=(tmp_path,), output=tmp_path / "s.npz")
    return replace(base, **{"crop": SIZE, "targets": replace(base.targets, size=SIZE), "batch_size": 4, **fields})


def _train(samples: TargetSet, config: DistillConfig, steps: int):
    net = build_student(StudentSpec.tiny(), seed=0)
    optimizer = tf.keras.optimizers.Adam(3e-3)
    step = make_train_step(net, optimizer, config.temporal_weight)
    rng = np.random.default_rng(0)
    for _ in range(steps):
        step(*(tf.constant(a) for a in make_batch(samples, config, rng)))
    return net


def test_student_output_contract_and_identity_at_start():
    net = build_student(StudentSpec.tiny(), seed=1)
    frames = np.random.default_rng(0).integers(0, 256, (2, 13, 21, 3)).astype(np.uint8)
    vector = np.random.default_rng(1).normal(size=(2, 100)).astype(np.float32)
    out = net(tf.constant(frames.astype(np.float32)), tf.constant(vector)).numpy()
    assert out.shape == (2, 13, 21, 3) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 255.0
    # the last convolution starts at zero: the untrained student returns its input (the full-resolution skip)
    assert np.abs(out - frames).max() < 1.0
    # once it draws, the painting depends on the style vector
    net.conv_out.kernel.assign(np.random.default_rng(2).normal(0, 0.3, net.conv_out.kernel.shape))
    a = paint_batch(net, frames, vector[0])
    b = paint_batch(net, frames, vector[1])
    assert a.shape == frames.shape and a.dtype == np.uint8
    assert np.abs(a.astype(int) - b).mean() > 0.5


def test_a_few_steps_bring_the_student_closer_to_the_teacher(tmp_path):
    samples = _teacher_set(8, seed=0)
    config = _config(tmp_path, temporal_weight=0.0)
    before = heldout_l1(build_student(StudentSpec.tiny(), seed=0), samples)
    after = heldout_l1(_train(samples, config, 30), samples)
    assert after < 0.85 * before


def _warping_error(net, samples: TargetSet) -> float:
    """Mean |student(moved crop) - student(crop) carried along the exact flow| where the flow is certain."""
    rng = np.random.default_rng(7)
    errors = []
    for content, vector in zip(samples.content, samples.vector, strict=True):
        prev, cur, flow, cert = (a[None] for a in synthetic_pair(content, rng, MotionOptions()))
        out = net(tf.constant(np.concatenate([prev, cur])), tf.constant(np.stack([vector, vector]))).numpy()
        warped, inside = warp(tf.constant(out[:1]), tf.constant(flow))
        weight = cert * inside.numpy()
        errors.append(float((weight * np.abs(out[1:] - warped.numpy())).sum() / (3 * weight.sum())))
    return float(np.mean(errors))


def test_the_temporal_term_lowers_the_warping_error(tmp_path):
    samples = _teacher_set(8, seed=1)
    plain = _train(samples, _config(tmp_path, temporal_weight=0.0), 30)
    steady = _train(samples, _config(tmp_path, temporal_weight=4.0), 30)
    assert _warping_error(steady, samples) < 0.8 * _warping_error(plain, samples)


def test_save_and_load_roundtrip(tmp_path):
    net = build_student(StudentSpec.tiny(), seed=3)
    net.conv_out.kernel.assign(np.random.default_rng(2).normal(0, 0.3, net.conv_out.kernel.shape))
    path = save_student(net, tmp_path / "s.npz", {"step": 5})
    header = read_student_header(path)
    assert header["meta"] == {"step": 5} and header["spec"]["channels"] == [8, 8, 16]
    frames = textured_image(24, 40)[None]
    vector = np.linspace(-1, 1, 100, dtype=np.float32)
    loaded = load_student(path)
    assert np.array_equal(paint_batch(loaded, frames, vector), paint_batch(net, frames, vector))
    assert load_student(path, "bfloat16").compute_dtype == "bfloat16"


def test_bad_inputs_fail_with_one_line(tmp_path):
    net = build_student(StudentSpec.tiny(), seed=0)
    with pytest.raises(ValueError, match="H, W >= 8"):
        paint_batch(net, np.zeros((1, 4, 40, 3), np.uint8), np.zeros(100, np.float32))
    with pytest.raises(ValueError, match="style vector"):
        paint_batch(net, np.zeros((1, 16, 16, 3), np.uint8), np.zeros(10, np.float32))
    (tmp_path / "x.npz").write_text("not an archive")
    with pytest.raises(UserError, match="x.npz: not a student weights file"):
        load_student(tmp_path / "x.npz")
    np.savez(tmp_path / "y.npz", header=np.frombuffer(b'{"format": "paintvid-arbitrary-1"}', np.uint8))
    with pytest.raises(UserError, match="no paintvid-student-1 header"):
        load_student(tmp_path / "y.npz")
    with pytest.raises(UserError, match="must be saved as a .npz"):
        _config(tmp_path, output=tmp_path / "s.keras")
    with pytest.raises(UserError, match="crop 12"):
        _config(tmp_path, crop=12)


def test_sample_vectors_mix_only_the_bank():
    bank = np.eye(100, dtype=np.float32)[:3]
    out = sample_vectors(bank, 50, 0.5, np.random.default_rng(0))
    assert out.shape == (50, 100)
    assert np.allclose(out.sum(axis=1), 1.0) and np.all(out[:, 3:] == 0)
    assert 0 < np.sum(out.max(axis=1) < 0.999) < 50  # some mixed, some pure


def test_distill_caches_targets_resumes_and_exports(tmp_path, capsys):
    (tmp_path / "paint").mkdir()
    for i in range(4):
        cv2.imwrite(str(tmp_path / "paint" / f"p{i}.png"), cv2.applyColorMap(stripes_image(48, 48)[..., i % 3], i * 2))
    (tmp_path / "photo").mkdir()
    cv2.imwrite(str(tmp_path / "photo" / "a.png"), textured_image(48, 64))
    config = replace(DistillConfig.quick(paintings=(tmp_path / "paint",), content=(tmp_path / "photo",),
                                         output=tmp_path / "out" / "s.npz", progress=False),
                     crop=SIZE, steps=2, eval_every=1, batch_size=2,
                     targets=TargetOptions(size=SIZE, train_samples=4, heldout_samples=2, shard_size=2))
    first = distill(config)
    assert first.steps == 2 and first.samples == {"train": 4, "heldout": 2} and np.isfinite(first.heldout_l1)
    assert sorted(p.name for p in (tmp_path / "out" / "s.train" / "targets").glob("*_0*.npz")) == [
        "heldout_0000.npz", "train_0000.npz", "train_0001.npz"]
    record = json.loads((tmp_path / "out" / "s.json").read_text())
    assert record["heldout_files"] and record["best_step"] in (1, 2)
    assert load_student(tmp_path / "out" / "s.npz").spec == StudentSpec.tiny()
    second = distill(replace(config, steps=3))
    assert second.resumed_from_step == 2 and second.steps == 3
    with pytest.raises(UserError, match="other options"):
        distill(replace(config, steps=4, temporal_weight=0.1))
    code = main(["distill-arbitrary", "--paintings", str(tmp_path / "nothing"), "--content", str(tmp_path),
                 "--out", str(tmp_path / "x.npz")])
    assert code == 2 and "nothing: no such file" in capsys.readouterr().err


def _drawing_student(tmp_path):
    net = build_student(StudentSpec.tiny(), seed=4)
    net.conv_out.kernel.assign(np.random.default_rng(2).normal(0, 0.5, net.conv_out.kernel.shape))
    net.film.kernel.assign(np.random.default_rng(3).normal(0, 0.5, net.film.kernel.shape))
    return net, save_student(net, tmp_path / "student_tiny.npz")


def test_student_stylizer_follows_the_schedule_and_keeps_the_size(tmp_path):
    net, _ = _drawing_student(tmp_path)
    vectors = np.random.default_rng(0).normal(size=(2, 100)).astype(np.float32)
    frames = np.stack([textured_image(36, 52, seed=1)] * 3)
    run = student_stylizer(net, vectors, lambda k: (1.0, 0.0) if k < 2 else (0.0, 1.0), PainterOptions(stroke_scale=2))
    out = run(frames)
    assert out.shape == frames.shape and out.dtype == np.uint8 and run.next_index == 3
    assert np.array_equal(out[0], out[1]) and np.abs(out[2].astype(int) - out[0]).mean() > 0.5


def test_video_method_arbitrary_paints_with_a_student_model(tmp_path, capsys):
    _, model = _drawing_student(tmp_path)
    clip = synthetic_clip(n_frames=4, h=48, w=64, shift=(1.0, 0.5), patch_shift=None, seed=0)
    video = encode_frames(clip.frames, tmp_path / "clip.mp4", fps=6)
    painting = tmp_path / "p.png"
    cv2.imwrite(str(painting), stripes_image(64, 64))
    out = tmp_path / "out.mp4"
    assert main(["video", str(video), str(painting), "--method", "arbitrary", "--model", str(model), "-o", str(out),
                 "--width", "64", "--quiet"]) == 0
    assert probe(out).frame_count == 4
    run = json.loads((tmp_path / "out.work" / "run.json").read_text())
    assert run["model"]["engine"] == "student" and run["model"]["spec"]["channels"] == [8, 8, 16]
    painted = np.stack(read_frames(out)).astype(float)
    assert np.abs(painted - np.stack(clip.frames)).mean() > 5


def test_texture_term_compares_marks_not_places_and_trains(tmp_path):
    extractor = FeatureExtractor(load_backbone(), ("block1_conv1", "block2_conv1"))
    stripes = tf.constant(stripes_image(32, 32)[None].astype(np.float32))
    shifted = tf.roll(stripes, 3, axis=2)  # the same marks elsewhere
    flat = tf.fill(stripes.shape, 128.0)
    assert float(texture_loss(extractor, stripes, stripes)) < 1e-6
    assert float(texture_loss(extractor, shifted, stripes)) < 0.2 * float(texture_loss(extractor, flat, stripes))
    samples = _teacher_set(4, seed=2)
    net = build_student(StudentSpec.tiny(), seed=0)
    step = make_train_step(net, tf.keras.optimizers.Adam(1e-3), 0.5, 0.1, ("block1_conv1",))
    parts = step(*(tf.constant(a) for a in make_batch(samples, _config(tmp_path), np.random.default_rng(0))))
    assert float(parts["texture"]) > 0 and np.isfinite(float(parts["l1"]))
