"""The film projection of benchmarks.scaleout: shots in parallel, longest first, the longest shot as the floor."""

from __future__ import annotations

import pytest

from benchmarks.scaleout import FILM, film_shots, film_wall_time


def test_one_machine_does_all_the_work_in_a_row():
    assert film_wall_time([3, 1, 2], first_seconds=10, later_seconds=1, machines=1) == pytest.approx(33)


def test_many_machines_wait_for_the_longest_shot():
    # costs 12, 10, 11: two machines take 12 and 11, the first free one then takes 10 -> 21
    assert film_wall_time([3, 1, 2], 10, 1, machines=2) == pytest.approx(21)
    assert film_wall_time([3, 1, 2], 10, 1, machines=3) == pytest.approx(12)
    assert film_wall_time([3, 1, 2], 10, 1, machines=100, startup_seconds=5) == pytest.approx(17)


def test_film_shots_cover_the_film():
    shots = film_shots()
    assert sum(shots) == FILM["minutes"] * 60 * FILM["fps"]
    assert max(shots) == FILM["longest_shot_seconds"] * FILM["fps"]
