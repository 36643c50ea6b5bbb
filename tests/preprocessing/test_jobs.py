"""The preprocessing job: subject files in, preprocessed files and their geometry out."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from spinetumor.io import save_nifti, voxel_sizes
from spinetumor.preprocessing.chains import preset
from spinetumor.preprocessing.jobs import preprocess_chains, preprocess_subject
from spinetumor.preprocessing.native import to_native
from tests.preprocessing.helpers import arr, dice, write_subject

ERRSM30_T2W = Path("sub-errsm30", "anat", "sub-errsm30_T2w.nii.gz")
ERRSM30_CORD = Path("derivatives", "labels", "sub-errsm30", "anat", "sub-errsm30_T2w_seg-manual.nii.gz")


def test_preprocess_subject_writes_outputs_and_geometry(tmp_path):
    affine, shape, paths = write_subject(tmp_path)
    outputs = {key: tmp_path / "out" / f"sub-01_space-prep_{key}.nii.gz" for key in paths}
    steps = [
        {"name": "reorient", "axcodes": "SAR"},
        {"name": "resample", "spacing_mm": [1.0, 1.0, 2.0]},
        {"name": "zscore"},
        {"name": "crop_pad", "shape": [96, 64, 40]},
    ]
    geometry = preprocess_subject(
        paths["T2w"],
        paths["T1w"],
        paths["dseg"],
        paths["cord"],
        steps,
        outputs,
        tmp_path / "out" / "geometry.json",
    )
    assert json.loads((tmp_path / "out" / "geometry.json").read_text()) == json.loads(json.dumps(geometry))
    assert geometry["native"]["shape"] == list(shape) and geometry["native"]["axcodes"] == "PSR"
    np.testing.assert_allclose(geometry["native"]["affine"], affine)
    assert geometry["preprocessed"]["shape"] == [96, 64, 40] and geometry["preprocessed"]["axcodes"] == "SAR"
    np.testing.assert_allclose(geometry["preprocessed"]["voxel_sizes_mm"], [1.0, 1.0, 2.0])
    assert [s["name"] for s in geometry["steps"]] == ["reorient", "resample", "zscore", "crop_pad"]
    assert geometry["steps"][2] == {"name": "zscore", "nonzero": False}  # defaults filled in
    assert [t["name"] for t in geometry["transforms"]] == ["reorient", "resample", "crop_pad"]
    assert len(geometry["transforms"][-1]["offset_voxels"]) == 3
    for key, path in outputs.items():
        written = nib.load(path)
        assert written.shape == (96, 64, 40)
        np.testing.assert_allclose(written.affine, geometry["preprocessed"]["affine"], atol=1e-5)
        assert written.get_data_dtype() == (np.float32 if key in ("T2w", "T1w") else np.uint8)
    back = to_native(nib.load(outputs["dseg"]), nib.load(paths["T2w"]), order=0)
    assert dice(arr(back), arr(nib.load(paths["dseg"]))) > 0.9


def test_every_chain_of_a_unit_in_one_job_gives_what_each_chain_gives_alone(tmp_path):
    _, _, paths = write_subject(tmp_path)
    chains = {"fine": preset("lemay2021")["steps"], "coarse": preset("cordcoarse")["steps"]}
    outputs = {
        name: {
            **{k: tmp_path / name / f"{k}.nii.gz" for k in paths},
            "geometry": tmp_path / name / "geometry.json",
        }
        for name in chains
    }
    records = preprocess_chains(paths, chains, outputs)
    assert list(records) == ["fine", "coarse"]
    alone = {k: tmp_path / "alone" / f"{k}.nii.gz" for k in paths}
    preprocess_subject(
        paths["T2w"],
        paths["T1w"],
        paths["dseg"],
        paths["cord"],
        chains["coarse"],
        alone,
        tmp_path / "alone" / "geometry.json",
    )
    for key in paths:
        np.testing.assert_array_equal(arr(nib.load(outputs["coarse"][key])), arr(nib.load(alone[key])))
    assert nib.load(outputs["fine"]["T2w"]).shape == (512, 256, 32)
    assert records["coarse"]["preprocessed"]["shape"] == [256, 128, 16]
    # A failing chain is named; a chain without destinations is refused before any work.
    bad = {"fine": chains["fine"], "broken": [{"name": "resample", "spacing_mm": [1.0, 1.0]}]}
    with pytest.raises(ValueError, match="chain broken"):
        preprocess_chains(paths, bad, {**outputs, "broken": outputs["coarse"]})
    with pytest.raises(ValueError, match=r"no destinations for the chain\(s\) \['broken'\]"):
        preprocess_chains(paths, bad, outputs)


def test_preprocess_subject_rejects_mismatched_grid_naming_file(tmp_path):
    _, _, paths = write_subject(tmp_path, shift_t1w=True)
    outputs = {key: tmp_path / f"o_{key}.nii.gz" for key in paths}
    with pytest.raises(ValueError, match="sub-01_T1w.nii.gz.*does not match the T2w grid"):
        preprocess_subject(
            paths["T2w"],
            paths["T1w"],
            paths["dseg"],
            paths["cord"],
            preset("lemay2021"),
            outputs,
            tmp_path / "g.json",
        )
    assert not any(p.exists() for p in outputs.values())
    cropped = save_nifti(np.zeros((10, 10, 10), np.uint8), np.eye(4), tmp_path / "small_cord.nii.gz")
    with pytest.raises(ValueError, match="small_cord.nii.gz"):
        preprocess_subject(
            paths["T2w"],
            None,
            None,
            cropped,
            preset("lemay2021"),
            {"T2w": outputs["T2w"], "cord": outputs["cord"]},
            tmp_path / "g.json",
        )
    with pytest.raises(ValueError, match="outputs must name exactly"):
        preprocess_subject(paths["T2w"], None, None, None, preset("lemay2021"), outputs, tmp_path / "g.json")


def test_lemay_chain_on_real_subject_round_trips_cord(tmp_path, real_spine):
    t2w_path, cord_path = real_spine / ERRSM30_T2W, real_spine / ERRSM30_CORD
    outputs = {"T2w": tmp_path / "T2w.nii.gz", "cord": tmp_path / "cord.nii.gz"}
    geometry = preprocess_subject(
        t2w_path, None, None, cord_path, preset("lemay2021"), outputs, tmp_path / "geometry.json"
    )
    assert geometry["native"]["axcodes"] == "PSR"
    cord = nib.load(outputs["cord"])
    assert cord.shape == (512, 256, 32)
    assert "".join(nib.aff2axcodes(cord.affine)) == "SAR"
    np.testing.assert_allclose(voxel_sizes(cord.affine), [1.0, 1.0, 2.0], atol=1e-5)
    native = nib.load(t2w_path)
    back = to_native(cord, native, order=0)
    assert back.shape == native.shape
    assert dice(arr(back), arr(nib.load(cord_path))) > 0.9
