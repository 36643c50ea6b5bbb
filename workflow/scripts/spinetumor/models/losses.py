"""The training loss: a multi-label Dice loss (optionally plus cross-entropy), deeply supervised.

The loss names are :data:`spinetumor.models.spec.LOSSES` (torch-free, for the
settings checks).
"""

from __future__ import annotations

import math

import torch
from monai.losses import DeepSupervisionLoss, DiceLoss

from spinetumor.models.spec import LOSSES

__all__ = ["DeepSupervisionDiceLoss", "DiceBCELoss", "build_loss", "head_weights"]


def head_weights(n_heads: int) -> list[float]:
    """Deep-supervision weights: halving from the main head on, summing to 1.

    Args:
        n_heads: Number of outputs (main head first).

    Returns:
        ``[1, 1/2, 1/4, ...]`` normalised; ``[1.0]`` for one head.
    """
    raw = [0.5**i for i in range(max(1, n_heads))]
    total = math.fsum(raw)
    return [w / total for w in raw]


class DeepSupervisionDiceLoss(torch.nn.Module):
    """A loss on one output, or a weighted sum over stacked deep-supervision heads.

    A prediction with one more dimension than the target is read as heads
    stacked on dimension 1 (``DynUNet`` in training mode); each head is
    compared with the target (resized with nearest neighbour by MONAI's
    ``DeepSupervisionLoss`` when its size differs) and the losses are summed
    with :func:`head_weights`.

    Args:
        loss: Loss of one output against the target (e.g. ``DiceLoss``).
    """

    def __init__(self, loss: torch.nn.Module) -> None:
        super().__init__()
        self.loss = loss

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Loss of ``output`` (``B,C,...`` or ``B,heads,C,...``) against ``target`` (``B,C,...``)."""
        if output.ndim == target.ndim:
            return self.loss(output.float(), target)
        if output.ndim != target.ndim + 1:
            raise ValueError(
                f"output shape {tuple(output.shape)} does not fit target shape {tuple(target.shape)}"
            )
        heads = list(output.unbind(dim=1))
        return DeepSupervisionLoss(self.loss, weights=head_weights(len(heads)))(heads, target)


class DiceBCELoss(torch.nn.Module):
    """Dice loss plus the mean binary cross-entropy of every channel.

    The pairing nnU-Net uses, in its multi-label (sigmoid) form: the
    cross-entropy term gives every voxel a gradient from the first step on,
    where a Dice loss alone learns slowly while the foreground is a few
    percent of the patch. The papers used Dice alone (``dice``).

    Args:
        dice: The Dice loss.
        sigmoid: Whether the inputs are logits (else probabilities).
    """

    def __init__(self, dice: torch.nn.Module, sigmoid: bool) -> None:
        super().__init__()
        self.dice = dice
        self.bce = torch.nn.BCEWithLogitsLoss() if sigmoid else torch.nn.BCELoss()

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Dice plus cross-entropy of ``output`` against ``target`` (same shape)."""
        return self.dice(output, target) + self.bce(output, target.to(output.dtype))


def build_loss(
    *, kind: str = "dice", batch: bool = True, smooth: float = 1.0, sigmoid: bool = True
) -> DeepSupervisionDiceLoss:
    """Multi-label Dice loss (the mean of the per-channel Dice losses), optionally plus cross-entropy.

    Args:
        kind: ``dice`` (the papers') or ``dice_bce`` (:class:`DiceBCELoss`).
        batch: Pool the voxels of the whole batch per channel before taking
            the ratio (ivadomed's Dice, as in Lemay et al.), rather than
            averaging per-sample ratios.
        smooth: Added to numerator and denominator (ivadomed uses 1).
        sigmoid: Apply a sigmoid to the prediction first (false for
            probabilities).

    Returns:
        The loss, which accepts plain or stacked deep-supervision outputs.
    """
    if kind not in LOSSES:
        raise ValueError(f"loss must be one of {list(LOSSES)}, got {kind!r}")
    dice = DiceLoss(sigmoid=sigmoid, batch=batch, smooth_nr=smooth, smooth_dr=smooth, reduction="mean")
    return DeepSupervisionDiceLoss(dice if kind == "dice" else DiceBCELoss(dice, sigmoid))
