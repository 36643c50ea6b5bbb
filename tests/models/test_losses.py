"""The loss: Dice per channel, deep-supervision weights."""

from __future__ import annotations

import math

import pytest
import torch

from spinetumor.models.losses import build_loss, head_weights


def test_head_weights_halve_and_sum_to_one():
    assert head_weights(1) == [1.0]
    assert head_weights(3) == pytest.approx([4 / 7, 2 / 7, 1 / 7])
    assert math.fsum(head_weights(5)) == pytest.approx(1.0)


def test_deep_supervision_loss_is_the_weighted_sum_of_head_losses():
    target = torch.zeros(1, 1, 4, 4, 2)
    target[..., :2, :, :] = 1
    perfect = torch.where(target > 0, 20.0, -20.0)
    wrong = -perfect
    loss = build_loss(batch=True, smooth=1.0)
    single_perfect, single_wrong = loss(perfect, target), loss(wrong, target)
    # Dice loss 1 - (2I + 1)/(P + T + 1): ~0 when perfect; 16 target voxels, 16 predicted, I = 0 -> 1 - 1/33.
    assert float(single_perfect) == pytest.approx(0.0, abs=1e-6)
    assert float(single_wrong) == pytest.approx(1 - 1 / 33, abs=1e-6)
    stacked = torch.stack([perfect, wrong], dim=1)  # main head first: weights 2/3, 1/3
    assert float(loss(stacked, target)) == pytest.approx((2 * 0.0 + 1 * (1 - 1 / 33)) / 3, abs=1e-6)
    with pytest.raises(ValueError, match="does not fit"):
        loss(stacked[None], target)
