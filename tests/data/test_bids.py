"""Discovery of units (subject/session) and their files with pybids and templates."""

from __future__ import annotations

from spinetumor.data.bids import demo_units, discover_units, invalid_folders
from tests.conftest import make_bids

CONTRASTS = {"T2w": {"suffix": "T2w"}, "T1w": {"suffix": "T1w", "ceagent": "gadolinium"}}
LABELS_DSEG = {
    "dir": "derivatives/labels",
    "lesions": {
        "format": "dseg",
        "dseg": "{subpath}/anat/{prefix}_T2w_dseg.nii.gz",
        "healthy": {"values": ["healthy", "control"]},
    },
    "cord": "{subpath}/anat/{prefix}_T2w_seg-manual.nii.gz",
    "centerline": "{subpath}/anat/{prefix}_T2w_centerline-manual.nii.gz",
}
LABELS_PER_STRUCTURE = {
    **LABELS_DSEG,
    "lesions": {
        **LABELS_DSEG["lesions"],
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
    assert (
        units[0].labels["cord"].endswith("labels/sub-01/ses-post/anat/sub-01_ses-post_T2w_seg-manual.nii.gz")
    )
    only_pre = discover_units(root, CONTRASTS, LABELS_DSEG, sessions=["ses-pre"])
    assert [u.prefix for u in only_pre] == ["sub-01_ses-pre", "sub-02_ses-pre"]


def test_per_structure_labels_ivadomed_convention(tmp_path):
    root = make_bids(tmp_path / "ds", {"01": [None]}, lesions="per_structure")
    (u,) = discover_units(root, CONTRASTS, LABELS_PER_STRUCTURE)
    assert set(u.labels) == {"tumor", "edema", "cord"}  # no cavity file: that structure is absent
    assert u.labels["tumor"].endswith("sub-01_T2w_seg-tumor.nii.gz")


def test_include_exclude(tmp_path):
    root = make_bids(tmp_path / "ds", {"01": [None], "02": [None], "03": [None]})
    assert [
        u.subject for u in discover_units(root, CONTRASTS, LABELS_DSEG, include_subjects=["sub-01", "03"])
    ] == ["01", "03"]
    assert [u.subject for u in discover_units(root, CONTRASTS, LABELS_DSEG, exclude_subjects=["02"])] == [
        "01",
        "03",
    ]


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
    (root / "sub-bad_name").mkdir()  # not a BIDS subject label: not a unit (an invalid folder)
    (root / "sub-03.txt").write_text("not a folder")
    units = {u.subject: u for u in discover_units(root, CONTRASTS, LABELS_DSEG)}
    assert sorted(units) == ["01", "02"]
    assert not units["01"].problems
    assert units["02"].t2w is None
    assert [p.split(":")[0] for p in units["02"].problems] == ["T2w", "T1w", "lesions"]
    assert [row["subject"] for row in invalid_folders(root)] == ["sub-bad_name"]


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


def test_demo_units_need_no_files(tmp_path):
    units = demo_units(tmp_path / "nowhere", ["001", "002"])
    assert [u.prefix for u in units] == ["sub-001", "sub-002"]
    assert units[1].t1w.endswith("sub-002/anat/sub-002_ce-gadolinium_T1w.nii.gz")
    assert set(units[0].labels) == {"dseg", "cord", "centerline"}


def _participants(root, rows):
    lines = ["participant_id\tpathology", *(f"{sub}\t{value}" for sub, value in rows)]
    (root / "participants.tsv").write_text("\n".join(lines) + "\n")


def test_missing_lesion_label_is_invalid_unless_declared_healthy(tmp_path):
    root = make_bids(tmp_path / "ds", {"01": [None], "02": [None], "03": [None], "04": [None]})
    for sub in ("01", "02", "03", "04"):
        (root / f"derivatives/labels/sub-{sub}/anat/sub-{sub}_T2w_dseg.nii.gz").unlink()
    # Healthy values are compared case-insensitively, surrounding spaces ignored; sub-04 is not listed.
    _participants(root, [("sub-01", "astrocytoma"), ("sub-02", "Healthy"), ("sub-03", " CONTROL ")])
    tsv = root / "participants.tsv"
    units = {
        u.subject: u
        for u in discover_units(
            root, CONTRASTS, LABELS_DSEG, participants_tsv=tsv, healthy_column="pathology"
        )
    }
    expected = root / "derivatives/labels/sub-01/anat/sub-01_T2w_dseg.nii.gz"
    assert units["01"].problems == (
        f"lesions: no lesion label file (expected {expected}), and sub-01 is not declared healthy "
        f"('pathology' is 'astrocytoma' in {tsv}; healthy values: control, healthy)",
    )
    assert not units["01"].healthy
    assert units["02"].healthy and units["03"].healthy
    assert not units["02"].problems and not units["03"].problems and "labels" in units["02"].as_dict()
    expected = root / "derivatives/labels/sub-04/anat/sub-04_T2w_dseg.nii.gz"
    assert units["04"].problems == (
        f"lesions: no lesion label file (expected {expected}), and sub-04 is not "
        f"declared healthy (no 'pathology' value in {tsv}; healthy values: control, healthy)",
    )
    # Without a declaring column nobody is healthy; the message says where a declaration would go.
    (u1, *_) = discover_units(root, CONTRASTS, LABELS_DSEG, participants_tsv=tsv, healthy_column="diagnosis")
    assert (
        f"no 'diagnosis' value in {tsv}: no 'diagnosis' column (columns: participant_id, pathology);"
        in u1.problems[0]
    )
    tsv.unlink()
    (u1, *_) = discover_units(root, CONTRASTS, LABELS_DSEG, participants_tsv=tsv, healthy_column="pathology")
    assert f"no 'pathology' value in {tsv}: participants table not found;" in u1.problems[0]
    # A study without lesion labels declares every unit healthy.
    none = {**LABELS_DSEG, "lesions": {"format": "none"}}
    assert all(u.healthy and not u.problems for u in discover_units(root, CONTRASTS, none))


def test_missing_per_structure_labels_name_every_expected_file(tmp_path):
    root = make_bids(tmp_path / "ds", {"01": [None], "02": [None]}, lesions="per_structure")
    for name in ("tumor", "edema"):
        (root / f"derivatives/labels/sub-01/anat/sub-01_T2w_seg-{name}.nii.gz").unlink()
    tsv = root / "participants.tsv"
    (u1, u2) = discover_units(
        root, CONTRASTS, LABELS_PER_STRUCTURE, participants_tsv=tsv, healthy_column="pathology"
    )
    labels = root / "derivatives/labels/sub-01/anat"
    assert u1.problems[0].startswith(
        f"lesions: no lesion label file (expected {labels}/sub-01_T2w_seg-tumor.nii.gz, "
        f"{labels}/sub-01_T2w_seg-edema.nii.gz, {labels}/sub-01_T2w_seg-cavity.nii.gz), and sub-01 is not declared"
    )
    assert not u2.problems  # one structure file is enough


def test_folders_whose_label_is_not_alphanumeric_are_invalid_and_lend_no_file(tmp_path):
    root = make_bids(tmp_path / "ds", {"c": [None], "01": ["pre"]})
    t2w = root / "sub-c/anat/sub-c_T2w.nii.gz"
    # sub-c has no T2w of its own; pybids parses sub-c-d's as subject c, sub-c_x's too.
    for folder in ("sub-c-d", "sub-c_x"):
        (root / folder / "anat").mkdir(parents=True)
        (root / folder / "anat" / f"{folder}_T2w.nii.gz").write_bytes(t2w.read_bytes())
    t2w.unlink()
    ses = root / "sub-01/ses-a.b/anat"
    ses.mkdir(parents=True)
    pre = root / "sub-01/ses-pre/anat/sub-01_ses-pre_T2w.nii.gz"
    (ses / "sub-01_ses-a.b_T2w.nii.gz").write_bytes(pre.read_bytes())
    units = {u.prefix: u for u in discover_units(root, CONTRASTS, LABELS_DSEG)}
    assert sorted(units) == ["sub-01_ses-pre", "sub-c"]  # no sub-01_ses-a
    assert units["sub-c"].t2w is None and units["sub-c"].problems[0].startswith("T2w: no file matches")
    assert units["sub-01_ses-pre"].t2w.endswith("sub-01/ses-pre/anat/sub-01_ses-pre_T2w.nii.gz")

    def row(subject, session, folder, label):
        reason = (
            f"folder label {label!r} is not a BIDS label (letters and digits only); "
            "none of its files is used: rename the folder and its files"
        )
        return {"subject": subject, "session": session, "file": str(root / folder), "reason": reason}

    assert invalid_folders(root) == [
        row("sub-01", "a.b", "sub-01/ses-a.b", "a.b"),
        row("sub-c-d", "n/a", "sub-c-d", "c-d"),
        row("sub-c_x", "n/a", "sub-c_x", "c_x"),
    ]
    # The subject and session selection leaves folders out as it does units.
    assert invalid_folders(root, exclude_subjects=["sub-c-d", "c_x"], sessions=["pre"]) == []
    assert [r["subject"] for r in invalid_folders(root, include_subjects=["c-d"])] == ["sub-c-d"]
