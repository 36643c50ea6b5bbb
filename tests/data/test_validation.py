"""Per-subject validation: every problem names the subject, the file and what is wrong."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest

from spinetumor.data.validation import (
    InvalidInputError,
    check_image,
    check_label,
    lesion_warnings,
    run_validation,
    summarize_reports,
    valid_prefixes,
    validate_unit,
)
from tests.conftest import write_nifti


def _unit(tmp_path, **overrides):
    t2 = write_nifti(tmp_path / "sub-01_T2w.nii.gz", np.ones((6, 6, 3), np.float32))
    t1 = write_nifti(tmp_path / "sub-01_T1w.nii.gz", np.ones((5, 7, 3), np.int16))
    cord = write_nifti(tmp_path / "sub-01_T2w_seg-manual.nii.gz", np.ones((6, 6, 3), np.uint8))
    unit = {
        "subject": "01",
        "session": None,
        "prefix": "sub-01",
        "t2w": str(t2),
        "t1w": str(t1),
        "labels": {"cord": str(cord)},
        "problems": [],
    }
    unit.update(overrides)
    return unit


def test_valid_unit_has_no_problem(tmp_path):
    assert validate_unit(_unit(tmp_path)) == []


def test_4d_with_one_volume_is_accepted_but_not_two(tmp_path):
    one = write_nifti(tmp_path / "one.nii.gz", np.zeros((4, 4, 2, 1), np.float32))
    two = write_nifti(tmp_path / "two.nii.gz", np.zeros((4, 4, 2, 2), np.float32))
    assert check_image(str(one))[1] == []
    assert "got shape (4, 4, 2, 2)" in check_image(str(two))[1][0][1]


def test_non_finite_values(tmp_path):
    data = np.ones((4, 4, 2), np.float32)
    data[0, 0, 0], data[1, 1, 1] = np.nan, np.inf
    path = write_nifti(tmp_path / "bad.nii.gz", data)
    assert check_image(str(path))[1] == [(str(path), "2 non-finite voxel values (NaN or inf)")]


def test_unreadable_and_truncated_files(tmp_path):
    junk = tmp_path / "junk.nii.gz"
    junk.write_bytes(b"not a nifti")
    assert "not a readable NIfTI file" in check_image(str(junk))[1][0][1]
    good = write_nifti(
        tmp_path / "good.nii.gz", np.random.default_rng(0).random((20, 20, 10)).astype(np.float32)
    )
    raw = gzip.decompress(good.read_bytes())
    truncated = tmp_path / "truncated.nii.gz"
    truncated.write_bytes(gzip.compress(raw[: len(raw) // 2]))
    problems = check_image(str(truncated))[1]
    assert problems and problems[0][0] == str(truncated)


def test_label_off_grid_and_unknown_values(tmp_path):
    ref = write_nifti(tmp_path / "t2.nii.gz", np.zeros((6, 6, 3), np.float32))
    import nibabel as nib

    ref_img = nib.load(str(ref))
    shifted = np.eye(4)
    shifted[0, 3] = 0.5
    off = write_nifti(tmp_path / "off.nii.gz", np.zeros((6, 6, 3), np.uint8), shifted)
    assert "not on the T2w grid" in check_label(str(off), "dseg", ref_img)[0][1]
    other_shape = write_nifti(tmp_path / "shape.nii.gz", np.zeros((6, 6, 4), np.uint8))
    assert "differs from the T2w grid" in check_label(str(other_shape), "dseg", ref_img)[0][1]
    dseg = np.zeros((6, 6, 3), np.uint8)
    dseg[0, 0, 0], dseg[1, 1, 1] = 3, 7
    bad_values = write_nifti(tmp_path / "values.nii.gz", dseg)
    assert check_label(str(bad_values), "dseg", ref_img) == [
        (str(bad_values), "unknown label values [7] for a dseg label (allowed: [0, 1, 2, 3])")
    ]
    # 3 is a valid dseg value but not a valid binary-mask value.
    dseg[1, 1, 1] = 0
    three = write_nifti(tmp_path / "three.nii.gz", dseg)
    assert check_label(str(three), "dseg", ref_img) == []
    assert "unknown label values [3] for a cord label" in check_label(str(three), "cord", ref_img)[0][1]
    fractional = write_nifti(tmp_path / "frac.nii.gz", np.full((6, 6, 3), 0.5, np.float32))
    assert check_label(str(fractional), "cord", ref_img)[0][1] == "label has non-integer values"


def test_missing_contrast_and_missing_cord_source(tmp_path):
    unit = _unit(tmp_path, t1w=None, labels={})
    messages = [m for _, m in validate_unit(unit)]
    assert "T1w: missing" in messages
    assert "no spinal cord mask and no centreline label found" in messages
    assert [m for _, m in validate_unit(unit, require_cord=False)] == ["T1w: missing"]


def test_error_mode_raises_with_subject_file_and_problem_and_writes_nothing(tmp_path):
    data = np.ones((6, 6, 3), np.float32)
    data[2, 2, 2] = np.nan
    bad = write_nifti(tmp_path / "sub-01_T1w_bad.nii.gz", data)
    report = tmp_path / "out" / "report.json"
    with pytest.raises(InvalidInputError) as err:
        run_validation(_unit(tmp_path, t1w=str(bad)), report, on_invalid="error")
    assert f"sub-01: {bad}: 1 non-finite voxel values" in str(err.value)
    assert not report.exists()


def test_skip_mode_records_and_summaries(tmp_path):
    good = run_validation(_unit(tmp_path), tmp_path / "good.json", on_invalid="skip")
    assert good["valid"]
    other = tmp_path / "other"
    other.mkdir()
    bad_unit = _unit(other, subject="02", prefix="sub-02", t1w=None)
    bad = run_validation(bad_unit, tmp_path / "bad.json", on_invalid="skip")
    assert not bad["valid"] and bad["problems"] == [{"file": "", "problem": "T1w: missing"}]
    table = summarize_reports(
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
        run_validation(_unit(tmp_path), tmp_path / "r.json", on_invalid="warn")


def _with_xforms(path, data, sform, qform):
    """Write `data` with the given sform and qform (code 1 each; None = not set)."""
    import nibabel as nib

    img = nib.Nifti1Image(data, sform if sform is not None else qform)
    img.set_sform(sform, code=1 if sform is not None else 0)
    img.set_qform(qform, code=1 if qform is not None else 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(img, str(path))
    return str(path)


def _rotation_z(degrees):
    theta = np.radians(degrees)
    rot = np.eye(4)
    rot[:2, :2] = [[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]]
    return rot


def test_sheared_voxel_axes_are_rejected_naming_the_file(tmp_path):
    data = np.ones((6, 6, 3), np.float32)
    sheared = np.diag([0.5, 0.5, 3.0, 1.0])
    sheared[0, 1] = 0.05  # axis 1 leans 5.7 degrees towards axis 0
    path = _with_xforms(tmp_path / "sheared.nii.gz", data, sheared, None)
    problems = check_image(path)[1]
    assert len(problems) == 1 and problems[0][0] == path
    assert problems[0][1].startswith(
        "voxel axes are not orthogonal (sheared voxel-to-world matrix: largest axis "
        "cosine 0.0995, 5.71 degrees from square; tolerance 0.0001)"
    )
    # The same shear on a label is rejected too (a tool could read it on another grid).
    assert "voxel axes are not orthogonal" in check_label(path, "dseg", None)[0][1]
    # float32-level deviations of real headers pass.
    sheared[0, 1] = 1e-6
    assert check_image(_with_xforms(tmp_path / "fine.nii.gz", data, sheared, None))[1] == []


def test_sform_and_qform_that_disagree_are_rejected(tmp_path):
    data = np.ones((6, 6, 3), np.float32)
    affine = np.diag([0.5, 0.5, 3.0, 1.0])
    shifted = affine.copy()
    shifted[:3, 3] = [2.0, 0.0, 0.0]
    path = _with_xforms(tmp_path / "shifted.nii.gz", data, affine, shifted)
    assert check_image(path)[1] == [
        (
            path,
            (
                "sform (code 1) and qform (code 1) disagree (origins 2 mm apart; tolerance 0.01 mm, 0.01 degrees): tools "
                "that read the qform and those that read the sform would place the voxels differently; make them equal "
                "or unset one"
            ),
        )
    ]
    rotated = _with_xforms(tmp_path / "rotated.nii.gz", data, affine, _rotation_z(1.0) @ affine)
    assert "disagree (axes rotated by 1 degrees;" in check_image(rotated)[1][0][1]
    mirrored = _with_xforms(
        tmp_path / "mirrored.nii.gz", data, affine, np.diag([-1.0, 1.0, 1.0, 1.0]) @ affine
    )
    assert "one is the mirror image of the other" in check_image(mirrored)[1][0][1]
    # Within tolerance, or with only one of them set, nothing to say.
    tiny = affine.copy()
    tiny[:3, 3] = [0.001, 0.0, 0.0]
    assert (
        check_image(_with_xforms(tmp_path / "tiny.nii.gz", data, affine, _rotation_z(0.001) @ tiny))[1] == []
    )
    assert check_image(_with_xforms(tmp_path / "qonly.nii.gz", data, None, shifted))[1] == []
    # In a unit's report the problem names the unit and the file.
    unit = _unit(tmp_path, t1w=path)
    with pytest.raises(
        InvalidInputError, match=f"sub-01: {path}: sform \\(code 1\\) and qform \\(code 1\\) disagree"
    ):
        run_validation(unit, tmp_path / "report.json", on_invalid="error")


def test_real_scanner_headers_pass_the_geometry_checks(real_spine):
    files = sorted(str(p) for p in real_spine.rglob("*.nii.gz"))
    assert len(files) == 9
    assert [(f, check_image(f)[1]) for f in files] == [(f, []) for f in files]


def test_empty_lesion_label_of_a_unit_not_declared_healthy_is_a_warning(tmp_path):
    empty = write_nifti(tmp_path / "sub-01_T2w_dseg.nii.gz", np.zeros((6, 6, 3), np.uint8))
    unit = _unit(tmp_path)
    unit["labels"]["dseg"] = str(empty)
    report = run_validation({**unit, "healthy": False}, tmp_path / "tumour.json", on_invalid="error")
    assert report["valid"]
    warning = (
        "lesion label is empty, but sub-01 is not declared healthy (labels.lesions.healthy): "
        "it counts as a subject without tumour in every metric"
    )
    assert report["warnings"] == [{"file": str(empty), "warning": warning}]
    other = tmp_path / "other"
    other.mkdir()
    healthy = _unit(other, subject="02", prefix="sub-02", healthy=True)
    healthy["labels"]["dseg"] = str(empty)
    assert run_validation(healthy, tmp_path / "healthy.json", on_invalid="error")["warnings"] == []
    summarize_reports(
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
    assert lesion_warnings(unit) == []


def test_invalid_folders_are_listed_with_the_excluded_units(tmp_path):
    run_validation(_unit(tmp_path), tmp_path / "good.json", on_invalid="skip")
    folder = {
        "subject": "sub-c-d",
        "session": "n/a",
        "file": "/data/sub-c-d",
        "reason": "folder label 'c-d' ...",
    }
    summarize_reports(
        [str(tmp_path / "good.json")],
        tmp_path / "validation.tsv",
        tmp_path / "excluded.tsv",
        invalid_folders=[folder],
    )
    excluded = pd.read_csv(tmp_path / "excluded.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert excluded.to_dict("records") == [folder]
    assert valid_prefixes(tmp_path / "validation.tsv") == ["sub-01"]
