"""Voxel overlap and volume metrics of two boolean masks.

Definitions follow Lemay et al. (2021) and ivadomed: voxel Dice, precision
and recall; volumes and the relative volume difference
``(V_truth - V_pred) / V_truth`` (negative = over-segmentation). A metric that
is undefined (e.g. Dice with both masks empty) is ``None``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ratio", "dice", "precision", "recall", "volumes"]


def ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator``, or ``None`` when the denominator is 0."""
    return None if denominator == 0 else float(numerator) / float(denominator)


def dice(pred: np.ndarray, truth: np.ndarray) -> float | None:
    """Dice coefficient ``2|P∩T| / (|P|+|T|)``.

    Args:
        pred: Boolean prediction mask.
        truth: Boolean reference mask, same shape.

    Returns:
        The Dice in [0, 1]; ``None`` when both masks are empty (nothing to
        agree on), 0 when only one is.
    """
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    return ratio(2 * np.count_nonzero(pred & truth), np.count_nonzero(pred) + np.count_nonzero(truth))


def precision(pred: np.ndarray, truth: np.ndarray) -> float | None:
    """Voxel precision ``|P∩T| / |P|``.

    Args:
        pred: Boolean prediction mask.
        truth: Boolean reference mask, same shape.

    Returns:
        The precision; ``None`` when the prediction is empty.
    """
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    return ratio(np.count_nonzero(pred & truth), np.count_nonzero(pred))


def recall(pred: np.ndarray, truth: np.ndarray) -> float | None:
    """Voxel recall (sensitivity) ``|P∩T| / |T|``.

    Args:
        pred: Boolean prediction mask.
        truth: Boolean reference mask, same shape.

    Returns:
        The recall; ``None`` when the reference is empty.
    """
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    return ratio(np.count_nonzero(pred & truth), np.count_nonzero(truth))


def volumes(pred: np.ndarray, truth: np.ndarray, voxel_volume_mm3: float) -> dict[str, float | None]:
    """Volumes and relative volume difference.

    Args:
        pred: Boolean prediction mask.
        truth: Boolean reference mask, same shape.
        voxel_volume_mm3: Volume of one voxel in mm³.

    Returns:
        ``vol_pred_mm3``, ``vol_truth_mm3``, ``rvd`` =
        ``(V_truth - V_pred) / V_truth`` (negative = over-segmentation) and
        ``avd`` = ``|rvd|``; the last two are ``None`` when the reference is
        empty.

    Raises:
        ValueError: ``voxel_volume_mm3`` is not positive.
    """
    if not voxel_volume_mm3 > 0:
        raise ValueError(f"voxel volume must be positive, got {voxel_volume_mm3}")
    vol_pred = np.count_nonzero(pred) * float(voxel_volume_mm3)
    vol_truth = np.count_nonzero(truth) * float(voxel_volume_mm3)
    rvd = ratio(vol_truth - vol_pred, vol_truth)
    return {
        "vol_pred_mm3": vol_pred,
        "vol_truth_mm3": vol_truth,
        "rvd": rvd,
        "avd": None if rvd is None else abs(rvd),
    }
