"""Tests of spinetumor.registration.coverage: the slides a grid may take, grid overlap, and its boxes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import SimpleITK as sitk

from spinetumor.registration.coverage import covered_boxes, grid_coverage, shift_limits
from spinetumor.registration.pyramid import Level


def _slab(size: tuple[int, int, int], origin_z: float = 0.0, seed: int = 0) -> sitk.Image:
    """A 1 mm image of noise (x, y, z sizes) whose first slice lies at ``origin_z`` mm."""
    data = np.random.default_rng(seed).uniform(0.5, 1.5, size[::-1]).astype(np.float32)
    image = sitk.GetImageFromArray(data)
    image.SetOrigin((0.0, 0.0, origin_z))
    return image


def test_a_slab_beside_its_partner_is_slid_back_and_a_centred_one_not_slid_off() -> None:
    fixed = _slab((40, 40, 16))
    beside = _slab((40, 40, 16), origin_z=15.0)  # the header puts it 15 mm up: 1 mm shared
    limits = shift_limits(fixed, beside, 0.5)
    # A T2w point x meets the T1w at x + t: t = +15 puts them back together.
    assert limits[2].tolist() == pytest.approx([7.0, 23.0])
    assert limits[0].tolist() == pytest.approx([-20.0, 20.0])  # half of 40 mm either way
    centred = shift_limits(fixed, _slab((40, 40, 16)), 0.5)
    assert centred[2].tolist() == pytest.approx([-8.0, 8.0])


def test_grid_coverage_is_the_fraction_of_t2w_voxels_inside_the_t1w() -> None:
    fixed, moving = _slab((40, 40, 16)), _slab((40, 40, 16), origin_z=15.0)
    transform = sitk.Euler3DTransform()
    coverage = grid_coverage(
        Level(fixed, moving, None, 1.0), moving, transform, [0, 0, 0, 0, 0, 2], [5.0] * 6
    )
    # Shifts of -10 .. 10 mm along z: slices z with 14.5 <= z + t <= 30.5 are inside.
    expected = [np.mean([14.5 <= z + t <= 30.5 for z in range(16)]) for t in (-10, -5, 0, 5, 10)]
    assert coverage.shape == (1, 1, 1, 1, 1, 5)
    assert coverage.ravel() == pytest.approx(expected, abs=0.01)


def test_grid_coverage_agrees_with_itk_on_turned_grids() -> None:
    # What ITK counts as valid samples (every voxel sampled) at each point
    # of a grid of turns and shifts, against the coverage computed beforehand.
    fixed, moving = _slab((24, 20, 12)), _slab((20, 24, 10), origin_z=4.0, seed=1)
    transform = sitk.Euler3DTransform()
    transform.SetCenter((12.0, 10.0, 6.0))
    steps, lengths = [1, 1, 0, 0, 0, 2], [0.2, 0.2, 0.2, 3.0, 3.0, 4.0]
    coverage = grid_coverage(Level(fixed, moving, None, 1.0), moving, transform, steps, lengths)
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMeanSquares()
    method.SetMetricSamplingStrategy(method.NONE)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetInitialTransform(transform, inPlace=True)
    method.SetOptimizerAsExhaustive(steps, stepLength=1.0)
    method.SetOptimizerScales(lengths)
    valid: list[tuple[tuple[float, ...], float]] = []
    method.AddCommand(
        sitk.sitkIterationEvent,
        lambda: valid.append(
            (
                tuple(method.GetOptimizerPosition()),
                method.GetMetricNumberOfValidPoints() / fixed.GetNumberOfPixels(),
            )
        ),
    )
    method.Execute(fixed, moving)
    assert len(valid) == coverage.size
    for position, fraction in valid:
        index = tuple(round(p / length) + n for p, length, n in zip(position, lengths, steps, strict=True))
        assert coverage[index] == pytest.approx(fraction, abs=0.03), position
    assert coverage.min() < 0.5 < coverage.max()  # the grid does change the overlap


def _cells(box: tuple[tuple[int, int], ...]) -> set[tuple[int, ...]]:
    return set(itertools.product(*[range(a, b + 1) for a, b in box]))


@pytest.mark.parametrize("seed", range(6))
def test_boxes_hold_every_wanted_cell_and_only_allowed_ones(seed: int) -> None:
    rng = np.random.default_rng(seed)
    coverage = rng.uniform(0, 1, (3, 5, 7)) * np.linspace(0.2, 1.0, 7)  # lower coverage at one end
    wanted, allowed = coverage > 0.5, coverage > 0.15
    boxes = covered_boxes(wanted, allowed)
    held = set().union(*[_cells(box) for box in boxes]) if boxes else set()
    assert {tuple(i) for i in np.argwhere(wanted)} <= held
    for box in boxes:
        assert all((b - a) % 2 == 0 for a, b in box)  # odd widths: a centre cell
        assert all(allowed[cell] for cell in _cells(box))


def test_a_wholly_allowed_grid_is_one_box_and_a_few_holes_cost_few_boxes() -> None:
    allowed = np.ones((3, 9, 9), bool)
    assert covered_boxes(allowed.copy(), allowed) == [((0, 2), (0, 8), (0, 8))]
    allowed[:, 8, :] = False  # one edge of the grid slid off
    boxes = covered_boxes(allowed.copy(), allowed)
    assert len(boxes) <= 3
    assert sum(len(_cells(box)) for box in boxes) == allowed.sum()
