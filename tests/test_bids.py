"""Discovery of units (subject/session) and their files with pybids and templates."""

from __future__ import annotations

import pytest

from conftest import make_bids
from spinetumor.bids import demo_units, discover_units, label_templates, read_participants

CONTRASTS = {"T2w": {"suffix": "T2w"}, "T1w": {"suffix": "T1w", "ceagent": "gadolinium"}}
LABELS_DSEG = {
    "dir": "derivatives/labels",
    "lesions": {"format": "dseg", "dseg": "{subpath}/anat/{prefix}_T2w_dseg.nii.gz"},
    "cord": "{subpath}/anat/{prefix}_T2w_seg-manual.nii.gz",
    "centerline": "{subpath}/anat/{prefix}_T2w_centerline-manual.nii.gz",
}
LABELS_PER_STRUCTURE = {
    **LABELS_DSEG,
    "lesions": {
        "format": "per_structure",
        "per_structure": {
            "tumor": "{subpath}/anat/{prefix}_T2w_seg-tumor.nii.gz",
            "edema": "{subpath}/anat/{prefix}_T2w_seg-edema.nii.gz",
            "cavity": "{subpath}/anat/{prefix}_T2w_seg-cavity.nii.gz",
        },
    },
}


def test_units_without_sessions_find_images_and_dseg(tmp_path):
    root = make_bids(tmp_path / "ds", {"01": [None], "02": [None]})
    units = discover_units(root, CONTRASTS, LABELS_DSEG)
    assert [u.prefix for u in units] == ["sub-01", "sub-02"]
    u = units[0]
    assert u.subpath == "sub-01" and u.session is None and not u.problems
    assert u.t2w.endswith("sub-01/anat/sub-01_T2w.nii.gz")
    assert u.t1w.endswith("sub-01/anat/sub-01_ce-gadolinium_T1w.nii.gz")
    assert set(u.labels) == {"dseg", "cord"}  # no centreline file in this dataset
    assert u.labels["dseg"].endswith("derivatives/labels/sub-01/anat/sub-01_T2w_dseg.nii.gz")


def test_sessions_are_units_and_can_be_selected(tmp_path):
    root = make_bids(tmp_path / "ds", {"01": ["pre", "post"], "02": ["pre"]})
    units = discover_units(root, CONTRASTS, LABELS_DSEG)
    assert [u.prefix for u in units] == ["sub-01_ses-post", "sub-01_ses-pre", "sub-02_ses-pre"]
    assert units[0].subpath == "sub-01/ses-post"
    assert units[0].t2w.endswith("sub-01/ses-post/anat/sub-01_ses-post_T2w.nii.gz")
    assert units[0].labels["cord"].endswith("labels/sub-01/ses-post/anat/sub-01_ses-post_T2w_seg-manual.nii.gz")
    only_pre = discover_units(root, CONTRASTS, LABELS_DSEG, sessions=["ses-pre"])
    assert [u.prefix for u in only_pre] == ["sub-01_ses-pre", "sub-02_ses-pre"]


def test_per_structure_labels_ivadomed_convention(tmp_path):
    root = make_bids(tmp_path / "ds", {"01": [None]}, lesions="per_structure")
    (u,) = discover_units(root, CONTRASTS, LABELS_PER_STRUCTURE)
    assert set(u.labels) == {"tumor", "edema", "cord"}  # no cavity file: that structure is absent
    assert u.labels["tumor"].endswith("sub-01_T2w_seg-tumor.nii.gz")


def test_include_exclude(tmp_path):
    root = make_bids(tmp_path / "ds", {"01": [None], "02": [None], "03": [None]})
    assert [u.subject for u in discover_units(root, CONTRASTS, LABELS_DSEG, include_subjects=["sub-01", "03"])] == ["01", "03"]
    assert [u.subject for u in discover_units(root, CONTRASTS, LABELS_DSEG, exclude_subjects=["02"])] == ["01", "03"]


def test_missing_or_ambiguous_contrast_is_a_problem_not_a_crash(tmp_path):
    root = make_bids(tmp_path / "ds", {"01": [None], "02": [None]})
    (root / "sub-01/anat/sub-01_ce-gadolinium_T1w.nii.gz").unlink()
    extra = root / "sub-02/anat/sub-02_ce-gadolinium_acq-fs_T1w.nii.gz"
    extra.write_bytes((root / "sub-02/anat/sub-02_ce-gadolinium_T1w.nii.gz").read_bytes())
    units = {u.subject: u for u in discover_units(root, CONTRASTS, LABELS_DSEG)}
    assert units["01"].t1w is None and "T1w: no file matches" in units["01"].problems[0]
    assert units["02"].t1w is None and "2 files match" in units["02"].problems[0]
    # An extra entity in config picks one of the two.
    picky = {**CONTRASTS, "T1w": {**CONTRASTS["T1w"], "acquisition": "fs"}}
    assert discover_units(root, picky, LABELS_DSEG, include_subjects=["02"])[0].t1w == str(extra)


def test_subject_folder_without_images_is_a_unit_with_problems(tmp_path):
    root = make_bids(tmp_path / "ds", {"01": [None]})
    (root / "sub-02" / "anat").mkdir(parents=True)
    (root / "sub-bad_name").mkdir()  # not a BIDS subject label: not a unit
    (root / "sub-03.txt").write_text("not a folder")
    units = {u.subject: u for u in discover_units(root, CONTRASTS, LABELS_DSEG)}
    assert sorted(units) == ["01", "02"]
    assert not units["01"].problems
    assert units["02"].t2w is None and len(units["02"].problems) == 2


def test_real_spine_without_contrast_agent(real_spine):
    contrasts = {"T2w": {"suffix": "T2w"}, "T1w": {"suffix": "T1w", "ceagent": None}}
    units = discover_units(real_spine, contrasts, {**LABELS_DSEG, "lesions": {"format": "none"}})
    assert [u.subject for u in units] == ["errsm30", "unf01"]
    assert all(not u.problems for u in units)
    errsm = units[0]
    assert set(errsm.labels) == {"cord", "centerline"}
    assert errsm.labels["centerline"].endswith("sub-errsm30_T2w_centerline-manual.nii.gz")
    # With the default contrast agent filter, the real (non-enhanced) T1w is not taken.
    strict = discover_units(real_spine, CONTRASTS, LABELS_DSEG)
    assert all(u.t1w is None for u in strict)


def test_unknown_lesion_format_is_rejected():
    with pytest.raises(ValueError, match="unknown value 'masks'"):
        label_templates({"lesions": {"format": "masks"}})


def test_demo_units_need_no_files(tmp_path):
    units = demo_units(tmp_path / "nowhere", ["001", "002"])
    assert [u.prefix for u in units] == ["sub-001", "sub-002"]
    assert units[1].t1w.endswith("sub-002/anat/sub-002_ce-gadolinium_T1w.nii.gz")
    assert set(units[0].labels) == {"dseg", "cord", "centerline"}


def test_read_participants_checks_columns(tmp_path):
    path = tmp_path / "participants.tsv"
    path.write_text("participant_id\tpathology\n01\tependymoma\nsub-02\tn/a\n")
    table = read_participants(path, "pathology")
    assert list(table.index) == ["sub-01", "sub-02"]
    assert table.at["sub-01", "pathology"] == "ependymoma"
    assert table["pathology"].isna().tolist() == [False, True]
    with pytest.raises(ValueError, match="no 'tumour_type' column"):
        read_participants(path, "tumour_type")
