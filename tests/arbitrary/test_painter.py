"""The any-painting painter (Magenta's networks on onnxruntime): sizes, the output contract, the stroke scale, the
video styliser's schedule and strength, and a CLI run of the default ``--method arbitrary``."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from foundation.errors import UserError
from media.encode import encode_frames
from media.video_io import probe, read_frames
from paintvid.cli import main
from tests.conftest import stripes_image, textured_image
from tests.synthetic import synthetic_clip
from transfer.arbitrary.magenta import load_magenta, paint_frame, paint_size
from video.painter_stylizer import PainterOptions, painter_stylizer


def _swirls(size: int = 256) -> np.ndarray:
    """A painting-like image: coloured swirls with brush-sized bands, (size, size, 3) uint8 BGR."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    angle = np.arctan2(y - 0.5, x - 0.5)
    radius = np.hypot(x - 0.5, y - 0.5)
    bands = np.sin(40 * radius + 6 * angle)
    image = np.stack([128 + 120 * bands, 90 + 60 * np.cos(9 * x), 200 - 150 * (bands > 0)], axis=-1)
    return np.clip(image, 0, 255).astype(np.uint8)


def _spectral_centroid(image: np.ndarray) -> float:
    """Return the mean radial frequency (cycles per pixel) of ``image``'s grey-level power spectrum, DC removed."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    power = np.abs(np.fft.fftshift(np.fft.fft2(grey - grey.mean()))) ** 2
    h, w = grey.shape
    fy, fx = np.meshgrid(np.fft.fftshift(np.fft.fftfreq(h)), np.fft.fftshift(np.fft.fftfreq(w)), indexing="ij")
    radius = np.hypot(fx, fy)
    return float((power * radius).sum() / power.sum())


def _gain(painter, photo: np.ndarray, out: np.ndarray, target: np.ndarray) -> float:
    """Return the style gain of ``out``: 0 = as close (style vectors' cosine) to ``target`` as the photo, 1 = equal."""
    def cos(a, b):
        return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
    base = cos(painter.style_vector(photo), target)
    return (cos(painter.style_vector(out), target) - base) / (1.0 - base)


def test_paint_size_keeps_aspect_and_scales_with_the_stroke():
    assert paint_size(640, 360, 1.0) == (384, 216)
    assert paint_size(640, 360, 2.0) == (192, 108)
    assert paint_size(192, 96, 1.0) == (384, 192)  # a small frame is painted upscaled: same marks
    w, h = paint_size(321, 97, 1.0)
    assert w % 4 == 0 and h % 4 == 0 and abs(w / h - 321 / 97) < 0.1
    with pytest.raises(UserError, match="stroke scale"):
        paint_size(640, 360, 0.0)


def test_painter_paints_at_the_frames_size_with_the_paintings_colours():
    painter = load_magenta()
    photo = textured_image(96, 128)
    vector = painter.style_vector(_swirls())
    assert vector.shape == (100,) and vector.dtype == np.float32
    out = paint_frame(painter, photo, vector, 1.0)
    assert out.shape == photo.shape and out.dtype == np.uint8
    # painted, not copied: far from the photo, and most of the way to the painting in the style network's eyes
    assert np.abs(out.astype(float) - photo).mean() > 10
    assert _gain(painter, photo, out, vector) > 0.3
    # two different paintings give different vectors; the same painting the same one
    other = painter.style_vector(stripes_image(128, 128))
    assert np.abs(vector - other).max() > 0.1
    np.testing.assert_allclose(painter.style_vector(_swirls()), vector, atol=1e-5)


def test_a_larger_stroke_scale_makes_larger_marks():
    """The output's power spectrum moves to lower frequencies when the marks are made twice as large."""
    painter = load_magenta()
    photo = cv2.resize(textured_image(64, 64), (256, 256), interpolation=cv2.INTER_CUBIC)
    vector = painter.style_vector(_swirls())
    fine, coarse = (_spectral_centroid(paint_frame(painter, photo, vector, s)) for s in (0.75, 2.0))
    assert coarse < 0.8 * fine


def test_schedule_and_strength_move_the_style():
    painter = load_magenta()
    frames = np.stack([textured_image(64, 64)] * 2)
    vectors = np.stack([painter.style_vector(_swirls()), painter.style_vector(stripes_image(128, 128))])
    run = painter_stylizer(painter, vectors, lambda k: (1.0, 0.0) if k == 0 else (0.0, 1.0))
    first, second = run(frames)
    assert run.next_index == 2 and np.abs(first.astype(float) - second).mean() > 5
    with pytest.raises(UserError, match="strength"):
        PainterOptions(strength=1.5)


def test_video_method_arbitrary_paints_with_the_painter_by_default(tmp_path, capsys):
    clip = synthetic_clip(n_frames=6, h=48, w=64, shift=(1.0, 0.5), patch_shift=None, seed=0)
    video = encode_frames(clip.frames, tmp_path / "clip.mp4", fps=6)
    painting = tmp_path / "swirls.png"
    cv2.imwrite(str(painting), _swirls())
    out = tmp_path / "out.mp4"
    assert main(["video", str(video), str(painting), "--method", "arbitrary", "-o", str(out), "--width", "64",
                 "--stroke-scale", "1.5", "--quiet"]) == 0
    assert "6 frames" in capsys.readouterr().out
    assert probe(out).frame_count == 6
    run = json.loads((tmp_path / "out.work" / "run.json").read_text())
    assert run["model"]["engine"] == "magenta-tensorflow" and run["config"]["stroke_scale"] == 1.5
    assert run["model"]["precision"] in ("float32", "bfloat16")
    painted = np.stack(read_frames(out)).astype(float)
    assert np.abs(painted - np.stack(clip.frames)).mean() > 10
