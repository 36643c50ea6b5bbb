"""Cord masks: source priority, and the 30 mm tube around a centreline in world mm."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from spinetumor.data.cordmask import centerline_points, choose_source, cylinder_mask, make_cord_mask
from tests.conftest import write_nifti


def test_choose_source_follows_priority():
    files = {"cord": "c.nii.gz", "centerline": "l.nii.gz"}
    assert choose_source(["manual", "centerline"], files) == ("manual", "c.nii.gz")
    assert choose_source(["centerline", "manual"], files) == ("centerline", "l.nii.gz")
    assert choose_source(["manual", "centerline"], {"centerline": "l.nii.gz"}) == ("centerline", "l.nii.gz")
    with pytest.raises(ValueError, match="no cord mask source"):
        choose_source(["manual"], {"centerline": "l.nii.gz"})
    with pytest.raises(ValueError, match="unknown source 'atlas'"):
        choose_source(["atlas"], files)


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


def test_make_cord_mask_manual_and_centerline_with_provenance(tmp_path):
    affine = np.diag([0.8, 0.8, 3.0, 1.0])
    t2 = write_nifti(tmp_path / "t2.nii.gz", np.zeros((20, 20, 5), np.float32), affine)
    manual = np.zeros((20, 20, 5), np.uint8)
    manual[8:12, 8:12, :] = 1
    manual_path = write_nifti(tmp_path / "cord.nii.gz", manual, affine)
    info = make_cord_mask(t2, "manual", str(manual_path), tmp_path / "m.nii.gz", tmp_path / "m.json")
    assert info["voxels"] == 80 and info["volume_mm3"] == pytest.approx(80 * 0.8 * 0.8 * 3.0)
    assert json.loads((tmp_path / "m.json").read_text())["source"] == "manual"
    line = np.zeros((20, 20, 5), np.uint8)
    line[10, 10, :] = 1
    line_path = write_nifti(tmp_path / "line.nii.gz", line, affine)
    info = make_cord_mask(
        t2, "centerline", str(line_path), tmp_path / "c.nii.gz", tmp_path / "c.json", diameter_mm=4.0
    )
    assert info["diameter_mm"] == 4.0
    out = nib.load(str(tmp_path / "c.nii.gz"))
    np.testing.assert_allclose(out.affine, affine)
    # radius 2 mm at 0.8 mm voxels: offsets -2..2 voxels (1.6 mm) along each in-plane axis
    assert out.get_fdata()[:, 10, 2].sum() == 5


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
