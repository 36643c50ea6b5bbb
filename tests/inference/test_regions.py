"""Tests of spinetumor.inference.regions: a box carried from a coarse grid to a fine one in world coordinates."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from spinetumor.inference.regions import box_corners, box_on_grid, fitted_window, grid_for_box


def _affine(
    axcodes: str, spacing: tuple[float, float, float], origin: tuple[float, float, float]
) -> np.ndarray:
    """A 4x4 affine whose array axes point along ``axcodes`` (e.g. "SAR") with the given spacing."""
    ornt = nib.orientations.axcodes2ornt(tuple(axcodes))
    affine = np.eye(4)
    affine[:3, :3] = 0.0
    for axis, (world, flip) in enumerate(ornt.astype(int)):
        affine[world, axis] = flip * spacing[axis]
    affine[:3, 3] = origin
    return affine


def _span(box, affine) -> tuple[np.ndarray, np.ndarray]:
    corners = box_corners(box, affine)
    return corners.min(axis=0), corners.max(axis=0)


# Coarse 2 x 2 x 3 mm (the stage-1 grid) and fine 1 x 1 x 2 mm grids of another origin;
# the fine one also in another axis order.
COARSE = _affine("SAR", (2.0, 2.0, 3.0), (40.0, -30.0, -20.0))
FINE_GRIDS = [
    _affine("SAR", (1.0, 1.0, 2.0), (41.3, -31.7, -19.1)),
    _affine("RAS", (2.0, 1.0, 1.0), (-20.4, -29.5, -60.2)),
]


@pytest.mark.parametrize("fine", FINE_GRIDS)
def test_a_coarse_box_covers_the_same_world_region_on_the_fine_grid(fine: np.ndarray) -> None:
    box = ((10, 20, 3), (30, 45, 9))  # on the coarse grid
    low, high = _span(box, COARSE)
    on_fine = box_on_grid(box_corners(box, COARSE), fine)
    fine_low, fine_high = _span(on_fine, fine)
    step = np.abs(fine[:3, :3]).sum(axis=1)  # fine voxel size along R, A, S
    assert np.all(fine_low <= low + 1e-6) and np.all(fine_high >= high - 1e-6)  # nothing lost
    assert np.all(low - fine_low < step) and np.all(fine_high - high < step)  # less than a voxel more
    # and back: the fine box maps onto the coarse voxels it came from
    back = box_on_grid(box_corners(on_fine, fine), COARSE)
    assert all(b0 <= a0 and a1 <= b1 for a0, a1, b0, b1 in zip(*box, *back))
    assert all(a0 - b0 <= 1 and b1 - a1 <= 1 for a0, a1, b0, b1 in zip(*box, *back))


def test_a_box_on_a_grid_that_already_holds_it_is_the_same_box() -> None:
    box = ((3, 4, 5), (13, 24, 15))
    assert box_on_grid(box_corners(box, COARSE), COARSE) == box


def test_a_box_is_clipped_to_the_grid_and_one_outside_it_is_an_error() -> None:
    box = ((-5, 0, 0), (10, 10, 10))
    assert box_on_grid(box_corners(box, COARSE), COARSE, shape=(8, 50, 50)) == ((0, 0, 0), (8, 10, 10))
    with pytest.raises(ValueError, match="outside the grid"):
        box_on_grid(box_corners(((60, 0, 0), (70, 5, 5)), COARSE), COARSE, shape=(50, 50, 50))


def test_the_window_is_the_smallest_multiple_of_the_strides_holding_the_box() -> None:
    assert fitted_window((37, 64, 5), (16, 16, 4)) == (48, 64, 8)
    assert fitted_window((37, 64, 5), (16, 16, 4), minimum=(16, 80, 16)) == (48, 80, 16)
    with pytest.raises(ValueError):
        fitted_window((37, 64, 5), (16, 16))


@pytest.mark.parametrize("axes", [COARSE, FINE_GRIDS[1]])
def test_a_grid_for_a_box_is_centred_on_it_and_sized_for_the_network(axes: np.ndarray) -> None:
    box = ((10, 20, 3), (31, 45, 9))
    corners = box_corners(box, COARSE)
    affine, shape = grid_for_box(corners, axes, (1.0, 0.5, 0.5), divisor=(16, 16, 16))
    assert all(n % 16 == 0 for n in shape)
    low, high = _span(((0, 0, 0), shape), affine)
    box_low, box_high = corners.min(axis=0), corners.max(axis=0)
    assert np.all(low <= box_low + 1e-6) and np.all(high >= box_high - 1e-6)
    assert np.allclose((low + high) / 2, (box_low + box_high) / 2)
    # the grid keeps the directions it was given, at the spacing asked
    directions = axes[:3, :3] / np.linalg.norm(axes[:3, :3], axis=0)
    assert np.allclose(affine[:3, :3], directions * np.array([1.0, 0.5, 0.5]))
    # and no axis is a whole window longer than needed
    extent = np.abs(np.linalg.inv(directions) @ (box_high - box_low))
    assert np.all(np.asarray(shape) * np.array([1.0, 0.5, 0.5]) - extent < 16 * np.array([1.0, 0.5, 0.5]))
