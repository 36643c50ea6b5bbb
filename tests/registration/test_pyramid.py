"""Tests of spinetumor.registration.pyramid: per-axis binning, zero filling, the footprint, levels kept."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from spinetumor.registration.pyramid import (
    _level_shrink,
    _not_zero_filling,
    build_pyramid,
    footprint,
    overlap_centre,
)
from spinetumor.registration.settings import RegistrationSettings


def _image(array_zyx: np.ndarray, spacing: tuple[float, float, float]) -> sitk.Image:
    image = sitk.GetImageFromArray(array_zyx.astype(np.float32))
    image.SetSpacing(spacing)
    return image


def test_a_thick_axis_is_not_binned_and_no_axis_below_eight_voxels() -> None:
    image = _image(np.zeros((16, 200, 200)), (0.5, 0.5, 3.7))  # x, y fine; z thick
    assert _level_shrink(image, 2.0) == [4, 4, 1]
    small = _image(np.zeros((16, 16, 200)), (0.5, 0.5, 0.5))
    assert _level_shrink(small, 4.0) == [8, 2, 2]


def test_zero_filling_is_a_large_block_of_zeros_not_scattered_dark_voxels() -> None:
    rng = np.random.default_rng(0)
    data = rng.uniform(1.0, 2.0, (20, 40, 40))
    data[:, :, :10] = 0.0  # a 10 x 40 x 20 mm block of filling
    data[10, 20, 30] = 0.0  # one dark voxel: image, not filling
    mask = sitk.GetArrayFromImage(_not_zero_filling(_image(data, (1.0, 1.0, 1.0))))
    assert mask[:, :, :10].max() == 0.0
    assert mask[10, 20, 30] == 1.0
    assert mask[:, :, 10:].min() == 1.0


def test_footprint_is_the_moving_field_of_view_widened_by_the_margin() -> None:
    grid = _image(np.zeros((1, 1, 100)), (1.0, 1.0, 1.0))  # x 0..99 mm
    moving = _image(np.zeros((1, 1, 20)), (1.0, 1.0, 1.0))
    moving.SetOrigin((40.0, 0.0, 0.0))  # x 40..59 mm
    assert np.flatnonzero(sitk.GetArrayFromImage(footprint(moving, grid, 0.0))[0, 0]).tolist() == list(
        range(40, 60)
    )
    widened = np.flatnonzero(sitk.GetArrayFromImage(footprint(moving, grid, 5.0))[0, 0])
    assert (widened.min(), widened.max()) == (35, 64)
    assert overlap_centre(grid, moving)[0] == 49.5


def test_levels_too_coarse_to_hold_a_small_t1w_are_dropped() -> None:
    # A 60 mm T2w and a T1w block of 24 mm (14,000 mm^3): 216 voxels of
    # 4 mm, too few to tell a vertebral level from the next; 1,728 of 2 mm.
    rng = np.random.default_rng(0)
    fixed = _image(rng.uniform(1, 2, (60, 60, 60)), (1.0, 1.0, 1.0))
    block = _image(rng.uniform(1, 2, (24, 24, 24)), (1.0, 1.0, 1.0))
    block.SetOrigin((18.0, 18.0, 18.0))
    settings = RegistrationSettings()
    assert settings.shrink_factors == (4, 2, 1)
    levels = build_pyramid(fixed, block, settings)
    assert [level.fixed.GetSize() for level in levels] == [(30, 30, 30), (60, 60, 60)]
    whole = build_pyramid(fixed, _image(rng.uniform(1, 2, (60, 60, 60)), (1.0, 1.0, 1.0)), settings)
    assert [level.fixed.GetSize()[0] for level in whole] == [15, 30, 60]
