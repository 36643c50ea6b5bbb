"""The data stage's jobs: each reads its input files and writes its outputs."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from spinetumor.data.jobs import (
    make_cord_mask,
    make_splits,
    standardize_labels,
    summarize_validation,
    validate_subject,
)
from spinetumor.data.validation import InvalidInputError, valid_prefixes
from tests.conftest import write_nifti
from tests.data.units import valid_unit

SUBJECTS = [f"sub-{i:02d}" for i in range(1, 25)]
STRATA = ["astrocytoma"] * 8 + ["ependymoma"] * 10 + ["hemangioblastoma"] * 6


def test_error_mode_raises_with_subject_file_and_problem_and_writes_nothing(tmp_path):
    data = np.ones((6, 6, 3), np.float32)
    data[2, 2, 2] = np.nan
    bad = write_nifti(tmp_path / "sub-01_T1w_bad.nii.gz", data)
    report = tmp_path / "out" / "report.json"
    with pytest.raises(InvalidInputError) as err:
        validate_subject(valid_unit(tmp_path, t1w=str(bad)), report, on_invalid="error")
    assert f"sub-01: {bad}: 1 non-finite voxel values" in str(err.value)
    assert not report.exists()


def test_skip_mode_records_and_summaries(tmp_path):
    good = validate_subject(valid_unit(tmp_path), tmp_path / "good.json", on_invalid="skip")
    assert good["valid"]
    other = tmp_path / "other"
    other.mkdir()
    bad_unit = valid_unit(other, subject="02", prefix="sub-02", t1w=None)
    bad = validate_subject(bad_unit, tmp_path / "bad.json", on_invalid="skip")
    assert not bad["valid"] and bad["problems"] == [{"file": "", "problem": "T1w: missing"}]
    table = summarize_validation(
        [str(tmp_path / "good.json"), str(tmp_path / "bad.json")],
        tmp_path / "validation.tsv",
        tmp_path / "excluded.tsv",
    )
    assert table["valid"].tolist() == [True, False]
    excluded = pd.read_csv(tmp_path / "excluded.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert excluded.to_dict("records") == [
        {"subject": "sub-02", "session": "n/a", "file": "n/a", "reason": "T1w: missing"}
    ]
    assert valid_prefixes(tmp_path / "validation.tsv") == ["sub-01"]
    assert json.loads((tmp_path / "bad.json").read_text())["prefix"] == "sub-02"


def test_unknown_mode_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="neither 'error' nor 'skip'"):
        validate_subject(valid_unit(tmp_path), tmp_path / "r.json", on_invalid="warn")


def test_empty_lesion_label_of_a_unit_not_declared_healthy_is_a_warning(tmp_path):
    empty = write_nifti(tmp_path / "sub-01_T2w_dseg.nii.gz", np.zeros((6, 6, 3), np.uint8))
    unit = valid_unit(tmp_path)
    unit["labels"]["dseg"] = str(empty)
    report = validate_subject({**unit, "healthy": False}, tmp_path / "tumour.json", on_invalid="error")
    assert report["valid"]
    warning = (
        "lesion label is empty, but sub-01 is not declared healthy (labels.lesions.healthy): "
        "it counts as a subject without tumour in every metric"
    )
    assert report["warnings"] == [{"file": str(empty), "warning": warning}]
    other = tmp_path / "other"
    other.mkdir()
    healthy = valid_unit(other, subject="02", prefix="sub-02", healthy=True)
    healthy["labels"]["dseg"] = str(empty)
    assert validate_subject(healthy, tmp_path / "healthy.json", on_invalid="error")["warnings"] == []
    summarize_validation(
        [str(tmp_path / "tumour.json"), str(tmp_path / "healthy.json")],
        tmp_path / "validation.tsv",
        tmp_path / "excluded.tsv",
    )
    table = pd.read_csv(tmp_path / "validation.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert table[["prefix", "valid", "n_warnings", "warnings"]].to_dict("records") == [
        {"prefix": "sub-01", "valid": "True", "n_warnings": "1", "warnings": f"{empty}: {warning}"},
        {"prefix": "sub-02", "valid": "True", "n_warnings": "0", "warnings": "n/a"},
    ]
    # A lesion voxel: no warning.
    dseg = np.zeros((6, 6, 3), np.uint8)
    dseg[2, 2, 1] = 1
    unit["labels"]["dseg"] = str(write_nifti(tmp_path / "lesion.nii.gz", dseg))
    assert validate_subject(unit, tmp_path / "lesion.json", on_invalid="error")["warnings"] == []


def test_invalid_folders_are_listed_with_the_excluded_units(tmp_path):
    validate_subject(valid_unit(tmp_path), tmp_path / "good.json", on_invalid="skip")
    folder = {
        "subject": "sub-c-d",
        "session": "n/a",
        "file": "/data/sub-c-d",
        "reason": "folder label 'c-d' ...",
    }
    summarize_validation(
        [str(tmp_path / "good.json")],
        tmp_path / "validation.tsv",
        tmp_path / "excluded.tsv",
        invalid_folders=[folder],
    )
    excluded = pd.read_csv(tmp_path / "excluded.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert excluded.to_dict("records") == [folder]
    assert valid_prefixes(tmp_path / "validation.tsv") == ["sub-01"]


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


def test_make_cord_mask_needs_a_file_on_the_t2w_grid(tmp_path):
    t2 = write_nifti(tmp_path / "t2.nii.gz", np.zeros((4, 4, 2), np.float32))
    other = write_nifti(tmp_path / "other.nii.gz", np.ones((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="cord mask source 'model' needs a file"):
        make_cord_mask(t2, "model", None, tmp_path / "m.nii.gz", tmp_path / "m.json")
    with pytest.raises(ValueError, match="cord mask source 'atlas' needs a file"):
        make_cord_mask(t2, "atlas", str(other), tmp_path / "m.nii.gz", tmp_path / "m.json")
    with pytest.raises(ValueError, match=r"shape \(4, 4, 3\) is not the T2w grid \(4, 4, 2\)"):
        make_cord_mask(t2, "manual", str(other), tmp_path / "m.nii.gz", tmp_path / "m.json")
    assert not (tmp_path / "m.nii.gz").exists()


def test_sessions_stay_together_and_invalid_units_are_left_out(tmp_path):
    participants = tmp_path / "participants.tsv"
    participants.write_text(
        "participant_id\tpathology\n"
        + "".join(f"{s}\t{p}\n" for s, p in zip(SUBJECTS[:8], STRATA[:4] + STRATA[-4:]))
    )
    rows = ["subject\tsession\tprefix\tvalid\tn_problems"]
    for s in SUBJECTS[:8]:
        for ses in ("pre", "post"):
            rows.append(f"{s}\t{ses}\t{s}_ses-{ses}\t{s != 'sub-08'}\t0")
    (tmp_path / "validation.tsv").write_text("\n".join(rows) + "\n")
    settings = {"scheme": "kfold", "n_folds": 2, "val_fraction": 0.2, "stratify_by": "pathology", "seed": 0}
    table = make_splits(participants, tmp_path / "validation.tsv", settings, tmp_path / "splits.tsv")
    assert "sub-08" not in set(table.subject)
    assert list(pd.read_csv(tmp_path / "splits.tsv", sep="\t").columns) == ["subject", "split", "role"]
    # One row per subject and split: both sessions of a subject necessarily share the role.
    assert len(table) == 7 * 2
