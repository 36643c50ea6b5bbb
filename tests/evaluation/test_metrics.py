"""Tests for spinetumor.evaluation.metrics: tiny arrays with hand-computed answers."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from monai.metrics import DiceMetric

from spinetumor.evaluation import metrics
from spinetumor.evaluation.metrics import (
    LABEL_NAMES,
    METRIC_NAMES,
    binary_masks,
    compute_metrics,
    dice,
    evaluate_files,
    format_value,
    lesion_detection,
    overlap_threshold_voxels,
    precision,
    recall,
    surface_metrics,
    volumes,
)
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


# --------------------------------------------------------------------------- masks


def test_binary_masks_splits_labels_and_whole_is_union():
    dseg = np.array([0, 1, 2, 3, 1], dtype=np.uint8).reshape(1, 1, 5)
    masks = binary_masks(dseg)
    assert list(masks) == list(LABEL_NAMES)
    assert masks["tumor"].ravel().tolist() == [False, True, False, False, True]
    assert masks["edema"].ravel().tolist() == [False, False, True, False, False]
    assert masks["cavity"].ravel().tolist() == [False, False, False, True, False]
    assert masks["whole"].ravel().tolist() == [False, True, True, True, True]


@pytest.mark.parametrize("bad", [4, 255, 1.5])
def test_binary_masks_rejects_unknown_labels(bad):
    dseg = np.zeros((2, 2, 2), dtype=float)
    dseg[0, 0, 0] = bad
    with pytest.raises(ValueError, match="outside 0..3"):
        binary_masks(dseg)


# --------------------------------------------------------------------------- overlap


def test_dice_precision_recall_hand_computed():
    pred = np.zeros((1, 1, 6), bool)
    truth = np.zeros((1, 1, 6), bool)
    pred[0, 0, [0, 1, 2]] = True  # |P| = 3
    truth[0, 0, [1, 2, 3, 4]] = True  # |T| = 4, |P∩T| = 2
    assert dice(pred, truth) == pytest.approx(4 / 7)
    assert precision(pred, truth) == pytest.approx(2 / 3)
    assert recall(pred, truth) == pytest.approx(1 / 2)


def test_volumes_hand_computed_with_anisotropic_voxels():
    pred = np.zeros((1, 1, 6), bool)
    truth = np.zeros((1, 1, 6), bool)
    pred[0, 0, :3] = True
    truth[0, 0, :4] = True
    # voxel 0.5 x 1 x 4 = 2 mm³
    under = volumes(pred, truth, 2.0)
    assert under == {"vol_pred_mm3": 6.0, "vol_truth_mm3": 8.0, "rvd": 0.25, "avd": 0.25}
    over = volumes(truth, pred, 2.0)  # over-segmentation: negative rvd
    assert over["rvd"] == pytest.approx(-1 / 3)
    assert over["avd"] == pytest.approx(1 / 3)


def test_compute_metrics_uses_spacing_for_volumes():
    pred = voxels((2, 2, 2), (0, 0, 0), (0, 0, 1))
    truth = voxels((2, 2, 2), (0, 0, 0))
    values = label_metrics(pred, truth, spacing=(0.5, 2.0, 3.0))
    assert values["vol_pred_mm3"] == pytest.approx(6.0)
    assert values["vol_truth_mm3"] == pytest.approx(3.0)
    assert values["rvd"] == pytest.approx(-1.0)


# --------------------------------------------------------------------------- empty masks


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


# --------------------------------------------------------------------------- objects


@pytest.mark.parametrize(
    ("second", "n_objects"),
    [
        ((1, 1, 1), 2),  # corner only: 26- but not 18-connected
        ((1, 1, 0), 1),  # shared edge: 18-connected
        ((1, 0, 0), 1),  # shared face
    ],
)
def test_objects_are_18_connected(second, n_objects):
    mask = np.zeros((3, 3, 3), bool)
    mask[0, 0, 0] = mask[second] = True
    result = lesion_detection(mask, mask, voxel_volume_mm3=10.0)
    assert result["n_truth_objects"] == n_objects
    assert result["n_pred_objects"] == n_objects
    assert result["detection_tpr"] == 1


def test_edge_touching_objects_at_the_border():
    mask = np.zeros((4, 4, 4), bool)
    mask[3, 3, 3] = mask[2, 2, 3] = True  # edge-touching in the last corner of the array
    mask[0, 0, 0] = mask[1, 0, 1] = True  # edge-touching in the first corner
    result = lesion_detection(mask, mask, voxel_volume_mm3=10.0)
    assert result["n_truth_objects"] == 2


def test_objects_do_not_wrap_around_the_border():
    mask = np.zeros((4, 4, 4), bool)
    mask[0, 0, 0] = mask[3, 0, 0] = True
    assert lesion_detection(mask, mask, voxel_volume_mm3=10.0)["n_truth_objects"] == 2


@pytest.mark.parametrize(
    ("voxel_volume", "min_overlap", "expected"),
    [
        (1.0, 6.0, 6),
        (4.0, 6.0, 2),  # round(1.5) = 2
        (10.0, 6.0, 1),  # max(1, round(0.6))
        (2.4, 6.0, 2),  # 6 / 2.4 = 2.5: half to even gives 2 (half up would give 3)
        (2.0, 5.0, 2),  # 2.5 -> 2
        (1.0, 3.5, 4),  # 3.5 -> 4
        (100.0, 6.0, 1),  # round(0.06) = 0, but at least one voxel
        (0.5, 6.0, 12),
    ],
)
def test_overlap_threshold_uses_round_half_to_even(voxel_volume, min_overlap, expected):
    assert overlap_threshold_voxels(voxel_volume, min_overlap) == expected


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan")])
def test_overlap_threshold_rejects_bad_voxel_volume(bad):
    with pytest.raises(ValueError, match="voxel volume"):
        overlap_threshold_voxels(bad)


@pytest.mark.parametrize(
    ("voxel_volume", "overlap_voxels", "detected"),
    [
        (1.0, 5, False),  # needs 6 voxels
        (1.0, 6, True),
        (4.0, 1, False),  # needs 2 voxels
        (4.0, 2, True),
        (10.0, 1, True),  # needs 1 voxel
    ],
)
def test_detection_depends_on_overlap_in_mm3(voxel_volume, overlap_voxels, detected):
    truth = np.zeros((1, 1, 20), bool)
    pred = np.zeros((1, 1, 20), bool)
    truth[0, 0, :10] = True
    pred[0, 0, 10 - overlap_voxels : 15] = True  # one object, `overlap_voxels` inside the truth
    result = lesion_detection(pred, truth, voxel_volume)
    assert result["detection_tpr"] == (1.0 if detected else 0.0)
    # The single predicted object is a false detection exactly when the truth is missed.
    assert result["detection_fdr"] == (0.0 if detected else 1.0)


def test_min_overlap_argument_changes_the_threshold():
    truth = np.zeros((1, 1, 20), bool)
    pred = np.zeros((1, 1, 20), bool)
    truth[0, 0, :10] = True
    pred[0, 0, 7:10] = True  # 3 voxels of overlap
    assert lesion_detection(pred, truth, 1.0)["detection_tpr"] == 0
    assert lesion_detection(pred, truth, 1.0, min_overlap_mm3=3.0)["detection_tpr"] == 1


def test_detection_rates_hand_computed():
    truth = np.zeros((1, 3, 20), bool)
    pred = np.zeros((1, 3, 20), bool)
    truth[0, 0, 0:3] = True  # truth object A, found
    truth[0, 0, 10:13] = True  # truth object B, missed
    pred[0, 0, 0:3] = True  # matches A
    pred[0, 2, 5:8] = True  # false object
    pred[0, 2, 15:18] = True  # false object
    result = lesion_detection(pred, truth, voxel_volume_mm3=2.0)  # threshold: 3 voxels
    assert result == {
        "n_truth_objects": 2,
        "n_pred_objects": 3,
        "detection_tpr": 0.5,
        "detection_fdr": pytest.approx(2 / 3),  # 2 false / (1 found + 2 false)
    }


# --------------------------------------------------------------------------- surfaces


def test_hd95_and_surface_dice_hand_computed():
    pred = np.zeros((5, 5, 5), bool)
    truth = np.zeros((5, 5, 5), bool)
    pred[0, 0, 0] = True
    truth[0, 0, 3] = True  # 3 voxels of 2 mm apart along the last axis
    result = surface_metrics(pred, truth, spacing=(1.0, 1.0, 2.0))
    assert result["hd95_mm"] == pytest.approx(6.0)
    assert result["surface_dice_1mm"] == pytest.approx(0.0)
    same = surface_metrics(pred, pred, spacing=(1.0, 1.0, 2.0))
    assert same == {"hd95_mm": pytest.approx(0.0), "surface_dice_1mm": pytest.approx(1.0)}


@pytest.mark.filterwarnings(
    "ignore:.*always_return_as_numpy.*:FutureWarning"
)  # MONAI warns about its own call
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_surface_metrics_equal_monais_two_functions(seed):
    """One shared distance computation gives what MONAI's HD and NSD functions give separately."""
    from monai.metrics import compute_hausdorff_distance, compute_surface_dice
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    # irregular blobs of different sizes, one of them partly outside the other
    truth = ndimage.binary_dilation(rng.random((30, 24, 12)) > 0.985, iterations=2)
    pred = ndimage.binary_dilation(
        np.roll(truth, 2, axis=0) | (rng.random(truth.shape) > 0.995), iterations=1
    )
    spacing = (0.6, 0.9, 3.7)
    ours = surface_metrics(pred, truth, spacing)
    y_pred = torch.from_numpy(pred[None, None].astype(np.float32))
    y = torch.from_numpy(truth[None, None].astype(np.float32))
    hd95 = compute_hausdorff_distance(
        y_pred, y, include_background=True, percentile=95, spacing=list(spacing)
    )
    nsd = compute_surface_dice(
        y_pred, y, class_thresholds=[1.0], include_background=True, spacing=list(spacing)
    )
    assert 0 < ours["surface_dice_1mm"] < 1 and ours["hd95_mm"] > 1
    assert ours["hd95_mm"] == pytest.approx(float(hd95), rel=1e-6)
    assert ours["surface_dice_1mm"] == pytest.approx(float(nsd), rel=1e-6)


def test_surface_metrics_rejects_wrong_spacing():
    mask = np.ones((2, 2, 2), bool)
    with pytest.raises(ValueError, match="spacing"):
        surface_metrics(mask, mask, spacing=(1.0, 1.0))
    with pytest.raises(ValueError, match="spacing"):
        surface_metrics(mask, mask, spacing=(1.0, 0.0, 1.0))


def test_dice_agrees_with_monai_dice_metric():
    rng = np.random.default_rng(20210601)
    pred = rng.random((12, 10, 8)) > 0.6
    truth = rng.random((12, 10, 8)) > 0.5
    monai_dice = DiceMetric(include_background=True, reduction="none")(
        torch.from_numpy(pred[None, None].astype(np.float32)),
        torch.from_numpy(truth[None, None].astype(np.float32)),
    )
    assert dice(pred, truth) == pytest.approx(float(monai_dice[0, 0]), rel=1e-6)


# --------------------------------------------------------------------------- rows


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


# --------------------------------------------------------------------------- files


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


# --------------------------------------------------------------------------- command line


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
