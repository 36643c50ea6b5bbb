"""Tests for spinetumor.evaluation.overlap: voxel overlap and volumes, hand-computed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.metrics import DiceMetric

from spinetumor.evaluation.overlap import dice, precision, recall, volumes


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


def test_empty_denominators_are_undefined():
    empty = np.zeros((1, 1, 3), bool)
    one = np.array([True, False, False]).reshape(1, 1, 3)
    assert dice(empty, empty) is None
    assert precision(empty, one) is None and recall(one, empty) is None
    assert volumes(one, empty, 1.0)["rvd"] is None and volumes(one, empty, 1.0)["avd"] is None
    with pytest.raises(ValueError, match="voxel volume must be positive"):
        volumes(one, one, 0.0)


def test_dice_agrees_with_monai_dice_metric():
    rng = np.random.default_rng(20210601)
    pred = rng.random((12, 10, 8)) > 0.6
    truth = rng.random((12, 10, 8)) > 0.5
    monai_dice = DiceMetric(include_background=True, reduction="none")(
        torch.from_numpy(pred[None, None].astype(np.float32)),
        torch.from_numpy(truth[None, None].astype(np.float32)),
    )
    assert dice(pred, truth) == pytest.approx(float(monai_dice[0, 0]), rel=1e-6)
