"""Per-unit validation: every problem names the subject, the file and what is wrong."""

from __future__ import annotations

import numpy as np

from spinetumor.data.validation import (
    UnitCheck,
    format_problems,
    inspect_unit,
    lesion_warnings,
    unit_report,
    validate_unit,
    validation_tables,
)
from tests.conftest import write_nifti
from tests.data.units import valid_unit


def test_valid_unit_has_no_problem(tmp_path):
    assert validate_unit(valid_unit(tmp_path)) == []


def test_missing_contrast_and_missing_cord_source(tmp_path):
    unit = valid_unit(tmp_path, t1w=None, labels={})
    messages = [m for _, m in validate_unit(unit)]
    assert "T1w: missing" in messages
    assert "no spinal cord mask and no centreline label found" in messages
    assert [m for _, m in validate_unit(unit, require_cord=False)] == ["T1w: missing"]


def test_inspect_unit_reads_whether_each_lesion_label_holds_a_lesion(tmp_path):
    unit = valid_unit(tmp_path)
    dseg = np.zeros((6, 6, 3), np.uint8)
    unit["labels"]["dseg"] = str(write_nifti(tmp_path / "dseg.nii.gz", dseg))
    dseg[2, 2, 1] = 3
    unit["labels"]["tumor"] = str(write_nifti(tmp_path / "tumor.nii.gz", (dseg > 0).astype(np.uint8)))
    checked = inspect_unit(unit)
    # The cord mask is checked but is no lesion label.
    assert checked == UnitCheck([], {unit["labels"]["dseg"]: False, unit["labels"]["tumor"]: True})
    assert validate_unit(unit) == checked.problems


def test_lesion_warnings_use_what_inspection_found():
    unit = {"prefix": "sub-01", "labels": {"dseg": "d.nii.gz", "cord": "c.nii.gz"}, "healthy": False}
    (warning,) = lesion_warnings(unit, {"d.nii.gz": False})
    assert warning == (
        "d.nii.gz",
        "lesion label is empty, but sub-01 is not declared healthy (labels.lesions.healthy): "
        "it counts as a subject without tumour in every metric",
    )
    assert lesion_warnings(unit, {"d.nii.gz": True}) == []
    assert lesion_warnings({**unit, "healthy": True}, {"d.nii.gz": False}) == []
    assert lesion_warnings({**unit, "labels": {"cord": "c.nii.gz"}}, {}) == []
    per_structure = {**unit, "labels": {"tumor": "t.nii.gz", "edema": "e.nii.gz"}}
    assert lesion_warnings(per_structure, {"t.nii.gz": False, "e.nii.gz": True}) == []
    assert (
        lesion_warnings(per_structure, {"t.nii.gz": False, "e.nii.gz": False})[0][0] == "e.nii.gz, t.nii.gz"
    )


def test_format_problems_names_the_unit_and_the_file():
    problems = [("", "T1w: missing"), ("a.nii.gz", "label has non-integer values")]
    assert (
        format_problems("sub-01", problems)
        == "sub-01: T1w: missing\nsub-01: a.nii.gz: label has non-integer values"
    )


def test_validation_tables_list_every_unit_then_what_is_left_out():
    unit = {"subject": "01", "session": None, "prefix": "sub-01"}
    good = unit_report(unit, [], [("d.nii.gz", "empty")])
    bad = unit_report(
        {**unit, "subject": "02", "session": "pre", "prefix": "sub-02_ses-pre"}, [("", "x"), ("f", "y")], []
    )
    assert good == {
        **unit,
        "valid": True,
        "problems": [],
        "warnings": [{"file": "d.nii.gz", "warning": "empty"}],
    }
    folder = {"subject": "sub-c-d", "session": "n/a", "file": "/data/sub-c-d", "reason": "folder"}
    table, excluded = validation_tables([good, bad], [folder])
    assert table.to_dict("records") == [
        {
            "subject": "sub-01",
            "session": "n/a",
            "prefix": "sub-01",
            "valid": True,
            "n_problems": 0,
            "n_warnings": 1,
            "warnings": "d.nii.gz: empty",
        },
        {
            "subject": "sub-02",
            "session": "pre",
            "prefix": "sub-02_ses-pre",
            "valid": False,
            "n_problems": 2,
            "n_warnings": 0,
            "warnings": "n/a",
        },
    ]
    assert excluded.to_dict("records") == [
        {"subject": "sub-02", "session": "pre", "file": "n/a", "reason": "x"},
        {"subject": "sub-02", "session": "pre", "file": "f", "reason": "y"},
        folder,
    ]
    empty, nothing = validation_tables([])
    assert list(empty.columns) == [
        "subject",
        "session",
        "prefix",
        "valid",
        "n_problems",
        "n_warnings",
        "warnings",
    ]
    assert list(nothing.columns) == ["subject", "session", "file", "reason"] and nothing.empty
