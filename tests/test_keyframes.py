"""Keyframe propagation on tiny synthetic clips with exact, integer motion (``media.propagation``,
``video.keyframe_propagation``, ``video.keyframes``)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from foundation.errors import UserError
from media.flow import estimate_flow
from media.propagation import (
    Look,
    apply_colour_model,
    blend_weight,
    colour_model,
    combine,
    compose,
    detail_energy,
    detail_weights,
    identity_carry,
    mix_details,
    step_certainty,
)
from media.warp import warp
from tests.synthetic import synthetic_clip
from video.keyframe_propagation import PropagationSettings, render_shot, render_shot_parts, segments
from video.keyframes import (
    Keyframe,
    check_content,
    check_numbers,
    keyframes_from_folder,
    match_scores,
    parse_keyframe_option,
)

SHIFT = (2.0, 1.0)  # pixels per frame, integer: warping by the exact flow is exact


def paint(frame: np.ndarray) -> np.ndarray:
    """A known 'painting': channels swapped and squeezed into a warm palette (a per-channel affine map)."""
    f = frame[..., ::-1].astype(np.float32)
    return np.clip(0.6 * f + np.float32([20, 50, 90]), 0, 255).astype(np.uint8)


def marks(frame: np.ndarray, seed: int) -> np.ndarray:
    """``paint`` plus fine brush texture of its own (independent for each seed, as two hand-painted frames)."""
    noise = np.random.default_rng(seed).normal(0, 1, frame.shape[:2]).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), 0.7)
    noise *= 25.0 / noise.std()
    return np.clip(paint(frame).astype(np.float32) + noise[..., None], 0, 255).astype(np.uint8)


class Source:
    """Frames of a clip and their consecutive flows, estimated with DIS as the runner does (or exact)."""

    def __init__(self, clip, exact: bool = False):
        self.clip, self.exact, self._cache = clip, exact, {}

    def frame(self, i: int) -> np.ndarray:
        return self.clip.frames[i - 1]

    def exact_flow(self, i: int, j: int) -> np.ndarray:
        return self.clip.flows_back[i - 2] if j == i - 1 else self.clip.flows_forward[i - 1]

    def step(self, i: int, j: int):
        if (i, j) not in self._cache:
            if self.exact:
                f, r = self.exact_flow(i, j), self.exact_flow(j, i)
            else:
                f = estimate_flow(self.frame(i), self.frame(j), "dis")
                r = estimate_flow(self.frame(j), self.frame(i), "dis")
            self._cache[(i, j)] = (f, step_certainty(f, r))
        return self._cache[(i, j)]


@pytest.fixture(scope="module")
def clip():
    return synthetic_clip(n_frames=9, h=64, w=96, shift=SHIFT, patch_shift=None, seed=3)


def test_composed_flow_of_a_pan_is_the_sum_of_its_steps(clip):
    src = Source(clip, exact=True)
    carry = identity_carry(64, 96)
    for i in range(2, 6):
        carry = compose(carry, *src.step(i, i - 1))
    sure = carry.certainty > 0.99
    assert sure.mean() > 0.5  # the part of frame 5 that was in frame 1
    np.testing.assert_allclose(carry.flow[sure], np.broadcast_to([-8.0, -4.0], carry.flow[sure].shape), atol=1e-4)
    assert (carry.certainty[:, :8] == 0).all()  # entered from the left since frame 1: no keyframe pixel there


def test_frames_next_to_a_keyframe_match_it_warped_by_the_exact_flow(clip):
    src = Source(clip)  # estimated flow, judged against the exact one
    keys = {1: paint(clip.frames[0]), 9: paint(clip.frames[8])}
    out = dict(render_shot(src, range(1, 10), keys))
    for t, k in ((2, 1), (8, 9)):
        exact = src.exact_flow(t, k)
        target, inside = warp(keys[k], exact)
        sure = inside & (src.step(t, k)[1] > 0.9)
        assert sure.mean() > 0.7
        assert np.abs(out[t].astype(np.float32) - target)[sure].mean() <= 4.0
    assert np.array_equal(out[1], keys[1]) and np.array_equal(out[9], keys[9])


def test_the_midpoint_keeps_the_brush_texture_of_independently_painted_keyframes(clip):
    src = Source(clip, exact=True)
    keys = {1: marks(clip.frames[0], seed=1), 9: marks(clip.frames[8], seed=2)}
    kept = dict(render_shot(src, range(1, 10), keys))
    linear = dict(render_shot(src, range(1, 10), keys, PropagationSettings(detail=False)))
    reference = np.mean([detail_energy(k) for k in keys.values()])
    core = (slice(8, -8), slice(16, -16))  # both keyframes saw the middle of frame 5
    assert detail_energy(kept[5][core]) >= 0.8 * reference
    # the plain average of two uncorrelated textures loses about half their energy: the smear this avoids
    assert detail_energy(linear[5][core]) < 0.7 * reference


def test_a_flat_mark_on_a_keyframe_follows_the_motion_within_a_pixel(clip):
    src = Source(clip)
    painted = paint(clip.frames[0])
    painted[20:30, 30:40] = (255, 0, 255)  # a flat magenta mark
    out = dict(render_shot(src, range(1, 7), {1: painted}))
    for t in range(2, 7):
        mask = (out[t][..., 0] > 200) & (out[t][..., 1] < 60) & (out[t][..., 2] > 200)
        ys, xs = np.nonzero(mask)
        assert 60 <= mask.sum() <= 140
        assert abs(xs.mean() - (34.5 + (t - 1) * SHIFT[0])) <= 1.0
        assert abs(ys.mean() - (24.5 + (t - 1) * SHIFT[1])) <= 1.0


def test_what_no_keyframe_saw_is_painted_in_its_colours(clip):
    src = Source(clip, exact=True)
    out = dict(render_shot(src, range(1, 6), {1: paint(clip.frames[0])}, PropagationSettings(fill_smoothing=0)))
    # the strip that entered on the left since frame 1 was never painted; the colour model paints it
    new = (slice(4, -4), slice(0, 6))
    assert np.abs(out[5][new].astype(np.float32) - paint(clip.frames[4])[new]).mean() < 12.0
    assert np.abs(out[5][new].astype(np.float32) - clip.frames[4][new]).mean() > 30.0  # not the photo


def test_a_fill_painter_paints_only_what_no_keyframe_saw(clip):
    calls = []

    def flat_green(frame, styles, colours):
        calls.append(dict(styles))
        assert colours.shape == frame.shape and colours.dtype == np.float32
        return np.broadcast_to(np.float32([0, 255, 0]), frame.shape)

    src = Source(clip, exact=True)
    keys = {1: paint(clip.frames[0]), 9: paint(clip.frames[8])}
    parts = {i: (out, unseen) for i, out, unseen in render_shot_parts(src, range(1, 10), keys,
                                                                        PropagationSettings(fill_smoothing=0),
                                                                        flat_green)}
    out, unseen = parts[5]
    assert (unseen > 0.99).any() and (unseen < 0.01).mean() > 0.5
    green = (out[..., 1] > 250) & (out[..., 0] < 5) & (out[..., 2] < 5)
    assert green[unseen > 0.99].all() and not green[unseen < 0.01].any()
    assert not (parts[1][1].any() or parts[9][1].any())  # keyframes: as painted, nothing unseen
    assert all(abs(sum(c.values()) - 1) < 1e-6 and set(c) == {1, 9} for c in calls)
    assert calls[0][1] > calls[-1][1]  # the blend by distance moves towards the later keyframe
    np.testing.assert_array_equal(out, dict(render_shot(src, range(1, 10), keys, PropagationSettings(
        fill_smoothing=0), flat_green))[5])


def test_colour_model_learns_the_painters_colour_map_with_swapped_channels(clip):
    model = colour_model(paint(clip.frames[0]), clip.frames[0])
    assert np.abs(apply_colour_model(model, clip.frames[0]) - paint(clip.frames[0])).mean() < 2.0
    applied = apply_colour_model(model, clip.frames[6])  # another frame, same palette, content moved 12 px
    assert np.abs(applied - paint(clip.frames[6])).mean() < 8.0
    assert np.abs(clip.frames[6].astype(np.float32) - paint(clip.frames[6])).mean() > 30.0


def test_blend_weight_and_detail_mix():
    assert blend_weight(1, 1, 9) == 0.0 and blend_weight(9, 1, 9) == 1.0 and blend_weight(5, 1, 9) == 0.5
    assert blend_weight(2, 1, 9) == 1 / 8 and blend_weight(0, 1, 9) == 0.0  # equal steps, clamped outside
    r = np.random.default_rng(0)
    a = (128 + 30 * r.normal(size=(64, 64, 3))).astype(np.float32)
    b = (128 + 30 * r.normal(size=(64, 64, 3))).astype(np.float32)
    half = np.full((64, 64), 0.5, np.float32)
    mixed = mix_details(a, b, half)
    assert 0.85 < mixed.std() / a.std() < 1.15  # contrast kept, where a plain average keeps ~0.71
    np.testing.assert_allclose(mix_details(a, a, half), a, atol=0.5)  # identical images: unchanged
    np.testing.assert_allclose(mix_details(a, b, np.ones((64, 64), np.float32)), a, atol=1e-3)


def test_the_hand_over_changes_the_texture_by_equal_steps_through_the_midpoint():
    r = np.random.default_rng(1)
    a = (128 + 30 * r.normal(size=(64, 64, 3))).astype(np.float32)
    b = (128 + 30 * r.normal(size=(64, 64, 3))).astype(np.float32)
    mixed = [mix_details(a, b, np.full((64, 64), 1.0 - blend_weight(t, 0, 8), np.float32)) for t in range(9)]
    steps = np.array([np.sqrt(np.mean(np.square(q - p))) for p, q in zip(mixed, mixed[1:], strict=False)])
    assert steps.max() / steps.mean() < 1.1  # no step stands out: the midpoint's is as large as the others
    ca, cb = detail_weights(np.float32([0.0, 0.5, 1.0]))
    np.testing.assert_allclose(ca**2 + cb**2, 1.0, atol=1e-6)
    np.testing.assert_allclose([ca[0], cb[0], ca[2], cb[2]], [1, 0, 0, 1], atol=1e-6)


def test_combine_takes_what_only_one_keyframe_saw_from_that_one():
    ones, zeros = np.ones((4, 4), np.float32), np.zeros((4, 4), np.float32)
    look_a = Look(np.full((4, 4, 3), 10, np.float32), np.full((4, 4, 3), 50, np.float32), zeros)
    look_b = Look(np.full((4, 4, 3), 200, np.float32), np.full((4, 4, 3), 90, np.float32), ones)
    out, fill_share = combine(look_a, look_b, 0.1)
    np.testing.assert_allclose(out, 200, atol=1e-3)  # keyframe a did not see it, though it is nearer
    assert (fill_share == 0).all()
    out, fill_share = combine(Look(look_a.image, look_a.fill, zeros), Look(look_b.image, look_b.fill, zeros), 0.25)
    np.testing.assert_allclose(out, 0.75 * 50 + 0.25 * 90, atol=1e-3)  # neither saw it: the fills, by distance
    assert (fill_share == 1).all()


def test_segments_cover_a_shot():
    assert segments(range(1, 11), [3, 7]) == [(None, 3), (3, 7), (7, None)]
    assert segments(range(1, 11), [1, 10]) == [(1, 10)]
    assert segments(range(5, 6), [5]) == []
    with pytest.raises(ValueError):
        segments(range(1, 5), [7])


def test_a_shot_of_one_keyframe_frame_is_that_keyframe(clip):
    out = list(render_shot(Source(clip, exact=True), range(3, 4), {3: paint(clip.frames[2])}))
    assert len(out) == 1 and out[0][0] == 3 and np.array_equal(out[0][1], paint(clip.frames[2]))


def test_a_keyframe_of_another_frame_is_detected(clip):
    frames = clip.frames
    good = Keyframe(1, "k1.png")
    assert check_content(good, match_scores(paint(frames[0]), frames)) > 0.8
    assert check_content(good, match_scores(255 - frames[0], frames)) > 0.8  # inverted tones are the same shapes
    wrong = Keyframe(1, "painted_0009.png")
    with pytest.raises(UserError, match=r"painted_0009\.png: keyframe for frame 1 looks like frame 9"):
        check_content(wrong, match_scores(paint(frames[8]), frames))
    unrelated = Keyframe(2, "noise.png")
    noise = np.random.default_rng(0).integers(0, 255, frames[0].shape, dtype=np.uint8)
    with pytest.raises(UserError, match=r"noise\.png: keyframe does not show frame 2"):
        check_content(unrelated, match_scores(noise, frames))


def test_keyframe_options_and_folders(tmp_path):
    assert parse_keyframe_option("12=a=b.png") == Keyframe(12, Path("a=b.png"))
    for bad in ("a.png", "x=a.png", "3=", "-1=a.png"):
        with pytest.raises(UserError, match="expected N=FILE"):
            parse_keyframe_option(bad)
    with pytest.raises(UserError, match="start at 1"):
        parse_keyframe_option("0=a.png")
    folder = tmp_path / "keys"
    folder.mkdir()
    for name in ("shot_0090.png", "0001.jpg", "notes.txt"):
        (folder / name).write_bytes(b"x")
    assert sorted(k.frame for k in keyframes_from_folder(folder)) == [1, 90]
    (folder / "cover.png").write_bytes(b"x")
    with pytest.raises(UserError, match=r"cover\.png: a keyframe's name must hold its frame number"):
        keyframes_from_folder(folder)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no image files named by frame number"):
        keyframes_from_folder(tmp_path / "empty")
    with pytest.raises(UserError, match="no such folder"):
        keyframes_from_folder(tmp_path / "missing")


def test_keyframe_numbers_are_checked():
    with pytest.raises(UserError, match=r"b\.png: frame 4 already has a keyframe \(a\.png\)"):
        check_numbers([Keyframe(4, "a.png"), Keyframe(4, "b.png")], 10)
    with pytest.raises(UserError, match=r"c\.png: keyframe for frame 11 is outside the 10 frames selected"):
        check_numbers([Keyframe(1, "a.png"), Keyframe(11, "c.png")], 10)
    assert [k.frame for k in check_numbers([Keyframe(9, "a"), Keyframe(2, "b")], 10)] == [2, 9]
