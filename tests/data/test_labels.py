"""Lesion labels to the project's dseg convention."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from spinetumor.data.labels import merge_structures, standardize_labels
from tests.conftest import write_nifti


def test_merge_structures_resolves_overlaps_tumour_over_cavity_over_edema():
    shape = (4, 1, 1)
    edema = np.array([1, 1, 1, 0]).reshape(shape)
    cavity = np.array([0, 1, 1, 0]).reshape(shape)
    tumour = np.array([0, 0, 1, 1]).reshape(shape)
    merged = merge_structures({"tumor": tumour, "edema": edema, "cavity": cavity}, shape)
    assert merged.ravel().tolist() == [2, 3, 1, 1]
    assert merged.dtype == np.uint8


def test_merge_structures_checks_names_and_shapes():
    with pytest.raises(ValueError, match="unknown structures"):
        merge_structures({"syrinx": np.zeros((2, 2, 2))}, (2, 2, 2))
    with pytest.raises(ValueError, match="expected \\(2, 2, 2\\)"):
        merge_structures({"tumor": np.zeros((2, 2, 3))}, (2, 2, 2))


def test_standardize_per_structure_dseg_and_healthy(tmp_path):
    affine = np.diag([0.7, 0.7, 3.0, 1.0])
    t2 = write_nifti(tmp_path / "t2.nii.gz", np.zeros((5, 5, 2), np.float32), affine)
    tumour = np.zeros((5, 5, 2), np.uint8)
    tumour[1, 1, 0] = 1
    cavity = np.zeros((5, 5, 2), np.uint8)
    cavity[2:4, 1, 0] = 1
    files = {
        "tumor": str(write_nifti(tmp_path / "t.nii.gz", tumour, affine)),
        "cavity": str(write_nifti(tmp_path / "c.nii.gz", cavity, affine)),
        "cord": "ignored.nii.gz",
    }
    counts = standardize_labels(t2, files, tmp_path / "out" / "dseg.nii.gz")
    assert counts == {"tumor": 1, "edema": 0, "cavity": 2}
    img = nib.load(str(tmp_path / "out" / "dseg.nii.gz"))
    np.testing.assert_allclose(img.affine, affine)
    assert img.get_data_dtype() == np.uint8

    dseg = np.zeros((5, 5, 2), np.float32)
    dseg[0, 0, 0] = 2.0
    counts = standardize_labels(
        t2, {"dseg": str(write_nifti(tmp_path / "d.nii.gz", dseg, affine))}, tmp_path / "d_out.nii.gz"
    )
    assert counts == {"tumor": 0, "edema": 1, "cavity": 0}

    assert standardize_labels(t2, {}, tmp_path / "healthy.nii.gz") == {"tumor": 0, "edema": 0, "cavity": 0}
    assert nib.load(str(tmp_path / "healthy.nii.gz")).shape == (5, 5, 2)
