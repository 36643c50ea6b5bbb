"""Tests for spinetumor.evaluation.metrics: every metric of every label, files and the command line."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from spinetumor.evaluation import metrics
from spinetumor.evaluation.masks import LABEL_NAMES
from spinetumor.evaluation.metrics import METRIC_NAMES, compute_metrics, evaluate_files, format_value
from spinetumor.io import save_nifti

SCRIPTS_DIR = Path(__file__).resolve().parents[2] / "workflow" / "scripts"


def as_dict(rows: list[tuple[str, str, object]]) -> dict[tuple[str, str], object]:
    """``compute_metrics`` rows keyed by ``(label, metric)``."""
    return {(label, metric): value for label, metric, value in rows}


def label_metrics(pred: np.ndarray, truth: np.ndarray, spacing=(1.0, 1.0, 1.0), label="tumor") -> dict:
    """All metrics of one label, keyed by metric name."""
    return {metric: value for lab, metric, value in compute_metrics(pred, truth, spacing) if lab == label}


def voxels(shape: tuple[int, int, int], *coords: tuple[int, int, int], value: int = 1) -> np.ndarray:
    """A ``dseg`` array with ``value`` at the given voxel coordinates."""
    arr = np.zeros(shape, dtype=np.uint8)
    for coord in coords:
        arr[coord] = value
    return arr


def test_compute_metrics_uses_spacing_for_volumes():
    pred = voxels((2, 2, 2), (0, 0, 0), (0, 0, 1))
    truth = voxels((2, 2, 2), (0, 0, 0))
    values = label_metrics(pred, truth, spacing=(0.5, 2.0, 3.0))
    assert values["vol_pred_mm3"] == pytest.approx(6.0)
    assert values["vol_truth_mm3"] == pytest.approx(3.0)
    assert values["rvd"] == pytest.approx(-1.0)


def test_both_empty_gives_undefined_metrics():
    empty = np.zeros((3, 3, 3), np.uint8)
    values = label_metrics(empty, empty)
    for name in (
        "dice",
        "precision",
        "recall",
        "rvd",
        "avd",
        "detection_tpr",
        "detection_fdr",
        "hd95_mm",
        "surface_dice_1mm",
    ):
        assert values[name] is None, name
    assert values["vol_pred_mm3"] == 0 and values["vol_truth_mm3"] == 0
    assert values["n_truth_objects"] == 0 and values["n_pred_objects"] == 0


def test_only_prediction():
    pred = voxels((3, 3, 3), (1, 1, 1))
    truth = np.zeros_like(pred)
    values = label_metrics(pred, truth)
    assert values["dice"] == 0
    assert values["precision"] == 0
    assert values["recall"] is None
    assert values["rvd"] is None
    assert values["detection_tpr"] is None
    assert values["detection_fdr"] == 1
    assert values["hd95_mm"] is None and values["surface_dice_1mm"] is None


def test_only_truth():
    truth = voxels((3, 3, 3), (1, 1, 1))
    pred = np.zeros_like(truth)
    values = label_metrics(pred, truth)
    assert values["dice"] == 0
    assert values["recall"] == 0
    assert values["precision"] is None
    assert values["rvd"] == 1
    assert values["detection_tpr"] == 0
    assert values["detection_fdr"] is None  # no detections and no false ones
    assert values["hd95_mm"] is None and values["surface_dice_1mm"] is None


def test_compute_metrics_row_order():
    dseg = voxels((3, 3, 3), (1, 1, 1))
    rows = compute_metrics(dseg, dseg, (1.0, 1.0, 1.0))
    assert [(label, metric) for label, metric, _ in rows] == [
        (label, metric) for label in LABEL_NAMES for metric in METRIC_NAMES
    ]
    assert len(rows) == 4 * 13


def test_compute_metrics_whole_is_union():
    pred = np.zeros((1, 1, 6), np.uint8)
    truth = np.zeros((1, 1, 6), np.uint8)
    pred[0, 0, :3] = [1, 2, 3]
    truth[0, 0, :3] = [3, 2, 1]  # labels disagree, the union agrees
    values = as_dict(compute_metrics(pred, truth, (1.0, 1.0, 1.0)))
    assert values[("tumor", "dice")] == 0
    assert values[("edema", "dice")] == 1
    assert values[("whole", "dice")] == 1
    assert values[("whole", "n_truth_objects")] == 1


def test_compute_metrics_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shape"):
        compute_metrics(np.zeros((2, 2, 2)), np.zeros((2, 2, 3)), (1.0, 1.0, 1.0))


@pytest.mark.parametrize(
    ("metric", "value", "text"),
    [
        ("dice", None, "n/a"),
        ("dice", float("nan"), "n/a"),
        ("dice", 2 / 3, "0.666667"),
        ("dice", 1.0, "1.0"),
        ("vol_pred_mm3", 1234567.0, "1234570.0"),
        ("n_truth_objects", 3.0, "3"),
        ("n_pred_objects", 0, "0"),
    ],
)
def test_format_value(metric, value, text):
    assert format_value(metric, value) == text


def _lesion_pair() -> tuple[np.ndarray, np.ndarray]:
    """Prediction and truth with tumour and edema but no cavity anywhere."""
    truth = np.zeros((6, 7, 8), np.uint8)
    pred = np.zeros((6, 7, 8), np.uint8)
    truth[1:4, 2:5, 2:6] = 1
    truth[1:4, 2:5, 6] = 2
    pred[1:4, 2:5, 3:7] = 1
    pred[4, 3, 3] = 2
    return pred, truth


def test_permuted_and_anisotropic_affines_give_the_same_metrics(tmp_path):
    pred, truth = _lesion_pair()
    # Oblique, anisotropic: a rotation about the last world axis times 0.6 x 0.9 x 3.5 mm voxels.
    angle = math.radians(20)
    rotation = np.array(
        [[math.cos(angle), -math.sin(angle), 0], [math.sin(angle), math.cos(angle), 0], [0, 0, 1]]
    )
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag([0.6, 0.9, 3.5])
    affine[:3, 3] = [-10.0, 5.0, 2.0]
    order = (2, 0, 1)  # new array axis i is old axis order[i]
    permuted_affine = affine.copy()
    permuted_affine[:3, :3] = affine[:3, list(order)]
    for name, arr, aff in [
        ("pred", pred, affine),
        ("truth", truth, affine),
        ("pred_perm", pred.transpose(order), permuted_affine),
        ("truth_perm", truth.transpose(order), permuted_affine),
    ]:
        save_nifti(arr, aff, tmp_path / f"{name}.nii.gz")
    original = evaluate_files(tmp_path / "pred.nii.gz", tmp_path / "truth.nii.gz")
    permuted = evaluate_files(tmp_path / "pred_perm.nii.gz", tmp_path / "truth_perm.nii.gz")

    voxel_volume = 0.6 * 0.9 * 3.5
    values = original.set_index(["label", "metric"])["value"]
    assert values[("tumor", "vol_truth_mm3")] == pytest.approx(36 * voxel_volume)
    assert values[("tumor", "vol_pred_mm3")] == pytest.approx(36 * voxel_volume)
    # Tumour shifted by one 3.5 mm voxel along the last axis: the symmetric HD95 is one voxel.
    assert values[("tumor", "hd95_mm")] == pytest.approx(3.5, rel=1e-5)
    np.testing.assert_allclose(original["value"].to_numpy(), permuted["value"].to_numpy(), rtol=1e-5)
    assert original["value"].isna().tolist() == permuted["value"].isna().tolist()


def test_evaluate_files_returns_long_float_table(tmp_path):
    pred, truth = _lesion_pair()
    save_nifti(pred, np.eye(4), tmp_path / "pred.nii.gz")
    save_nifti(truth, np.eye(4), tmp_path / "truth.nii.gz")
    table = evaluate_files(tmp_path / "pred.nii.gz", tmp_path / "truth.nii.gz")
    assert list(table.columns) == ["label", "metric", "value"]
    assert table["value"].dtype == float
    assert len(table) == 52
    assert table.set_index(["label", "metric"])["value"].isna()[("cavity", "dice")]


def test_affines_within_tolerance_are_the_same_grid(tmp_path):
    pred, truth = _lesion_pair()
    nudged = np.eye(4)
    nudged[0, 3] = 1e-5
    save_nifti(pred, nudged, tmp_path / "pred.nii.gz")
    save_nifti(truth, np.eye(4), tmp_path / "truth.nii.gz")
    assert len(evaluate_files(tmp_path / "pred.nii.gz", tmp_path / "truth.nii.gz")) == 52


@pytest.mark.parametrize("problem", ["shape", "affine", "labels"])
def test_evaluate_files_errors_name_the_file(tmp_path, problem):
    pred, truth = _lesion_pair()
    pred_affine = np.eye(4)
    if problem == "shape":
        pred = pred[:, :, :-1]
    elif problem == "affine":
        pred_affine = np.diag([1.0, 1.0, 2.0, 1.0])
    else:
        pred[0, 0, 0] = 7
    save_nifti(pred, pred_affine, tmp_path / "pred.nii.gz")
    save_nifti(truth, np.eye(4), tmp_path / "truth.nii.gz")
    expected = {"shape": "grid differs", "affine": "grid differs", "labels": "outside 0..3"}[problem]
    with pytest.raises(ValueError, match=expected) as info:
        evaluate_files(tmp_path / "pred.nii.gz", tmp_path / "truth.nii.gz")
    assert str(tmp_path / "pred.nii.gz") in str(info.value)


def test_main_in_process_reports_missing_file(tmp_path, capsys):
    assert metrics.main([str(tmp_path / "nope.nii.gz"), str(tmp_path / "nope2.nii.gz")]) == 2
    assert "nope.nii.gz" in capsys.readouterr().err


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SCRIPTS_DIR), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "spinetumor.evaluation.metrics", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_cli_prints_the_tsv(tmp_path):
    pred, truth = _lesion_pair()
    save_nifti(pred, np.diag([0.5, 0.5, 2.0, 1.0]), tmp_path / "pred.nii.gz")
    save_nifti(truth, np.diag([0.5, 0.5, 2.0, 1.0]), tmp_path / "truth.nii.gz")
    done = _run_cli(str(tmp_path / "pred.nii.gz"), str(tmp_path / "truth.nii.gz"), "--min-overlap-mm3", "6")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "label\tmetric\tvalue"
    rows = [line.split("\t") for line in lines[1:]]
    assert len(rows) == 4 * 13
    assert [(label, metric) for label, metric, _ in rows] == [
        (label, metric) for label in LABEL_NAMES for metric in METRIC_NAMES
    ]
    values = {(label, metric): value for label, metric, value in rows}
    # No cavity anywhere: every ratio is undefined, volumes and counts are 0.
    for metric in (
        "dice",
        "precision",
        "recall",
        "rvd",
        "avd",
        "detection_tpr",
        "detection_fdr",
        "hd95_mm",
        "surface_dice_1mm",
    ):
        assert values[("cavity", metric)] == "n/a"
    assert values[("cavity", "vol_truth_mm3")] == "0.0"
    assert values[("cavity", "n_truth_objects")] == "0"
    # Tumour: 36 voxels each of 0.5 mm³, 27 shared.
    assert values[("tumor", "vol_truth_mm3")] == "18.0"
    assert values[("tumor", "dice")] == "0.75"
    assert values[("tumor", "n_pred_objects")] == "1"


def test_cli_mismatched_grids_exit_2(tmp_path):
    pred, truth = _lesion_pair()
    save_nifti(pred[:-1], np.eye(4), tmp_path / "pred.nii.gz")
    save_nifti(truth, np.eye(4), tmp_path / "truth.nii.gz")
    done = _run_cli(str(tmp_path / "pred.nii.gz"), str(tmp_path / "truth.nii.gz"))
    assert done.returncode == 2
    assert done.stdout == ""
    assert str(tmp_path / "pred.nii.gz") in done.stderr
    assert "grid differs" in done.stderr
