"""Lesion features from a label map and its images, against hand-computed values."""

from __future__ import annotations

import math

import nibabel as nib
import numpy as np
import pytest

from spinetumor.classification.features import FEATURES, lesion_features


def _images(affine):
    shape = (10, 12, 20)
    dseg = np.zeros(shape, np.uint8)
    dseg[4:6, 5:7, 8:11] = 1  # tumour: 12 voxels
    dseg[4:6, 5:7, 11:13] = 2  # edema: 8 voxels
    dseg[4:6, 5:7, 5:8] = 3  # cavity: 12 voxels
    cord = np.zeros(shape, np.uint8)
    cord[3:7, 4:8, 2:18] = 1  # 256 voxels, 224 outside the lesion
    t1w = np.full(shape, 2.0, np.float32)
    t1w[dseg == 1] = 5.0  # enhancing core: 2.5 x the cord
    t2w = np.full(shape, 4.0, np.float32)
    t2w[dseg == 1] = 6.0
    return {
        name: nib.Nifti1Image(data, affine)
        for name, data in {"dseg": dseg, "cord": cord, "T1w": t1w, "T2w": t2w}.items()
    }


@pytest.mark.parametrize(
    "affine",
    [
        np.diag([0.5, 0.5, 2.0, 1.0]),  # RAS, axis 2 is superior: 2 mm steps
        np.array([[0, 0, -2.0, 0], [0, 0.5, 0, 0], [0.5, 0, 0, 0], [0, 0, 0, 1]]),  # axis 0 superior: 0.5 mm
    ],
)
def test_features_by_hand(affine):
    features = lesion_features(_images(affine))
    assert list(features) == list(FEATURES)
    voxel = 0.5 * 0.5 * 2.0
    assert features["tumor_mm3"] == 12 * voxel and features["edema_mm3"] == 8 * voxel
    assert features["cavity_mm3"] == 12 * voxel and features["whole_mm3"] == 32 * voxel
    assert features["tumor_fraction"] == pytest.approx(12 / 32)
    assert features["t1w_enhancement"] == pytest.approx(2.5) and features["t2w_ratio"] == pytest.approx(1.5)
    assert features["has_cavity"] == 1 and features["has_edema"] == 1
    # The lesion spans array axis 2 from 5 to 12 (8 voxels) in the first grid (2 mm along z), and
    # array axis 0 from 4 to 5 (2 voxels) in the second, whose axis 0 runs along z in 0.5 mm steps.
    assert features["extent_mm"] == pytest.approx(16.0 if affine[2, 2] else 1.0)


def test_no_tumour_gives_undefined_ratios_and_other_grids_are_refused():
    images = _images(np.eye(4))
    empty = nib.Nifti1Image(np.zeros(images["dseg"].shape, np.uint8), np.eye(4))
    features = lesion_features({**images, "dseg": empty})
    assert features["whole_mm3"] == 0 and features["extent_mm"] == 0
    assert math.isnan(features["tumor_fraction"]) and math.isnan(features["t1w_enhancement"])
    shifted = nib.Nifti1Image(np.asarray(images["T1w"].dataobj), np.diag([2.0, 1, 1, 1]))
    with pytest.raises(ValueError, match="T1w is not on the label map's grid"):
        lesion_features({**images, "T1w": shifted})
