"""A subject's volumes: label values and grids are checked before any step runs."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from spinetumor.preprocessing.preprocessing import preprocess_volumes
from spinetumor.preprocessing.volumes import SubjectVolumes, check_grids, to_nifti
from tests.preprocessing.helpers import RAMP8, img


def test_invalid_dseg_values_are_rejected():
    affine = np.eye(4)
    dseg = np.full((2, 2, 2), 7, dtype=np.uint8)
    with pytest.raises(ValueError, match="dseg: labels must be integers in 0..3"):
        preprocess_volumes(SubjectVolumes(img(RAMP8, affine), None, img(dseg, affine), None), [])


def test_check_grids_names_the_volume_off_the_t2w_grid():
    t2w = img(np.zeros((4, 4, 2), np.float32), np.diag([0.5, 0.5, 3.0, 1.0]))
    shifted = np.diag([0.5, 0.5, 3.0, 1.0])
    shifted[0, 3] = 0.01
    check_grids({"T2w": t2w, "cord": img(np.zeros((4, 4, 2), np.uint8), t2w.affine)})
    with pytest.raises(
        ValueError, match=r"^cord.nii.gz: grid \(4, 4, 2\) RAS .* does not match the T2w grid"
    ):
        check_grids(
            {"T2w": t2w, "cord": img(np.zeros((4, 4, 2), np.uint8), shifted)},
            {"T2w": "t2.nii.gz", "cord": "cord.nii.gz"},
        )


def test_to_nifti_sets_sform_qform_and_dtype():
    affine = np.diag([0.5, 0.5, 3.0, 1.0])
    image = to_nifti(np.zeros((2, 2, 2), np.uint8), affine)
    assert isinstance(image, nib.Nifti1Image) and image.get_data_dtype() == np.uint8
    assert int(image.header["sform_code"]) == int(image.header["qform_code"]) == 1
    np.testing.assert_allclose(image.header.get_qform(), affine)
