"""Atomic writes: the file appears whole or not at all, with a normal mode."""

from __future__ import annotations

import os
import stat

import nibabel as nib
import numpy as np
import pytest

from spinetumor.io import atomic_path, save_nifti, voxel_sizes, write_json


def test_atomic_path_keeps_the_old_file_on_error(tmp_path):
    target = tmp_path / "out.nii.gz"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            assert tmp.name.endswith(".nii.gz") and tmp.parent == tmp_path
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.nii.gz"]


def test_written_files_get_the_umask_mode(tmp_path):
    path = write_json({"a": np.int64(3)}, tmp_path / "a.json")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    assert path.read_text().strip() == '{\n  "a": 3\n}'


def test_save_nifti_sets_both_forms_and_dtype(tmp_path):
    affine = np.array([[0, 0, 3.7, -10], [-0.6, 0, 0, 20], [0, 0.6, 0, -30], [0, 0, 0, 1.0]])
    path = save_nifti(np.ones((4, 5, 3), bool), affine, tmp_path / "m.nii.gz")
    img = nib.load(str(path))
    assert img.get_data_dtype() == np.uint8
    np.testing.assert_allclose(img.get_sform(), affine)
    np.testing.assert_allclose(img.get_qform(), affine, atol=1e-5)
    np.testing.assert_allclose(voxel_sizes(affine), [0.6, 0.6, 3.7])
