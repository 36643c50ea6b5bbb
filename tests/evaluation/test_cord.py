"""Tests for spinetumor.evaluation.cord: stage-1 cord Dice and lesions inside the crop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spinetumor.evaluation.cord import cord_localisation, cord_localisation_summary
from tests.conftest import write_nifti


def cord_case(tmp_path: Path, subject: str, lesion: list[tuple[int, int, int]], box) -> dict:
    """Reference cord: 4 voxels; prediction: 2 of them plus 2 others -> Dice 0.5."""
    ref = np.zeros((4, 4, 4), np.uint8)
    ref[1, 1, 0:4] = 1
    pred = np.zeros_like(ref)
    pred[1, 1, 0:2] = 1
    pred[2, 2, 0:2] = 1
    dseg = np.zeros((4, 4, 4), np.uint8)
    for voxel in lesion:
        dseg[voxel] = 2
    return {
        "model": "cascade",
        "split": 0,
        "subject": subject,
        "pathology": "ependymoma",
        "pred_cord": write_nifti(tmp_path / f"{subject}_pred.nii.gz", pred),
        "ref_cord": write_nifti(tmp_path / f"{subject}_ref.nii.gz", ref),
        "crop_box": box,
        "preproc_dseg": write_nifti(tmp_path / f"{subject}_dseg.nii.gz", dseg),
    }


def test_cord_localisation_dice_and_crop(tmp_path):
    lesion = [(1, 1, 1), (2, 2, 2)]
    cases = [
        cord_case(tmp_path, "01", lesion, ((0, 0, 0), (3, 3, 3))),
        cord_case(tmp_path, "02", lesion, ((0, 0, 0), (2, 3, 3))),  # stop is exclusive: (2, 2, 2) is out
        cord_case(tmp_path, "03", [], ((0, 0, 0), (4, 4, 4))),
    ]
    table = cord_localisation(cases)
    assert list(table.columns) == [
        "model",
        "split",
        "subject",
        "pathology",
        "cord_dice",
        "tumour_inside_crop",
    ]
    assert table["cord_dice"].tolist() == pytest.approx([0.5, 0.5, 0.5])
    assert table["tumour_inside_crop"].tolist()[:2] == [True, False]
    assert table["tumour_inside_crop"].isna().tolist() == [False, False, True]
    summary = cord_localisation_summary(table)
    assert summary.loc[0, "model"] == "cascade"
    assert summary.loc[0, "n_cases"] == 3
    assert summary.loc[0, "n_with_lesion"] == 2
    assert summary.loc[0, "cord_dice_pct"] == pytest.approx(50.0)
    assert summary.loc[0, "tumour_inside_crop_pct"] == pytest.approx(50.0)


def test_cord_localisation_rejects_bad_box_and_grid(tmp_path):
    case = cord_case(tmp_path, "01", [(1, 1, 1)], ((0, 0), (3, 3)))
    with pytest.raises(ValueError, match="subject 01: crop_box must be two 3-tuples"):
        cord_localisation([case])
    other = write_nifti(tmp_path / "other.nii.gz", np.zeros((4, 4, 5), np.uint8))
    with pytest.raises(ValueError, match="subject 01: cord mask .* is not on the grid"):
        cord_localisation([{**case, "ref_cord": other, "crop_box": ((0, 0, 0), (3, 3, 3))}])
