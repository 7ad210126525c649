"""media.video_io: probing, frame selection (start/frames/seconds/fps/width) and bad files, on tiny generated clips."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import cv2
import numpy as np
import pytest

from foundation.errors import UserError
from media.video_io import (
    ReadOptions,
    expected_frames,
    ffmpeg_exe,
    iter_frames,
    output_fps,
    probe,
    read_frames,
    selected_span,
)
from tests.conftest import shared_data

N, FPS, W, H = 30, 10.0, 64, 48
STEP = 8  # grey level per frame index in the marker block


def numbered_frame(i: int, w: int = W, h: int = H) -> np.ndarray:
    """A smooth frame whose top-left 16x16 block has grey level STEP * i (survives MJPEG), rest a gradient."""
    frame = np.zeros((h, w, 3), np.uint8)
    frame[:] = np.linspace(40, 200, w, dtype=np.uint8)[None, :, None]
    frame[:16, :16] = STEP * i
    return frame


def frame_number(frame: np.ndarray) -> int:
    """Recover ``i`` from a (possibly resized) :func:`numbered_frame`."""
    s = frame.shape[1] * 16 // W // 2  # the centre part of the marker block at this size
    return round(float(frame[:s, :s].mean()) / STEP)


def write_mjpg(path, n: int = N, fps: float = FPS, size=(W, H)) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert writer.isOpened()
    for i in range(n):
        writer.write(numbered_frame(i, *size))
    writer.release()


def ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("clips")
    write_mjpg(d / "numbered.avi")
    # H.264 + AAC sine, 24 frames at 12 fps
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=96x64:rate=12:duration=2", "-f", "lavfi", "-i",
           "sine=frequency=440:duration=2", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
           str(d / "sine.mp4"))
    # every third frame of a 10 fps source kept with its timestamps: the AVI muxer fills the gaps with empty
    # "drop" packets that decode to nothing, like OpenCV's tree.avi
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=2", "-vf", "select='not(mod(n,3))'",
           "-fps_mode", "passthrough", "-c:v", "mjpeg", str(d / "dropped.avi"))
    (d / "text.mp4").write_text("this is not a video\n" * 20)
    (d / "empty.mp4").write_bytes(b"")
    writer = cv2.VideoWriter(str(d / "zero.avi"), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (W, H))
    writer.release()
    return d


def test_probe_mjpg(clips):
    info = probe(clips / "numbered.avi")
    assert (info.fps, info.frame_count, info.width, info.height) == (FPS, N, W, H)
    assert info.duration == pytest.approx(N / FPS)
    assert not info.has_audio and info.audio_codec is None


def test_probe_h264_with_audio(clips):
    info = probe(clips / "sine.mp4")
    assert (info.frame_count, info.width, info.height) == (24, 96, 64)
    assert info.fps == pytest.approx(12.0)
    assert info.has_audio and info.audio_codec == "aac"


def test_probe_counts_only_frames_that_decode(clips):
    # 20 packets, 7 of them pictures 0.3 s apart: the frames OpenCV yields, at the rate they really come
    info = probe(clips / "dropped.avi")
    assert info.frame_count == 7 == len(read_frames(clips / "dropped.avi"))
    assert info.fps == pytest.approx(10 / 3, rel=1e-3)
    assert info.duration == pytest.approx(2.1, abs=1e-6)


def test_all_frames_in_order(clips):
    it = iter_frames(clips / "numbered.avi")
    assert isinstance(it, Iterator) and not isinstance(it, list)
    got = list(it)
    assert [i for i, _ in got] == list(range(N))
    assert [frame_number(f) for _, f in got] == list(range(N))
    assert all(f.shape == (H, W, 3) and f.dtype == np.uint8 for _, f in got)


@pytest.mark.parametrize(
    "options, numbers",
    [
        (ReadOptions(start=1.0), list(range(10, N))),
        (ReadOptions(start=0.96), list(range(10, N))),  # rounded to the nearest frame
        (ReadOptions(frames=5), [0, 1, 2, 3, 4]),
        (ReadOptions(start=2.5, frames=100), [25, 26, 27, 28, 29]),
        (ReadOptions(seconds=1.5), list(range(15))),
        (ReadOptions(fps=5), list(range(0, N, 2))),
        (ReadOptions(fps=4), [0, 3, 5, 8, 10, 13, 15, 18, 20, 23, 25, 28]),  # round(k * 2.5), ties later
        (ReadOptions(fps=100), list(range(N))),  # never upsampled
        (ReadOptions(start=1.0, fps=2, seconds=2.0), [10, 15, 20, 25]),
        (ReadOptions(start=0.5, fps=5, frames=3), [5, 7, 9]),
    ],
)
def test_frame_selection(clips, options, numbers):
    path = clips / "numbered.avi"
    frames = read_frames(path, options)
    assert [frame_number(f) for f in frames] == numbers
    info = probe(path)
    assert expected_frames(info, options) == len(numbers)
    start, duration = selected_span(info, options)
    assert start == pytest.approx(numbers[0] / FPS)
    assert duration == pytest.approx(len(numbers) / output_fps(info, options))


def test_output_fps_and_span():
    from media.video_io import VideoInfo

    info = VideoInfo(fps=25.0, frame_count=100, width=64, height=48, duration=4.0, has_audio=True)
    assert output_fps(info, ReadOptions()) == 25.0
    assert output_fps(info, ReadOptions(fps=10)) == 10.0
    assert output_fps(info, ReadOptions(fps=60)) == 25.0
    assert selected_span(info, ReadOptions(start=1.0, seconds=2.0)) == pytest.approx((1.0, 2.0))
    assert selected_span(info, ReadOptions(start=3.0)) == pytest.approx((3.0, 1.0))  # clipped at the end


@pytest.mark.parametrize("width", [8, 40, 50, 63, 64, 100, 129])
def test_width_multiple_of_8_aspect_kept(clips, width):
    path = clips / "dropped.avi"  # 64 x 48 testsrc: real detail to resize
    frames = read_frames(path, ReadOptions(width=width, frames=2))
    h, w = frames[0].shape[:2]
    assert w % 8 == 0 and h % 8 == 0
    assert w == max(8, width // 8 * 8)
    assert abs(h - w * 48 / 64) <= 4  # the multiple of 8 nearest the height that keeps the aspect at width w
    # the picture is scaled, not cropped: it matches the source resized to the same size
    full = read_frames(path, ReadOptions(frames=1))[0]
    ref = cv2.resize(full, (w, h), interpolation=cv2.INTER_AREA)
    assert np.abs(frames[0].astype(int) - ref.astype(int)).mean() < 20


@pytest.mark.parametrize(
    "name, needle",
    [
        ("text.mp4", "text.mp4: not a video OpenCV can read"),
        ("empty.mp4", "empty.mp4: file is empty"),
        ("missing.mp4", "missing.mp4: no such file"),
        ("zero.avi", "zero.avi: contains no video frames"),
        (".", "is a directory"),
    ],
)
def test_bad_files_raise_user_error_naming_file(clips, name, needle):
    for call in (probe, lambda p: iter_frames(p), read_frames):
        with pytest.raises(UserError) as e:
            call(clips / name)
        message = str(e.value)
        assert needle in message and "\n" not in message


@pytest.mark.parametrize("name", ["text.mp4", "empty.mp4", "zero.avi"])
def test_bad_file_error_is_quiet(clips, capfd, name):
    with pytest.raises(UserError):
        probe(clips / name)
    assert capfd.readouterr().err == ""  # no libav / OpenCV warnings around the one-line message


def test_start_past_end(clips):
    with pytest.raises(UserError, match=r"numbered.avi: start 3 s is past the end"):
        iter_frames(clips / "numbered.avi", ReadOptions(start=3.0))


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"start": -1}, "start"),
        ({"start": float("nan")}, "start"),
        ({"frames": 0}, "frames"),
        ({"frames": 2.5}, "frames"),
        ({"seconds": 0}, "seconds"),
        ({"frames": 3, "seconds": 1.0}, "either frames or seconds"),
        ({"width": 4}, "width 4"),
        ({"width": 100_000}, "width 100000"),
        ({"fps": 0}, "fps"),
        ({"fps": float("inf")}, "fps"),
    ],
)
def test_read_options_validated(kwargs, needle):
    with pytest.raises(UserError, match=needle):
        ReadOptions(**kwargs)


@pytest.mark.shared_data
def test_real_clip_shared_data():
    path = shared_data("video", "imageio+test_images", "realshort.mp4")
    info = probe(path)
    assert (info.width, info.height, info.frame_count, info.has_audio) == (320, 240, 36, True)
    options = ReadOptions(start=0.2, fps=10, width=160)
    frames = read_frames(path, options)
    assert len(frames) == expected_frames(info, options) == 10
    assert frames[0].shape == (120, 160, 3)
