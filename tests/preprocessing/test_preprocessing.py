"""Running a chain: every volume ends on one common grid."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from spinetumor.preprocessing.chains import preset
from spinetumor.preprocessing.preprocessing import preprocess_volumes, run_chain
from spinetumor.preprocessing.volumes import SubjectVolumes
from tests.preprocessing.helpers import arr, img, make_affine, ramp


def test_lemay_chain_keeps_label_set_and_common_grid():
    shape = (60, 80, 12)
    affine = make_affine("PSR", (0.6, 0.6, 3.7), shape)
    dseg = np.zeros(shape, dtype=np.uint8)
    dseg[20:40, 20:60, 3:9] = 2
    dseg[25:35, 30:50, 4:8] = 1
    dseg[28:32, 35:45, 5:7] = 3
    cord = (dseg > 0).astype(np.uint8)
    image = ramp(affine, shape)
    vols = SubjectVolumes(img(image, affine), img(image * 2, affine), img(dseg, affine), img(cord, affine))
    out = preprocess_volumes(vols, preset("lemay2021"))
    assert set(out) == {"T2w", "T1w", "dseg", "cord"}
    for key, volume in out.items():
        assert volume.shape == (512, 256, 32)
        np.testing.assert_allclose(volume.affine, out["T2w"].affine)
        assert volume.get_data_dtype() == (np.float32 if key in ("T2w", "T1w") else np.uint8)
    assert set(np.unique(arr(out["dseg"]))) == {0, 1, 2, 3}
    assert set(np.unique(arr(out["cord"]))) == {0, 1}
    assert "".join(nib.aff2axcodes(out["T2w"].affine)) == "SAR"


def test_run_chain_records_spatial_steps_only_and_needs_a_thread():
    shape = (6, 8, 4)
    affine = make_affine("RAS", (1.0, 1.0, 2.0), shape)
    vols = SubjectVolumes(img(ramp(affine, shape), affine))
    steps = [{"name": "zscore"}, {"name": "pad", "shape": [8, 8, 8]}]
    images, chain, records = run_chain(vols, steps, 1)
    assert chain == [{"name": "zscore", "nonzero": False}, {"name": "pad", "shape": [8, 8, 8]}]
    assert [(r["name"], r["input_shape"], r["output_shape"], r["offset_voxels"]) for r in records] == [
        ("pad", [6, 8, 4], [8, 8, 8], [-1, 0, -2])
    ]
    np.testing.assert_allclose(records[0]["output_affine"], images["T2w"].affine)
    with pytest.raises(ValueError, match="threads must be >= 1, got 0"):
        run_chain(vols, steps, 0)
