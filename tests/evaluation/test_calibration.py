"""Calibration: ECE, MCE and Brier against hand-computed values, the lesion region, the pooled tables."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from spinetumor.evaluation.calibration import (
    bin_counts,
    calibration_tables,
    expected_calibration_error,
    lesion_region,
    reliability_figure,
)


def test_ece_mce_and_brier_by_hand():
    # Bins of width 0.1: [0.05, 0.05] with one positive (gap 0.45), [0.55] negative (gap 0.55),
    # [0.95, 0.95] both positive (gap 0.05).
    prob = np.array([0.05, 0.05, 0.95, 0.95, 0.55])
    truth = np.array([0, 1, 1, 1, 0], bool)
    scores = expected_calibration_error(bin_counts(prob, truth))
    assert scores["ece"] == pytest.approx(2 / 5 * 0.45 + 2 / 5 * 0.05 + 1 / 5 * 0.55)
    assert scores["mce"] == pytest.approx(0.55) and scores["n_voxels"] == 5
    assert scores["brier"] == pytest.approx(np.mean((prob - truth) ** 2))
    # 1.0 falls in the last bin, 0.0 in the first.
    assert bin_counts(np.array([0.0, 1.0]), np.array([False, True]))[[0, -1], 0].tolist() == [1, 1]


def test_a_calibrated_model_has_a_small_ece_and_an_overconfident_one_a_large_one():
    rng = np.random.default_rng(0)
    prob = rng.random(200_000)
    calibrated = rng.random(prob.size) < prob  # P(y | p) = p
    coin = rng.random(prob.size) < 0.5  # P(y | p) = 0.5 whatever p says
    assert expected_calibration_error(bin_counts(prob, calibrated))["ece"] < 0.01
    assert expected_calibration_error(bin_counts(prob, coin))["ece"] == pytest.approx(0.25, abs=0.01)
    assert np.isnan(expected_calibration_error(bin_counts(prob[:0], coin[:0]))["ece"])


def test_the_lesion_region_is_both_lesions_box_grown_by_the_margin_in_mm():
    truth = np.zeros((40, 40, 10), bool)
    truth[10:12, 10:12, 5] = True
    probs = np.zeros((40, 40, 10, 2), np.float32)
    probs[20, 20, 5, 1] = 0.7  # a predicted voxel beyond the reference
    affine = np.diag([1.0, 2.0, 5.0, 1.0])  # 10 mm: 10, 5 and 2 voxels
    region = lesion_region(truth, probs, affine)
    expected = np.zeros_like(truth)
    expected[0:31, 5:26, 3:8] = True
    assert np.array_equal(region, expected)
    assert not lesion_region(np.zeros_like(truth), probs * 0, affine).any()


def _case(tmp_path, name, dseg, probs, affine=np.eye(4)):
    nib.save(nib.Nifti1Image(dseg.astype(np.uint8), affine), tmp_path / f"{name}_dseg.nii.gz")
    nib.save(nib.Nifti1Image(probs.astype(np.float32), affine), tmp_path / f"{name}_probseg.nii.gz")
    (tmp_path / f"{name}.json").write_text(json.dumps({"channels": ["tumor", "whole"]}))
    return {
        "model": "m",
        "subject": name,
        "truth": str(tmp_path / f"{name}_dseg.nii.gz"),
        "probs": str(tmp_path / f"{name}_probseg.nii.gz"),
        "sidecar": str(tmp_path / f"{name}.json"),
    }


def test_tables_pool_the_cases_per_model_label_and_region(tmp_path):
    dseg = np.zeros((30, 30, 30), np.uint8)
    dseg[14:16, 14:16, 14:16] = 1  # 8 tumour voxels
    dseg[16, 14:16, 14:16] = 2  # 4 edema voxels: whole only
    probs = np.zeros((30, 30, 30, 2))
    probs[..., 0][dseg == 1] = 0.95
    probs[..., 1][dseg > 0] = 0.95
    cases = [_case(tmp_path, "a", dseg, probs), _case(tmp_path, "b", dseg, probs)]
    table, bins = calibration_tables(cases)
    table = table.set_index(["label", "region"])
    assert table.loc[("tumor", "all"), "n_voxels"] == 2 * 30**3
    # The lesion region: the 3 x 2 x 2 lesion box grown by 10 voxels, clipped to the grid.
    assert table.loc[("whole", "lesion"), "n_voxels"] == 2 * (23 * 22 * 22)
    # Every voxel is right at 0 or 0.95: the gap is 0.05 in the top bin only.
    n_lesion = 2 * 12
    assert table.loc[("whole", "all"), "ece"] == pytest.approx(n_lesion / (2 * 30**3) * 0.05)
    assert table.loc[("whole", "lesion"), "mce"] == pytest.approx(0.05)
    top = bins[(bins.label == "whole") & (bins.region == "lesion") & (bins.bin_low == 0.9)].iloc[0]
    assert (top.n_voxels, top.mean_probability, top.observed_frequency) == (
        n_lesion,
        pytest.approx(0.95),
        1.0,
    )
    reliability_figure(bins, tmp_path / "r.png", tmp_path / "r.pdf")
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (
        tmp_path / "r.pdf"
    ).stat().st_size > 0


def test_probabilities_that_do_not_fit_the_reference_name_the_case(tmp_path):
    case = _case(tmp_path, "sub-7", np.zeros((8, 8, 8)), np.zeros((8, 8, 4, 2)))
    with pytest.raises(
        ValueError, match=r"sub-7: probabilities .*sub-7_probseg.nii.gz of shape \(8, 8, 4, 2\)"
    ):
        calibration_tables([case])
