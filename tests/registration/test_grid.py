"""Tests of spinetumor.registration.grid: which grid points the tournament starts from."""

from __future__ import annotations

from spinetumor.registration.grid import distinct_best


def test_starts_are_the_best_grid_points_in_different_basins() -> None:
    grid = [
        (-0.30, 1000, (0, 0, 0, 0.0, 0.0, 0.0)),
        (-0.29, 1000, (0, 0, 0, 5.0, 0.0, 0.0)),  # next to the best: the same basin
        (-0.50, 100, (0, 0, 0, 0.0, 20.0, 0.0)),  # slid off: too little overlap to compete
        (float("nan"), 1000, (0, 0, 0, 0.0, 0.0, 5.0)),
        (-0.20, 900, (0, 0, 0, 0.0, -10.0, 0.0)),
        (-0.10, 1000, (0, 0, 0, 10.0, 10.0, 0.0)),
    ]
    starts = distinct_best(grid, 2, [0.0] * 3 + [10.0] * 3)
    assert [tuple(s[3:]) for s in starts] == [(0.0, 0.0, 0.0), (0.0, -10.0, 0.0)]


def test_rotation_starts_differ_in_their_angles() -> None:
    step = 0.07  # 4 deg
    grid = [
        (-0.40, 1000, (0.0, 0.0, 0.0, 1.0, 2.0, 3.0)),
        (-0.39, 1000, (step, 0.0, 0.0, 1.0, 2.0, 3.0)),  # one step away: the same basin
        (-0.35, 1000, (0.0, -2 * step, step, 1.0, 2.0, 3.0)),
    ]
    starts = distinct_best(grid, 2, [2 * step] * 3 + [0.0] * 3)
    assert [tuple(s[:3]) for s in starts] == [(0.0, 0.0, 0.0), (0.0, -2 * step, step)]
