"""Label path templates: which files a unit's labels are expected in."""

from __future__ import annotations

import pytest

from spinetumor import LABELS
from spinetumor.data.labelfiles import (
    LESION_LABEL_KINDS,
    LESION_STRUCTURES,
    label_templates,
    resolve_label_paths,
)

PER_STRUCTURE = {
    "lesions": {
        "format": "per_structure",
        "per_structure": {"tumor": "{prefix}_tumor.nii.gz", "cavity": "{prefix}_cavity.nii.gz"},
    },
    "cord": "{subpath}/{prefix}_cord.nii.gz",
}


def test_lesion_kinds_follow_the_project_labels():
    assert LESION_STRUCTURES == ("tumor", "edema", "cavity")
    assert [LABELS[name] for name in LESION_STRUCTURES] == [1, 2, 3]
    assert LESION_LABEL_KINDS == ("dseg", "tumor", "edema", "cavity")


def test_label_templates_per_lesion_format():
    dseg = {"lesions": {"dseg": "{prefix}_dseg.nii.gz"}, "centerline": "{prefix}_line.nii.gz"}
    assert label_templates(dseg) == {
        "dseg": "{prefix}_dseg.nii.gz",
        "cord": None,
        "centerline": "{prefix}_line.nii.gz",
    }
    assert label_templates(PER_STRUCTURE) == {
        "tumor": "{prefix}_tumor.nii.gz",
        "edema": None,
        "cavity": "{prefix}_cavity.nii.gz",
        "cord": "{subpath}/{prefix}_cord.nii.gz",
        "centerline": None,
    }
    assert label_templates({"lesions": {"format": "none"}}) == {"cord": None, "centerline": None}


def test_unknown_lesion_format_is_rejected():
    with pytest.raises(ValueError, match="unknown value 'masks'"):
        label_templates({"lesions": {"format": "masks"}})


def test_resolve_label_paths_keeps_the_files_that_exist(tmp_path):
    (tmp_path / "sub-01" / "ses-02").mkdir(parents=True)
    (tmp_path / "sub-01_ses-02_tumor.nii.gz").touch()
    (tmp_path / "sub-01" / "ses-02" / "sub-01_ses-02_cord.nii.gz").touch()
    found = resolve_label_paths(tmp_path, label_templates(PER_STRUCTURE), "sub-01/ses-02", "sub-01_ses-02")
    assert found == {
        "tumor": str(tmp_path / "sub-01_ses-02_tumor.nii.gz"),
        "cord": str(tmp_path / "sub-01" / "ses-02" / "sub-01_ses-02_cord.nii.gz"),
    }
