"""Tests for spinetumor.inference.stages: the two network stages on hand-made arrays."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spinetumor.inference.settings import inference_settings
from spinetumor.inference.stages import lesion_probabilities, predict_cord_mask


class Constant(torch.nn.Module):
    """Logits fixed per output channel, whatever the input (one per voxel)."""

    def __init__(self, logits: list[float]) -> None:
        super().__init__()
        self.logits = torch.tensor(logits).view(1, -1, 1, 1, 1)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.logits.expand(x.shape[0], -1, *x.shape[2:]).clone()


class Copy(torch.nn.Module):
    """Logits = the input's channel 0 (so a sigmoid of the image)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, 0:1].clone()


def test_cord_mask_thresholds_channel_0_strictly_as_uint8():
    image = np.zeros((1, 4, 4, 4), dtype=np.float32)
    image[0, 1, 1, 1] = 2.0  # sigmoid 0.88
    image[0, 2, 2, 2] = 0.4  # sigmoid 0.60
    cfg = inference_settings({"stage1_threshold": 0.7})
    mask = predict_cord_mask(Copy(), image, cfg)
    assert mask.dtype == np.uint8 and mask.shape == (4, 4, 4)
    assert mask.sum() == 1 and mask[1, 1, 1] == 1
    # Exactly at the threshold (a logit of 0 at 0.5) is not cord.
    assert not predict_cord_mask(Copy(), np.zeros((1, 4, 4, 4), np.float32), inference_settings(None)).any()


def test_cord_mask_uses_only_channel_0_and_the_stage1_window():
    network = Constant([5.0, -5.0])
    cfg = inference_settings({"stage1_patch_size": [4, 4, 2], "overlap": 0.0})
    mask = predict_cord_mask(network, np.zeros((1, 8, 4, 4), np.float32), cfg)
    assert mask.all()
    assert network.calls == 4  # 2 x 1 x 2 windows, one per forward pass


def test_lesion_probabilities_fill_the_box_and_leave_zeros_outside():
    cfg = inference_settings({"outputs": ["tumor", "whole"], "patch_size": None})
    box = ((1, 0, 2), (3, 4, 4))
    probs = lesion_probabilities(Constant([0.0, 2.0]), np.ones((2, 5, 4, 6), np.float32), box, cfg)
    assert probs.shape == (2, 5, 4, 6) and probs.dtype == np.float32
    np.testing.assert_allclose(probs[0, 1:3, :, 2:4], 0.5)
    np.testing.assert_allclose(probs[1, 1:3, :, 2:4], 1 / (1 + np.exp(-2.0)), rtol=1e-6)
    probs[:, 1:3, :, 2:4] = 0
    assert not probs.any()


def test_lesion_probabilities_check_the_number_of_outputs():
    cfg = inference_settings({"outputs": ["tumor", "edema"], "patch_size": None})
    with pytest.raises(ValueError, match="gave 3 channels, settings name 2"):
        lesion_probabilities(
            Constant([0.0, 0.0, 0.0]), np.ones((1, 2, 2, 2), np.float32), ((0, 0, 0), (2, 2, 2)), cfg
        )


def test_cord_mask_keeps_only_its_largest_object_when_asked():
    image = -np.ones((1, 12, 6, 6), dtype=np.float32)
    image[0, 1:8, 2:4, 2:4] = 3.0  # the cord: 28 voxels
    image[0, 10, 0, 0] = 3.0  # a stray voxel far from it
    whole = predict_cord_mask(Copy(), image, inference_settings(None))
    assert whole.sum() == 29
    kept = predict_cord_mask(Copy(), image, inference_settings({"stage1_largest_component": True}))
    assert kept.dtype == np.uint8 and kept.sum() == 28 and kept[10, 0, 0] == 0
    with pytest.raises(ValueError, match="stage1_largest_component"):
        inference_settings({"stage1_largest_component": "yes"})
