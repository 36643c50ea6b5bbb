"""Tests for spinetumor.inference.masks: hand-built masks with hand-computed volumes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from spinetumor.inference.masks import (
    bounding_box,
    fill_holes,
    largest_component,
    remove_small_objects,
    voxel_volume_mm3,
)

SEVEN_VOXELS_MM3 = 7 * 0.6 * 0.6 * 3.7  # the conftest's object on its grids


# --------------------------------------------------------------------------- #
# bounding box
# --------------------------------------------------------------------------- #
def test_bounding_box_is_padded_per_axis_and_clipped_to_the_volume():
    mask = np.zeros((10, 8, 6), dtype=np.uint8)
    mask[1:3, 4:6, 5] = 1
    assert bounding_box(mask) == (slice(1, 3), slice(4, 6), slice(5, 6))
    assert bounding_box(mask, pad=2) == (slice(0, 5), slice(2, 8), slice(3, 6))
    assert bounding_box(mask, pad=(0, 1, 3)) == (slice(1, 3), slice(3, 7), slice(2, 6))


# --------------------------------------------------------------------------- #
# voxel volume and small objects
# --------------------------------------------------------------------------- #
def test_voxel_volume_from_column_norms_for_any_orientation(oriented_affine):
    assert voxel_volume_mm3(oriented_affine) == pytest.approx(1.332)
    # A rotation keeps the voxel volume.
    theta = np.deg2rad(30)
    rot = np.array([[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]])
    affine = oriented_affine.copy()
    affine[:3, :3] = rot @ oriented_affine[:3, :3]
    assert voxel_volume_mm3(affine) == pytest.approx(1.332)


def test_seven_voxel_object_removed_under_10mm3_kept_at_9mm3(oriented_affine, seven_voxel_object):
    mask = seven_voxel_object
    volume = voxel_volume_mm3(oriented_affine)
    assert 7 * volume == pytest.approx(9.324)
    assert not remove_small_objects(mask, volume, 10.0).any()
    np.testing.assert_array_equal(remove_small_objects(mask, volume, 9.0), mask)


def test_object_exactly_at_the_minimum_is_kept(seven_voxel_object):
    mask = seven_voxel_object
    np.testing.assert_array_equal(remove_small_objects(mask, 1.332, SEVEN_VOXELS_MM3), mask)


def test_diagonal_voxels_are_separate_objects_18_connectivity():
    # Two voxels touching at a corner only: 26- but not 18-connected, so each is
    # its own 1-voxel object and both fall under a 2-voxel minimum.
    corner = np.zeros((5, 5, 5), dtype=bool)
    corner[1, 1, 1] = corner[2, 2, 2] = True
    assert not remove_small_objects(corner, 1.0, 2.0).any()
    # Sharing an edge (18-connected): one 2-voxel object, kept.
    edge = np.zeros((5, 5, 5), dtype=bool)
    edge[1, 1, 1] = edge[2, 2, 1] = True
    np.testing.assert_array_equal(remove_small_objects(edge, 1.0, 2.0), edge)


def test_remove_small_objects_keeps_large_and_drops_small_in_one_mask():
    mask = np.zeros((10, 10, 10), dtype=bool)
    mask[0:3, 0:3, 0:3] = True  # 27 voxels
    mask[7, 7, 7] = True  # 1 voxel
    out = remove_small_objects(mask, 2.0, 10.0)
    assert out.sum() == 27 and not out[7, 7, 7]


def test_zero_minimum_keeps_everything_and_input_is_not_modified():
    mask = np.zeros((4, 4, 4), dtype=np.uint8)
    mask[1, 1, 1] = 1
    out = remove_small_objects(mask, 1.0, 0.0)
    assert out.dtype == bool and out.sum() == 1
    out[1, 1, 1] = False
    assert mask[1, 1, 1] == 1


@pytest.mark.parametrize(
    "args", [(np.zeros((3, 3)), 1.0, 1.0), (np.zeros((3, 3, 3)), 0.0, 1.0), (np.zeros((3, 3, 3)), 1.0, -1.0)]
)
def test_remove_small_objects_rejects_bad_arguments(args):
    with pytest.raises(ValueError):
        remove_small_objects(*args)


# --------------------------------------------------------------------------- #
# holes
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("seed", range(4))
def test_fill_holes_matches_scipy_binary_fill_holes(seed):
    # Random blobs, some touching the border, in a volume larger than their bounding box.
    rng = np.random.default_rng(seed)
    mask = np.zeros((30, 24, 12), dtype=bool)
    mask[2:22, 0:20, 1:12] = ndimage.gaussian_filter(rng.random((20, 20, 11)), 1.0) > 0.5
    np.testing.assert_array_equal(fill_holes(mask), ndimage.binary_fill_holes(mask))


def test_fill_holes_leaves_background_open_to_the_border_alone():
    # A cup open on the volume's face x = 0: its inside reaches the border, so it is no hole.
    cup = np.zeros((5, 5, 5), dtype=bool)
    cup[0:4, 0:5, 0:5] = True
    cup[0:3, 1:4, 1:4] = False
    np.testing.assert_array_equal(fill_holes(cup), cup)
    assert not fill_holes(np.zeros((3, 3, 3))).any()


def test_largest_component_keeps_the_biggest_18_connected_object():
    mask = np.zeros((10, 10, 10), np.uint8)
    mask[1:3, 1:3, 1:3] = 1  # 8 voxels
    mask[6:9, 6:9, 6:9] = 1  # 27 voxels
    mask[5, 5, 5] = 1  # touches the big one at a corner only (26-, not 18-connected)
    kept = largest_component(mask)
    assert kept.dtype == bool and kept.sum() == 27 and kept[6:9, 6:9, 6:9].all()
    assert not largest_component(np.zeros((3, 3, 3))).any()
