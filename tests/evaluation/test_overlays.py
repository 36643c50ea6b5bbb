"""Tests for spinetumor.evaluation.overlays: sagittal slices, overlay figures and the cases they show."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spinetumor.evaluation.overlays import overlays, pick_best_median_worst, sagittal_slice
from tests.conftest import write_nifti
from tests.evaluation.figure_files import assert_figure_files


def test_pick_best_median_worst():
    dice = {"01": 0.9, "02": 0.2, "03": 0.5, "04": 0.7}
    rows = [
        {
            "model": "m",
            "split": 0,
            "subject": s,
            "pathology": "x",
            "label": "whole",
            "metric": "dice",
            "value": v,
        }
        for s, v in dice.items()
    ]
    rows.append(
        {
            "model": "m",
            "split": 0,
            "subject": "05",
            "pathology": "x",
            "label": "whole",
            "metric": "dice",
            "value": np.nan,
        }
    )
    table = pd.DataFrame(rows)
    # Ascending 0.2, 0.5, 0.7, 0.9: lower median is 0.5.
    assert pick_best_median_worst(table, "m") == [(0, "01", 0.9), (0, "03", 0.5), (0, "02", 0.2)]
    two = table[table["subject"].isin(["01", "02"])]
    assert pick_best_median_worst(two, "m") == [(0, "01", 0.9), (0, "02", 0.2)]
    with pytest.raises(ValueError, match="model other: no defined Dice for label whole"):
        pick_best_median_worst(table, "other")


def marked_volume(shape: tuple[int, int, int], voxel: tuple[int, int, int]) -> np.ndarray:
    data = np.zeros(shape, np.float32)
    data[voxel] = 1.0
    return data


@pytest.mark.parametrize(
    ("affine", "voxel"),
    [
        # RAS: the superior-anterior corner of the middle sagittal slice is (2, A max, S max).
        (np.diag([1.0, 0.5, 2.0, 1.0]), (2, 5, 6)),
        # LPI: index 0 is already anterior and superior.
        (np.diag([-1.0, -0.5, -2.0, 1.0]), (2, 0, 0)),
    ],
)
def test_sagittal_slice_puts_superior_up_and_anterior_left(affine, voxel):
    plane, aspect = sagittal_slice(marked_volume((5, 6, 7), voxel), affine)
    assert plane.shape == (7, 6)  # rows S-I, columns A-P
    assert plane[0, 0] == 1.0
    assert aspect == pytest.approx(2.0 / 0.5)


def test_sagittal_slice_finds_permuted_axes():
    # Array axes: 0 -> anterior, 1 -> superior, 2 -> right (sagittal axis last).
    affine = np.array([[0, 0, 1.0, 0], [1.0, 0, 0, 0], [0, 3.0, 0, 0], [0, 0, 0, 1]])
    plane, aspect = sagittal_slice(marked_volume((6, 7, 4), (5, 6, 2)), affine)
    assert plane.shape == (7, 6)
    assert plane[0, 0] == 1.0
    assert aspect == pytest.approx(3.0)


def test_overlays_write_one_row_per_case(tmp_path):
    shape, affine = (5, 16, 20), np.diag([1.0, 1.0, 1.0, 1.0])
    rng = np.random.default_rng(0)
    truth = np.zeros(shape, np.uint8)
    truth[2, 5:9, 8:12] = 1
    pred = np.zeros(shape, np.uint8)
    pred[2, 6:10, 8:13] = 3
    files = {
        "t2w": write_nifti(tmp_path / "t2w.nii.gz", rng.random(shape).astype(np.float32), affine),
        "t1w": write_nifti(tmp_path / "t1w.nii.gz", rng.random(shape).astype(np.float32), affine),
        "truth": write_nifti(tmp_path / "truth.nii.gz", truth, affine),
        "pred": write_nifti(tmp_path / "pred.nii.gz", pred, affine),
        "empty": write_nifti(tmp_path / "empty.nii.gz", np.zeros(shape, np.uint8), affine),
    }
    cases = [
        {"title": "best: sub-01", **files},
        {"title": "worst: sub-02", **{**files, "pred": files["empty"]}},  # nothing predicted
    ]
    out = tmp_path / "figs"
    assert_figure_files(*overlays(cases, out / "overlay.png", out / "overlay.pdf"))


def test_overlays_reject_other_grid(tmp_path):
    shape = (5, 6, 7)
    t2w = write_nifti(tmp_path / "t2w.nii.gz", np.zeros(shape, np.float32))
    other = write_nifti(tmp_path / "t1w.nii.gz", np.zeros((5, 6, 8), np.float32))
    case = {"title": "sub-01", "t2w": t2w, "t1w": other, "truth": t2w, "pred": t2w}
    with pytest.raises(ValueError, match="overlay case sub-01: .*t1w.nii.gz is not on the grid"):
        overlays([case], tmp_path / "o.png", tmp_path / "o.pdf")
