"""Checks of one input file: every problem names the file and what is wrong."""

from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np

from spinetumor.data.checks import LABEL_VALUES, check_image, check_label, read_label
from spinetumor.data.validation import format_problems, validate_unit
from tests.conftest import write_nifti


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


def test_label_values_follow_the_project_labels():
    assert LABEL_VALUES["dseg"] == {0, 1, 2, 3}
    assert {
        kind: sorted(LABEL_VALUES[kind]) for kind in ("tumor", "edema", "cavity", "cord", "centerline")
    } == {
        "tumor": [0, 1],
        "edema": [0, 1],
        "cavity": [0, 1],
        "cord": [0, 1],
        "centerline": [0, 1],
    }


def test_read_label_says_whether_any_voxel_is_labelled(tmp_path):
    ref = nib.load(str(write_nifti(tmp_path / "t2.nii.gz", np.zeros((6, 6, 3), np.float32))))
    empty = write_nifti(tmp_path / "empty.nii.gz", np.zeros((6, 6, 3), np.uint8))
    assert read_label(str(empty), "dseg", ref) == ([], False)
    lesion = np.zeros((6, 6, 3), np.float32)
    lesion[1, 2, 0] = 2.0
    assert read_label(str(write_nifti(tmp_path / "lesion.nii.gz", lesion)), "dseg", ref) == ([], True)
    # Values not reached (here off the grid): no answer, only the problem.
    shape = write_nifti(tmp_path / "shape.nii.gz", np.ones((6, 6, 4), np.uint8))
    problems, found = read_label(str(shape), "dseg", ref)
    assert found is None and "differs from the T2w grid" in problems[0][1]
    # Unknown values are a problem, yet the values were read.
    lesion[1, 2, 0] = 9.0
    problems, found = read_label(str(write_nifti(tmp_path / "nine.nii.gz", lesion)), "dseg", ref)
    assert found is True and "unknown label values [9]" in problems[0][1]


def _with_xforms(path, data, sform, qform):
    """Write `data` with the given sform and qform (code 1 each; None = not set)."""
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
    t2 = write_nifti(tmp_path / "sub-01_T2w.nii.gz", data)
    unit = {"prefix": "sub-01", "t2w": str(t2), "t1w": path, "labels": {}, "problems": []}
    report = format_problems("sub-01", validate_unit(unit, require_cord=False))
    assert report.startswith(f"sub-01: {path}: sform (code 1) and qform (code 1) disagree")


def test_real_scanner_headers_pass_the_geometry_checks(real_spine):
    files = sorted(str(p) for p in real_spine.rglob("*.nii.gz"))
    assert len(files) == 9
    assert [(f, check_image(f)[1]) for f in files] == [(f, []) for f in files]
