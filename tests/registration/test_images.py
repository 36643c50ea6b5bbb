"""Tests of spinetumor.registration.images: reading, and resampling onto the T2w grid."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from spinetumor.registration.images import read_image, resample_to_t2w, to_nifti
from tests.registration.phantoms import sagittal_affine


def test_resampling_puts_each_voxel_at_its_world_position(tmp_path: Path) -> None:
    # A bright cube at a known RAS point on an RAS grid, resampled onto a PSR
    # grid: the cube must land where the T2w affine says that point is.
    moving = np.zeros((40, 40, 40), np.float32)
    moving[18:23, 8:13, 28:33] = 100.0  # voxel centre (20, 10, 30)
    moving_affine = np.diag([1.0, 1.0, 1.0, 1.0])
    moving_affine[:3, 3] = (-20.0, -20.0, -20.0)
    cube_ras = np.array([0.0, -10.0, 10.0])
    fixed_affine = sagittal_affine(
        (50, 50, 20), np.array([[0.0, 0, 1], [-1, 0, 0], [0, 1, 0]]), (0.8, 0.8, 2.0), np.zeros(3)
    )
    nib.save(nib.Nifti1Image(moving, moving_affine), tmp_path / "moving.nii.gz")
    nib.save(nib.Nifti1Image(np.zeros((50, 50, 20), np.int16), fixed_affine), tmp_path / "fixed.nii.gz")

    def centroid_ras(transform: sitk.Transform) -> np.ndarray:
        out = resample_to_t2w(tmp_path / "moving.nii.gz", tmp_path / "fixed.nii.gz", transform)
        data = np.asarray(out.dataobj)
        np.testing.assert_allclose(out.affine, fixed_affine, atol=1e-6)
        ijk = (np.argwhere(data > 0) * data[data > 0][:, None]).sum(0) / data[data > 0].sum()
        return fixed_affine[:3, :3] @ ijk + fixed_affine[:3, 3]

    np.testing.assert_allclose(centroid_ras(sitk.Euler3DTransform()), cube_ras, atol=0.3)
    # A T2w point p is looked up at p + d (LPS) in the T1w, so the cube shows
    # at (cube - d) in LPS: d = (2, 0, 3) moves it 2 mm right (+x in RAS) and
    # 3 mm down.
    shift = sitk.TranslationTransform(3, (2.0, 0.0, 3.0))
    np.testing.assert_allclose(centroid_ras(shift), cube_ras + np.array([2.0, 0.0, -3.0]), atol=0.3)


def test_a_missing_or_corrupt_file_names_the_subject_and_the_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"sub-x: T1w image .*missing\.nii\.gz does not exist"):
        read_image(tmp_path / "missing.nii.gz", "x", "T1w")
    corrupt = tmp_path / "corrupt.nii.gz"
    corrupt.write_bytes(b"not a NIfTI" * 20)
    with pytest.raises(ValueError, match=r"sub-y: cannot read T2w image .*corrupt\.nii\.gz"):
        read_image(corrupt, "y", "T2w")


def test_to_nifti_keeps_the_voxel_order() -> None:
    data = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    image = sitk.GetImageFromArray(data.transpose(2, 1, 0))  # SimpleITK arrays are (z, y, x)
    affine = np.diag([0.5, 0.6, 3.0, 1.0])
    out = to_nifti(image, affine)
    np.testing.assert_array_equal(np.asarray(out.dataobj), data)
    np.testing.assert_allclose(out.affine, affine, atol=1e-6)
    assert np.asarray(to_nifti(image + 0.4, affine, np.int16).dataobj)[1, 2, 3] == 23
