"""The painted start of a first frame (transfer.painted_start) and its use by the optimisation path."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.conftest import stripes_image
from tests.test_video_pipeline import make_config
from transfer.arbitrary.magenta import load_magenta, paint_frame
from transfer.features import deprocess, preprocess
from transfer.painted_start import painted_start, style_vector
from video.evaluate import load_workdir_frames


def _photo() -> np.ndarray:
    ys, xs = np.mgrid[0:48, 0:64].astype(np.float32)
    return np.stack([128 + 60 * np.sin(xs / 7), 100 + 50 * np.cos(ys / 5), 90 + 0.8 * xs], -1).astype(np.uint8)


def test_style_vector_blends_the_paintings_codes():
    a, b = stripes_image(64, 64), np.full((64, 64, 3), (30, 200, 90), np.uint8)
    painter = load_magenta()
    va, vb = painter.style_vector(a), painter.style_vector(b)
    np.testing.assert_allclose(style_vector([a, b], [1.0, 0.0]), va, atol=1e-6)
    np.testing.assert_allclose(style_vector([a, b], [1.0, 3.0]), 0.25 * va + 0.75 * vb, atol=1e-5)
    with pytest.raises(ValueError):
        style_vector([a], [0.5, 0.5])


def test_mix_runs_from_the_photo_to_the_painters_frame():
    photo, vector = _photo(), style_vector([stripes_image(64, 64)], [1.0])
    painted = paint_frame(load_magenta(), photo, vector, 1.0)
    assert np.abs(painted.astype(float) - photo).mean() > 10  # the painter really repaints it
    start = painted_start(photo, vector)
    assert start.shape == (1, 48, 64, 3) and start.dtype == np.float32
    np.testing.assert_array_equal(deprocess(start), painted)
    np.testing.assert_array_equal(painted_start(photo, vector, mix=0.0), preprocess(photo))
    half = deprocess(painted_start(photo, vector, mix=0.5)).astype(float)
    assert np.abs(half - (painted.astype(float) + photo) / 2).max() <= 1
    with pytest.raises(ValueError, match="mix"):
        painted_start(photo, vector, mix=1.5)


def test_video_first_frame_starts_from_the_painters_frame(tmp_path):
    from video.pipeline import stylize_video

    video, style = tmp_path / "clip.avi", tmp_path / "style.png"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    for _ in range(2):
        writer.write(_photo())
    writer.release()
    cv2.imwrite(str(style), stripes_image(64, 64))
    # no iterations on the first frame: what it stores is its start
    report = stylize_video(make_config(video, style, tmp_path / "out.mp4", first_init="painted", first_iterations=0,
                                       coarse_iterations=0, iterations=1))
    inputs, outputs = load_workdir_frames(tmp_path / "out.work")
    expected = paint_frame(load_magenta(), inputs[0], style_vector([cv2.imread(str(style))], [1.0]), 1.0)
    assert np.abs(outputs[0].astype(int) - expected).max() <= 1
    assert report.frames["1:000001"]["init"] == "painted"


def test_cli_first_init_choices_are_the_init_modes():
    from paintvid.commands.video import FIRST_INITS
    from transfer.stylize import InitMode

    assert set(FIRST_INITS) == {m.value for m in InitMode}
