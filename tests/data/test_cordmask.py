"""Cord masks: the 30 mm tube around a centreline in world mm, and the mask of each source."""

from __future__ import annotations

import nibabel as nib
import numpy as np

from spinetumor.data.cordmask import centerline_points, cord_mask, cylinder_mask, provenance


def test_centerline_points_are_dense_and_ordered():
    line = np.zeros((1, 1, 11), np.uint8)
    line[0, 0, [0, 10]] = 1  # two labels 20 mm apart along z (2 mm voxels)
    points = centerline_points(line, np.diag([1.0, 1.0, 2.0, 1.0]), step_mm=0.5)
    assert len(points) == 41
    np.testing.assert_allclose(sorted(points[[0, -1], 2]), [0.0, 20.0])
    assert np.all(np.abs(np.diff(points[:, 2])) <= 0.5 + 1e-9)


def test_cylinder_is_30_mm_wide_in_world_units_under_anisotropic_voxels():
    # Straight centreline along S-I (axis 2), voxels 0.5 mm L-R, 1 mm A-P, 3 mm S-I.
    affine = np.diag([0.5, 1.0, 3.0, 1.0])
    shape = (101, 51, 10)
    line = np.zeros(shape, np.uint8)
    line[50, 25, 2:8] = 1
    mask = cylinder_mask(line, affine, diameter_mm=30.0)
    # Across L-R: 15 mm either side = 30 voxels of 0.5 mm, centre included -> 61 voxels.
    assert mask[:, 25, 5].sum() == 61
    # Across A-P: 15 mm either side at 1 mm -> 31 voxels.
    assert mask[50, :, 5].sum() == 31
    # Flat ends: only the slices spanned by the centreline.
    assert mask[50, 25, :].tolist() == [0, 0, 1, 1, 1, 1, 1, 1, 0, 0]
    # The cross-section is a disc, not a square: corner at (15, 15) mm is outside.
    assert mask[50 + 30, 25 + 15, 5] == 0 and mask[50 + 20, 25 + 10, 5] == 1


def test_cylinder_follows_a_curved_centreline():
    affine = np.eye(4)
    shape = (60, 10, 40)
    line = np.zeros(shape, np.uint8)
    for z in range(40):
        line[10 + z, 5, z] = 1  # 45 degree oblique line in x-z
    mask = cylinder_mask(line, affine, diameter_mm=6.0)
    # Perpendicular distance of (x, z) to the line x = 10 + z is |x - 10 - z| / sqrt(2).
    x, z = 30, 20  # on the line
    assert mask[x, 5, z] == 1
    assert mask[x + 4, 5, z] == 1  # 4 / sqrt(2) = 2.83 mm <= 3 mm
    assert mask[x + 5, 5, z] == 0  # 3.54 mm > 3 mm


def test_real_centreline_tube_covers_the_manual_cord(real_spine):
    t2 = real_spine / "sub-errsm30/anat/sub-errsm30_T2w.nii.gz"
    lab = real_spine / "derivatives/labels/sub-errsm30/anat"
    img = nib.load(str(t2))
    tube = cylinder_mask(
        np.asanyarray(nib.load(str(lab / "sub-errsm30_T2w_centerline-manual.nii.gz")).dataobj),
        img.affine,
        30.0,
    )
    cord = np.asanyarray(nib.load(str(lab / "sub-errsm30_T2w_seg-manual.nii.gz")).dataobj) > 0
    # A 30 mm tube around the centreline contains (nearly) all of a ~13 x 8 mm cord.
    assert (tube.astype(bool) & cord).sum() / cord.sum() > 0.95
    assert tube.sum() > 3 * cord.sum()


def test_cord_mask_of_each_source():
    affine = np.diag([1.0, 1.0, 2.0, 1.0])
    label = np.zeros((9, 9, 3), np.float32)
    label[4, 4, :] = 2.0
    label[0, 0, 0] = -1.0
    for source in ("manual", "model"):
        mask = cord_mask(label, affine, source)
        assert mask.dtype == np.uint8 and np.argwhere(mask).tolist() == [[4, 4, 0], [4, 4, 1], [4, 4, 2]]
    tube = cord_mask(label, affine, "centerline", diameter_mm=2.0)
    np.testing.assert_array_equal(tube, cylinder_mask(label, affine, 2.0))
    assert tube[:, :, 1].sum() == 5  # the centre and its four 1 mm neighbours


def test_provenance_records_source_size_and_diameter_of_tubes_only():
    mask = np.ones((2, 3, 4), np.uint8)
    affine = np.diag([0.5, 0.5, 3.0, 1.0])
    assert provenance(mask, affine, "centerline", "l.nii.gz", 30.0) == {
        "source": "centerline",
        "source_file": "l.nii.gz",
        "diameter_mm": 30.0,
        "voxels": 24,
        "volume_mm3": 18.0,
    }
    assert provenance(mask, affine, "manual", "c.nii.gz", 30.0)["diameter_mm"] is None
