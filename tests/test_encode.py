"""media.encode: MP4 round trip, odd sizes, the source's audio (copied or AAC), no half-written output."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest

from foundation.errors import UserError
from media.encode import VideoWriter, encode_frames, side_by_side
from media.video_io import ffmpeg_exe, probe
from tests.conftest import REPO


def ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def streams(path) -> tuple[str | None, float]:
    """Return (audio codec or None, container duration in seconds) as ``ffmpeg -i`` reports them."""
    err = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    audio = re.search(r"Stream #\S+: Audio: (\w+)", err)
    h, m, s = re.search(r"Duration: (\d+):(\d+):([\d.]+)", err).groups()
    return (audio.group(1) if audio else None), int(h) * 3600 + int(m) * 60 + float(s)


def moving_frames(n: int, w: int = 64, h: int = 48) -> list[np.ndarray]:
    """Smooth frames (gradients and a moving square) that H.264 at CRF 18 reproduces closely."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    frames = []
    for i in range(n):
        f = np.stack([40 + 150 * xx / w, 60 + 120 * yy / h, np.full_like(xx, 30.0 + 10 * i)], axis=-1)
        x = 4 + 3 * i
        f[10:26, x:x + 16] = (220, 40, 200)
        frames.append(f.astype(np.uint8))
    return frames


def decode(path) -> tuple[list[np.ndarray], float]:
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    cap.release()
    return frames, fps


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    d = tmp_path_factory.mktemp("sources")
    video = ["-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=3"]
    sine = ["-f", "lavfi", "-i", "sine=frequency=440:duration=3"]
    ffmpeg(*video, *sine, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(d / "aac.mp4"))
    ffmpeg(*video, *sine, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "libmp3lame", str(d / "mp3.mp4"))
    ffmpeg(*video, *sine, "-c:v", "mjpeg", "-c:a", "pcm_s16le", str(d / "pcm.avi"))
    ffmpeg(*video, "-c:v", "mjpeg", str(d / "silent.avi"))
    return d


def test_round_trip_count_size_fps_pixels(tmp_path):
    frames = moving_frames(12)
    out = encode_frames(frames, tmp_path / "out.mp4", fps=8)
    assert out == tmp_path / "out.mp4"
    decoded, fps = decode(out)
    assert len(decoded) == 12 and fps == pytest.approx(8.0)
    assert all(f.shape == (48, 64, 3) for f in decoded)
    errors = [np.abs(a.astype(int) - b.astype(int)).mean() for a, b in zip(frames, decoded, strict=True)]
    assert max(errors) < 4.0  # yuv420p chroma subsampling and CRF 18 on smooth content
    info = probe(out)
    assert not info.has_audio and info.frame_count == 12
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]  # no temporary left behind


def test_fractional_fps_kept(tmp_path):
    out = encode_frames(moving_frames(6), tmp_path / "ntsc.mp4", fps=30000 / 1001)
    assert probe(out).fps == pytest.approx(29.97, abs=1e-3)


def test_odd_size_padded_to_even(tmp_path):
    frame = moving_frames(1, w=33, h=25)[0]
    with VideoWriter(tmp_path / "odd.mp4", 5, size=(33, 25)) as writer:
        assert writer.output_size == (34, 26)
        for _ in range(3):
            writer.write(frame)
    decoded, _ = decode(tmp_path / "odd.mp4")
    assert len(decoded) == 3 and decoded[0].shape == (26, 34, 3)
    assert np.abs(decoded[0][:25, :33].astype(int) - frame.astype(int)).mean() < 6
    # the extra column repeats the last one (no black line)
    assert np.abs(decoded[0][:25, 33].astype(int) - frame[:, 32].astype(int)).mean() < 12


@pytest.mark.parametrize("source, codec", [("aac.mp4", "aac"), ("mp3.mp4", "mp3"), ("pcm.avi", "aac")])
def test_audio_segment_muxed(sources, tmp_path, source, codec):
    out = encode_frames(moving_frames(10), tmp_path / "out.mp4", fps=10, audio_from=sources / source,
                        audio_start=1.0, audio_duration=1.0)
    audio, duration = streams(out)
    assert audio == codec  # mp3 is copied, PCM (which MP4 does not hold) becomes AAC
    assert duration == pytest.approx(1.0, abs=0.1)
    assert len(decode(out)[0]) == 10


