"""Tests for spinetumor.evaluation.lesions: 18-connected objects and the 6 mm³ detection rule."""

from __future__ import annotations

import numpy as np
import pytest

from spinetumor.evaluation.lesions import lesion_detection, overlap_threshold_voxels


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
