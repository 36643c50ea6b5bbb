"""The cascade's two network stages on preprocessed arrays.

Stage 1 (:func:`predict_cord_mask`) localises the cord: the cord network over
the sliding window, channel 0 thresholded. Stage 2 (:func:`lesion_probabilities`)
runs the lesion network inside a box and pastes its probabilities back into the
full grid. Both use the one sliding window, :func:`spinetumor.inference.window.sliding_window`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from spinetumor.inference.crop import Box
from spinetumor.inference.masks import largest_component
from spinetumor.inference.settings import InferenceSettings
from spinetumor.inference.window import sliding_window

__all__ = ["predict_cord_mask", "lesion_probabilities"]


def predict_cord_mask(network: torch.nn.Module, image: np.ndarray, cfg: InferenceSettings) -> np.ndarray:
    """Stage 1: the cord mask of a preprocessed image.

    The one place of the cascade's cord localisation, for prediction, for the
    cord mask source ``model`` and for the crops of the lesion stage's training.

    Args:
        network: Cord network; only its output channel 0 is used.
        image: ``(C, X, Y, Z)`` preprocessed ``stage1_contrasts``.
        cfg: Validated settings: ``stage1_patch_size`` (None = the whole
            volume in one window), ``overlap``, ``blend_mode``, ``device``
            ``stage1_threshold`` (strict) and ``stage1_largest_component``. One
            window per forward pass.

    Returns:
        ``uint8`` mask of shape ``(X, Y, Z)``: 1 where the cord probability
        is above the threshold (in its largest object only, if so set).
    """
    probs = sliding_window(network, image, cfg.stage1_patch_size, cfg.overlap, 1, cfg.device, cfg.blend_mode)
    mask = probs[0] > cfg.stage1_threshold
    if cfg.stage1_largest_component:
        mask = largest_component(mask)
    return mask.astype(np.uint8)


def lesion_probabilities(
    network: torch.nn.Module, image: np.ndarray, box: Box, cfg: InferenceSettings
) -> np.ndarray:
    """Stage 2: the lesion network's probabilities inside ``box``, 0 outside it.

    Args:
        network: Lesion network (``cfg.outputs`` out).
        image: ``(C, X, Y, Z)`` preprocessed ``contrasts``.
        box: ``(start, stop)`` voxel indices of the region the network sees.
        cfg: Validated settings: ``patch_size``, ``overlap``, ``batch_size``,
            ``device``, ``blend_mode`` and ``outputs``.

    Returns:
        ``(len(outputs), X, Y, Z)`` float32 probabilities on the full grid.

    Raises:
        ValueError: the network gave another number of channels than ``outputs`` names.
    """
    region = tuple(slice(a, b) for a, b in zip(*box))
    cropped = sliding_window(
        network,
        image[(slice(None), *region)],
        cfg.patch_size,
        cfg.overlap,
        cfg.batch_size,
        cfg.device,
        cfg.blend_mode,
    )
    _check_outputs(cropped, cfg.outputs)
    probs = np.zeros((cropped.shape[0], *image.shape[1:]), dtype=np.float32)
    probs[(slice(None), *region)] = cropped
    return probs


def _check_outputs(probs: np.ndarray, outputs: Sequence[str]) -> None:
    if probs.shape[0] != len(outputs):
        raise ValueError(
            f"the lesion network gave {probs.shape[0]} channels, settings name {len(outputs)}: "
            f"{list(outputs)}"
        )
