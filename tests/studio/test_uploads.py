"""Upload checks: bad clips and paintings are refused with one line and nothing is started or written."""

from __future__ import annotations

from pathlib import Path

import pytest

from foundation.errors import UserError
from media.video_io import ReadOptions, expected_frames
from studio.config import StudioConfig
from studio.jobs import JobManager
from studio.service import Choices, Studio
from studio.uploads import (
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    UploadLimits,
    check_clip,
    check_job_size,
    check_painting,
    store_upload,
)

LIMITS = UploadLimits()


def test_a_good_clip_and_painting_pass(media):
    info = check_clip(media["clip"], LIMITS)
    assert (info.frame_count, info.width, info.height) == (6, 64, 48)
    assert check_painting(media["painting"], LIMITS).shape == (64, 64, 3)


@pytest.mark.parametrize(("key", "check", "needle"), [
    ("text", check_clip, "clip (notes.mp4): not a video"),
    ("painting", check_clip, "clip (painting.png): is a still image, not a video"),
    ("empty", check_clip, "clip: file is empty"),
    ("text", check_painting, "painting (notes.mp4): not an image"),
    ("clip", check_painting, "painting (tiny clip.mp4): not an image"),
    ("empty", check_painting, "painting: file is empty"),
])
def test_wrong_kind_of_file_is_refused_with_one_line(media, key, check, needle):
    with pytest.raises(UserError) as err:
        check(media[key], LIMITS)
    assert needle in str(err.value) and "\n" not in str(err.value)
    assert str(media[key].parent) not in str(err.value)  # the server's temporary path is not shown


def test_missing_and_absurd_uploads(media):
    with pytest.raises(UserError, match="clip: no file given"):
        check_clip(None, LIMITS)
    with pytest.raises(UserError, match="upload limit"):
        check_clip(media["clip"], UploadLimits(max_bytes=100))
    with pytest.raises(UserError, match="pixels wide"):
        check_clip(media["clip"], UploadLimits(max_source_width=32))
    with pytest.raises(UserError, match="larger than"):
        check_painting(media["painting"], UploadLimits(max_source_width=32))
    info = check_clip(media["clip"], LIMITS)
    with pytest.raises(UserError, match="6 frames selected, more than the 5"):
        check_job_size(info, expected_frames(info, ReadOptions()), 64, UploadLimits(max_frames=5))
    with pytest.raises(UserError, match="width 2048"):
        check_job_size(info, 3, 2048, LIMITS)
    with pytest.raises(UserError, match="select no frames"):
        check_job_size(info, 0, 64, LIMITS)


def test_upload_names_never_become_paths(media, tmp_path):
    evil = tmp_path / "up" / "..%2F..%2Fevil.sh"
    evil.parent.mkdir()
    evil.write_bytes(b"#!/bin/sh\n")
    dest = tmp_path / "job" / "input"
    assert store_upload(evil, dest, "clip", VIDEO_SUFFIXES) == dest / "clip.bin"
    assert store_upload(media["painting"], dest, "painting_0", IMAGE_SUFFIXES) == dest / "painting_0.png"
    assert sorted(p.name for p in dest.iterdir()) == ["clip.bin", "painting_0.png"]
    with pytest.raises(ValueError):
        store_upload(media["painting"], dest, "../x", IMAGE_SUFFIXES)


def test_studio_refuses_bad_input_before_creating_a_job(media, tmp_path):
    ran = []
    config = StudioConfig(out=tmp_path / "out", samples=tmp_path, models=tmp_path / "models",
                          limits=UploadLimits(max_frames=4))
    studio = Studio(config, JobManager(config.jobs_dir, lambda d, s: ran.append(d) or {}, start_worker=False))
    cases = [
        (media["text"], [str(media["painting"])], Choices(), "not a video"),
        (media["clip"], [str(media["text"])], Choices(), "painting (notes.mp4): not an image"),
        (media["clip"], [], Choices(), "painting: no file given"),
        (media["clip"], [str(media["painting"])], Choices(), "6 frames selected, more than the 4"),
        (media["clip"], [str(media["painting"])], Choices(frames=3, width=2048), "width 2048"),
        (media["clip"], [str(media["painting"])], Choices(frames=3, method="fast", model="x.keras"), "x.keras"),
        (media["clip"], [str(media["painting"])] * 2, Choices(frames=3, style_schedule="0:0,2:7"), "7"),
    ]
    for clip, paintings, choices, needle in cases:
        with pytest.raises(UserError) as err:
            studio.submit(str(clip), paintings, choices)
        assert needle in str(err.value)
    assert list(Path(config.jobs_dir).iterdir()) == [] and ran == []
    job = studio.submit(str(media["clip"]), [str(media["painting"])], Choices(frames=3, width=64))
    job_dir = studio.manager.job_dir(job)
    assert sorted(p.name for p in (job_dir / "input").iterdir()) == ["clip.mp4", "painting_0.png"]
    assert studio.view(job).markdown.endswith("queued: 0 jobs ahead of it (one job runs at a time on this machine)")
