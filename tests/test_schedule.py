"""Style schedules: parsing, cross-fade weights, error messages, and Gram interpolation at the endpoints."""

from __future__ import annotations

import numpy as np
import pytest

from foundation.errors import UserError
from media.schedule import Schedule, parse_schedule


def test_parse_frames_and_the_issue_example():
    s = parse_schedule("0:0,4:0,8:1", n_styles=2)
    assert s == Schedule(keys=((0, 0), (4, 0), (8, 1)), n_styles=2)
    assert s.describe() == "style 0 over frames 0-4, style 0 -> 1 over frames 4-8, style 1 from frame 8 on"
    assert not s.is_constant()


def test_parse_ignores_spaces():
    assert parse_schedule(" 2 : 1 ,  10:0 ", n_styles=3).keys == ((2, 1), (10, 0))


def test_issue_example_holds_then_cross_fades():
    s = parse_schedule("0:0,4:0,8:1", n_styles=2)
    for i in range(5):
        assert s.weights_at(i) == (1.0, 0.0)
    assert s.weights_at(5) == pytest.approx((0.75, 0.25))
    assert s.weights_at(6) == pytest.approx((0.5, 0.5))
    assert s.weights_at(7) == pytest.approx((0.25, 0.75))
    for i in (8, 9, 1000):
        assert s.weights_at(i) == (0.0, 1.0)


def test_endpoints_are_pure_styles_and_weights_sum_to_one():
    s = parse_schedule("3:2,9:0,12:1", n_styles=3)
    assert s.weights_at(0) == (0.0, 0.0, 1.0)  # held before the first key
    assert s.weights_at(3) == (0.0, 0.0, 1.0)
    assert s.weights_at(9) == (1.0, 0.0, 0.0)
    assert s.weights_at(12) == (0.0, 1.0, 0.0)
    assert s.weights_at(6) == pytest.approx((0.5, 0.0, 0.5))  # midpoint of 3..9
    w = np.array(s.weights_for(20))
    assert w.shape == (20, 3)
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    assert (w >= 0).all()
    # the transition is monotone: style 2 only loses weight over 3..9
    assert np.all(np.diff(w[3:10, 2]) < 0)


def test_single_key_and_constant():
    s = parse_schedule("5:1", n_styles=2)
    assert s.weights_at(0) == s.weights_at(99) == (0.0, 1.0)
    assert Schedule.constant(1, 2).weights_at(7) == (0.0, 1.0)
    assert s.is_constant()


def test_seconds_converted_with_fps():
    s = parse_schedule("0:0,2s:0,4.5s:1", n_styles=2, fps=10)
    assert s.keys == ((0, 0), (20, 0), (45, 1))
    # rounding to the nearest frame at a broadcast rate: 4 s at 29.97 fps is frame 120 (119.88)
    assert parse_schedule("4s:1", n_styles=2, fps=29.97).keys == ((120, 1),)
    assert parse_schedule(".5s:0", n_styles=1, fps=8).keys == ((4, 0),)
    # frames and seconds mix
    assert parse_schedule("0:1,1s:0", n_styles=2, fps=24).keys == ((0, 1), (24, 0))


@pytest.mark.parametrize(
    ("text", "n", "fps", "needle"),
    [
        ("", 2, None, "style schedule is empty"),
        ("  ", 2, None, "style schedule is empty"),
        ("0:0,,4:1", 2, None, "empty item"),
        ("0:0,4:1,", 2, None, "empty item"),
        ("4", 2, None, '"4" is not WHEN:STYLE'),
        ("4x:1", 2, None, '"4x:1" is not WHEN:STYLE'),
        ("-1:0", 2, None, '"-1:0" is not WHEN:STYLE'),
        ("0:a", 2, None, '"0:a" is not WHEN:STYLE'),
        ("0:1:2", 2, None, '"0:1:2" is not WHEN:STYLE'),
        ("1.5:0", 2, None, '"1.5:0" is not WHEN:STYLE'),
        ("0:0,8:2", 2, None, '"8:2" names style 2, but only 2 styles are given (0-1)'),
        ("0:1", 1, None, '"0:1" names style 1, but only 1 style is given (index 0)'),
        ("0:0,8:1,4:0", 2, None, '"4:0" (frame 4) is not later than "8:1" (frame 8)'),
        ("4:0,4:1", 2, None, '"4:1" (frame 4) is not later than "4:0"'),
        ("0:0,0.01s:1", 2, 25, '"0.01s:1" (frame 0) is not later than "0:0"'),
        ("0:0,2s:1", 2, None, '"2s:1" is in seconds but the frame rate is unknown'),
        ("0:0,2s:1", 2, 0, '"2s:1" is in seconds but the frame rate is unknown'),
        ("0:0", 0, None, "no styles given"),
    ],
)
def test_bad_schedules_raise_one_line_user_errors(text, n, fps, needle):
    with pytest.raises(UserError) as err:
        parse_schedule(text, n_styles=n, fps=fps)
    message = str(err.value)
    assert needle in message
    assert "\n" not in message and message.startswith("style schedule")


def test_schedule_checks_its_own_fields():
    with pytest.raises(ValueError):
        Schedule(keys=(), n_styles=2)
    with pytest.raises(ValueError):
        Schedule(keys=((4, 0), (2, 1)), n_styles=2)
    with pytest.raises(ValueError):
        Schedule(keys=((0, 3),), n_styles=2)
    with pytest.raises(ValueError):
        Schedule.constant(0, 1).weights_at(-1)


def test_gram_interpolation_endpoints_equal_pure_styles():
    import tensorflow as tf

    from transfer.losses import blend_grams, gram_matrix

    rng = np.random.default_rng(0)
    styles = [
        {name: gram_matrix(tf.constant(rng.normal(size=(1, 3, 4, c)), tf.float32)) for name, c in (("a", 2), ("b", 3))}
        for _ in range(2)
    ]
    s = parse_schedule("0:0,4:0,8:1", n_styles=2)
    start, middle, end = (blend_grams(styles, s.weights_at(i)) for i in (0, 6, 8))
    for name in ("a", "b"):
        np.testing.assert_allclose(start[name].numpy(), styles[0][name].numpy(), rtol=1e-6)
        np.testing.assert_allclose(end[name].numpy(), styles[1][name].numpy(), rtol=1e-6)
        half = 0.5 * (styles[0][name].numpy() + styles[1][name].numpy())
        np.testing.assert_allclose(middle[name].numpy(), half, rtol=1e-5)
        assert not np.allclose(styles[0][name].numpy(), styles[1][name].numpy())