def test_audio_segment_is_the_requested_one(sources, tmp_path):
    # sine whose pitch rises with time: the segment from 2 s must have the pitch of 2 s, not of 0 s
    src = tmp_path / "chirp.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=3", "-f", "lavfi", "-i",
           "aevalsrc='sin(2*PI*(200+300*floor(t))*t)':s=16000:d=3", "-c:v", "libx264", "-pix_fmt", "yuv420p",
           "-c:a", "pcm_s16le", "-f", "mov", str(src))
    out = encode_frames(moving_frames(5), tmp_path / "out.mp4", fps=10, audio_from=src, audio_start=2.0,
                        audio_duration=0.5)
    pcm = subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", str(out), "-vn", "-f", "s16le", "-ac", "1",
                          "-ar", "16000", "-"], capture_output=True, check=True).stdout
    samples = np.frombuffer(pcm, np.int16).astype(np.float32)
    assert 0.4 * 16000 < len(samples) < 0.6 * 16000
    spectrum = np.abs(np.fft.rfft(samples[1000:7000]))
    peak_hz = np.argmax(spectrum) * 16000 / 6000
    assert peak_hz == pytest.approx(800, abs=30)  # 200 + 300 * 2


def test_no_audio_source_gives_no_audio_stream(sources, tmp_path):
    out = encode_frames(moving_frames(5), tmp_path / "out.mp4", fps=10, audio_from=sources / "silent.avi",
                        audio_start=0.5, audio_duration=0.5)
    assert streams(out)[0] is None


def test_missing_audio_source_is_user_error(tmp_path):
    with pytest.raises(UserError, match="nope.mp4: no such file"):
        VideoWriter(tmp_path / "out.mp4", 10, (64, 48), audio_from=tmp_path / "nope.mp4")


def test_exception_leaves_no_output_and_keeps_old_file(tmp_path):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"previous run")
    with pytest.raises(RuntimeError, match="boom"), VideoWriter(out, 10, (64, 48)) as writer:
        for i, frame in enumerate(moving_frames(6)):
            writer.write(frame)
            if i == 3:
                raise RuntimeError("boom")
    assert out.read_bytes() == b"previous run"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


def test_wrong_frame_rejected_and_nothing_written(tmp_path):
    out = tmp_path / "out.mp4"
    with pytest.raises(ValueError, match=r"\(48, 64, 3\) uint8"), VideoWriter(out, 10, (64, 48)) as writer:
        writer.write(moving_frames(1)[0])
        writer.write(np.zeros((48, 64), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_no_frames(tmp_path):
    with pytest.raises(ValueError, match="no frames"):
        encode_frames([], tmp_path / "out.mp4", fps=10)
    with pytest.raises(ValueError, match="no frames"), VideoWriter(tmp_path / "out.mp4", 10, (64, 48)):
        pass
    assert list(tmp_path.iterdir()) == []


def test_killed_writer_process_leaves_no_output(tmp_path):
    out = tmp_path / "out.mp4"
    script = textwrap.dedent(f"""
        import sys, numpy as np
        from media.encode import VideoWriter
        with VideoWriter({str(out)!r}, 10, (64, 48)) as w:
            for i in range(100000):
                w.write(np.full((48, 64, 3), i % 256, np.uint8))
                if i == 5:
                    print("ready", flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not out.exists()
    # the killed run's temporary is removed by the next writer of the same output
    encode_frames(moving_frames(2), out, fps=10)
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


def test_side_by_side():
    original = moving_frames(1, w=128, h=96)[0]
    stylized = np.full((48, 64, 3), 7, np.uint8)
    both = side_by_side(original, stylized)
    assert both.shape == (48, 128, 3) and both.dtype == np.uint8
    assert np.array_equal(both[:, 64:], stylized)
    assert np.abs(both[:, :64].astype(int) - cv2.resize(original, (64, 48), interpolation=cv2.INTER_AREA)).max() <= 1
    with pytest.raises(ValueError, match="original"):
        side_by_side(np.zeros((48, 64), np.uint8), stylized)
