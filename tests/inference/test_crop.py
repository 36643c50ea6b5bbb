"""Tests for spinetumor.inference.crop: hand-placed masks, hand-computed boxes."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from spinetumor.inference.crop import crop_box_from_mask, lesion_crop_box
from spinetumor.inference.settings import inference_settings


def mask_with(box: tuple[slice, ...], shape: tuple[int, int, int] = (64, 64, 16)) -> np.ndarray:
    mask = np.zeros(shape, dtype=np.uint8)
    mask[box] = 1
    return mask


def test_crop_box_is_the_bounding_box_plus_margin():
    assert crop_box_from_mask(mask_with(np.s_[10:12, 20:25, 3:4]), (2, 1, 0)) == ((8, 19, 3), (14, 26, 4))


def test_crop_box_margin_is_clipped_to_the_volume():
    assert crop_box_from_mask(mask_with(np.s_[0:2, 60:64, 0:16]), (3, 3, 3)) == ((0, 57, 0), (5, 64, 16))


def test_crop_box_grows_symmetrically_to_the_minimum_shape():
    # Extents 6, 7, 1 grow to 16, 16, 8: the odd extra voxel goes after the box.
    box = crop_box_from_mask(mask_with(np.s_[10:12, 20:25, 3:4]), (2, 1, 0), min_shape=(16, 16, 8))
    assert box == ((3, 15, 0), (19, 31, 8))


def test_crop_box_slides_back_inside_at_the_edges():
    box = crop_box_from_mask(mask_with(np.s_[0:2, 62:64, 7:9]), (0, 0, 0), min_shape=(16, 16, 4))
    assert box == ((0, 48, 6), (16, 64, 10))


def test_crop_box_rounds_up_to_the_shape_multiple_where_the_volume_allows():
    mask = mask_with(np.s_[10:17, 20:29, 2:11])  # extents 7, 9, 9
    box = crop_box_from_mask(mask, (0, 0, 0), shape_multiple=(4, 4, 8))
    shape = tuple(b - a for a, b in zip(*box))
    # 7 -> 8; 9 -> 12; 9 -> 16 (the whole axis, the volume holds exactly 16).
    assert shape == (8, 12, 16)
    assert box[0][0] <= 10 and box[1][0] >= 17
    # A multiple larger than the volume gives the whole axis.
    start, stop = crop_box_from_mask(mask, 0, shape_multiple=(4, 4, 20))
    assert (start[2], stop[2]) == (0, 16)


def test_crop_box_minimum_larger_than_the_volume_gives_the_whole_axis():
    box = crop_box_from_mask(mask_with(np.s_[30:31, 30:31, 8:9]), (0, 0, 0), min_shape=(128, 8, 32))
    assert box == ((0, 27, 0), (64, 35, 16))


def test_empty_mask_gives_the_whole_volume_and_warns(caplog):
    with caplog.at_level(logging.WARNING, logger="spinetumor.inference.crop"):
        box = crop_box_from_mask(np.zeros((7, 8, 9)), (1, 1, 1), min_shape=(4, 4, 4), shape_multiple=4)
    assert box == ((0, 0, 0), (7, 8, 9))
    assert "empty cord mask" in caplog.text


@pytest.mark.parametrize(
    "kwargs",
    [
        {"mask": np.zeros((4, 4)), "margin_vox": 0},
        {"mask": np.ones((4, 4, 4)), "margin_vox": (1, 1)},
        {"mask": np.ones((4, 4, 4)), "margin_vox": -1},
        {"mask": np.ones((4, 4, 4)), "margin_vox": 0, "shape_multiple": 0},
    ],
)
def test_crop_box_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        crop_box_from_mask(**kwargs)


def test_lesion_crop_box_takes_margin_in_mm_patch_and_stride_from_the_settings():
    cord = mask_with(np.s_[20:24, 30:31, 10:12], shape=(64, 64, 32))
    affine = np.diag([1.0, 1.0, 2.0, 1.0])
    cfg = inference_settings({"crop_margin_mm": [2, 2, 3], "patch_size": [16, 16, 8], "overlap": 0.5})
    # Margins 2, 2, 2 voxels (3 mm / 2 mm rounds up); extents 8, 5, 6 grow to the
    # patch (16, 16, 8), already whole strides (8, 8, 4), symmetrically.
    assert lesion_crop_box(cord, affine, cfg) == ((14, 23, 7), (30, 39, 15))
    # A 0.75 overlap makes the stride 4, 4, 2: the same box.
    cfg = inference_settings({"crop_margin_mm": [2, 2, 3], "patch_size": [16, 16, 8], "overlap": 0.75})
    assert lesion_crop_box(cord, affine, cfg) == ((14, 23, 7), (30, 39, 15))
    # No patch: the stride is half the volume (32, 32, 16) and the box a whole number of them.
    cfg = inference_settings({"crop_margin_mm": [2, 2, 3], "patch_size": None, "overlap": 0.5})
    assert lesion_crop_box(cord, affine, cfg) == ((6, 15, 3), (38, 47, 19))


def test_a_cord_found_on_a_coarse_grid_crops_the_same_world_region_of_the_lesion_grid():
    # Stage 1 on 2 x 2 x 4 mm, the lesion grid 1 x 1 x 2 mm with another origin.
    coarse = np.diag([2.0, 2.0, 4.0, 1.0])
    fine = np.diag([1.0, 1.0, 2.0, 1.0])
    fine[:3, 3] = [0.5, -1.5, 1.0]
    cord = mask_with(np.s_[10:12, 5:25, 4:6], shape=(32, 32, 16))  # x 19..23, y 9..49, z 14..22 mm
    exact = inference_settings({"crop_margin_mm": [0, 0, 0], "patch_size": [1, 1, 1], "overlap": 0.0})
    box = lesion_crop_box(cord, coarse, exact, onto=(fine, (64, 64, 32)))
    # Fine voxel i spans x i..i+1, y i-2..i-1, z 2i..2i+2 mm: the voxels that meet the region.
    assert box == ((19, 11, 7), (23, 51, 11))
    # The margin is in mm on the lesion grid, and the box then takes the patch and stride sizes.
    sized = inference_settings({"crop_margin_mm": [2, 2, 4], "patch_size": [8, 8, 8], "overlap": 0.5})
    assert lesion_crop_box(cord, coarse, sized, onto=(fine, (64, 64, 32))) == ((17, 9, 5), (25, 53, 13))
    # No cord found: the whole lesion grid.
    assert lesion_crop_box(np.zeros_like(cord), coarse, sized, onto=(fine, (64, 64, 32))) == (
        (0, 0, 0),
        (64, 64, 32),
    )


def test_with_no_patch_the_crop_is_one_window_fitted_to_the_network():
    cord = mask_with(np.s_[20:24, 30:31, 10:12], shape=(64, 64, 32))
    affine = np.diag([1.0, 1.0, 2.0, 1.0])
    cfg = inference_settings(
        {"crop_margin_mm": [2, 2, 4], "patch_size": None, "window_multiple": [16, 16, 4]}
    )
    # Extents 4 + 4, 1 + 4, 2 + 4 voxels grow to one multiple of (16, 16, 4): 16, 16, 8.
    assert lesion_crop_box(cord, affine, cfg) == ((14, 23, 7), (30, 39, 15))
    with pytest.raises(ValueError, match="window_multiple"):
        inference_settings({"window_multiple": [16, 0, 4]})
