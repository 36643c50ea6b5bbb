"""Tests for spinetumor.evaluation.surfaces: HD95 and surface Dice, by hand and against MONAI."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spinetumor.evaluation.surfaces import surface_metrics


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
