"""Lesion-wise detection on 18-connected objects (ivadomed semantics).

An object is detected when the other mask overlaps it by at least 6 mm³
(Lemay et al., 2021), rounded to whole voxels.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from spinetumor.evaluation.masks import check_same_shape
from spinetumor.evaluation.overlap import ratio

__all__ = ["CONNECTIVITY_18", "DEFAULT_MIN_OVERLAP_MM3", "overlap_threshold_voxels", "lesion_detection"]

#: Lemay et al.: a lesion counts as detected from 6 mm³ of overlap.
DEFAULT_MIN_OVERLAP_MM3: float = 6.0

#: Objects are 18-connected: voxels sharing a face or an edge, not only a corner.
CONNECTIVITY_18 = ndimage.generate_binary_structure(3, 2)


def overlap_threshold_voxels(
    voxel_volume_mm3: float, min_overlap_mm3: float = DEFAULT_MIN_OVERLAP_MM3
) -> int:
    """Voxels of overlap needed for an object to count as detected.

    Uses Python's ``round`` (round half to even, like ``numpy.round``), so
    ``6 mm³ / 2.4 mm³ = 2.5`` gives 2 voxels, not 3; at least 1 voxel is
    always required, so very large voxels still need some overlap.

    Args:
        voxel_volume_mm3: Volume of one voxel in mm³.
        min_overlap_mm3: Overlap needed, in mm³.

    Returns:
        ``max(1, round(min_overlap_mm3 / voxel_volume_mm3))``.

    Raises:
        ValueError: ``voxel_volume_mm3`` is not positive or
            ``min_overlap_mm3`` is negative or not finite.
    """
    if not voxel_volume_mm3 > 0:
        raise ValueError(f"voxel volume must be positive, got {voxel_volume_mm3}")
    if not (math.isfinite(min_overlap_mm3) and min_overlap_mm3 >= 0):
        raise ValueError(f"minimum overlap must be a finite number >= 0 mm³, got {min_overlap_mm3}")
    return max(1, round(min_overlap_mm3 / voxel_volume_mm3))


def _detected_objects(mask: np.ndarray, other: np.ndarray, threshold: int) -> tuple[int, int]:
    """Count the 18-connected objects of ``mask`` and those that ``other`` covers.

    Args:
        mask: Boolean mask whose objects are counted.
        other: Boolean mask they must overlap.
        threshold: Overlap (voxels) needed for an object to count as detected.

    Returns:
        ``(n_objects, n_detected)``.
    """
    labelled, n_objects = ndimage.label(mask, structure=CONNECTIVITY_18)
    if n_objects == 0:
        return 0, 0
    # Overlap of every object at once: a histogram of object ids inside `other`.
    overlap = np.bincount(labelled[other], minlength=n_objects + 1)[1:]
    return n_objects, int(np.count_nonzero(overlap >= threshold))


def lesion_detection(
    pred: np.ndarray,
    truth: np.ndarray,
    voxel_volume_mm3: float,
    min_overlap_mm3: float = DEFAULT_MIN_OVERLAP_MM3,
) -> dict[str, float | int | None]:
    """Lesion-wise detection rates on 18-connected objects (ivadomed semantics).

    A truth object is detected when the prediction covers at least
    ``overlap_threshold_voxels(...)`` of its voxels; a predicted object is a
    false detection when the truth covers fewer than that.

    Args:
        pred: Boolean 3-D prediction mask.
        truth: Boolean 3-D reference mask, same shape.
        voxel_volume_mm3: Volume of one voxel in mm³.
        min_overlap_mm3: Overlap needed for a detection, in mm³.

    Returns:
        ``n_truth_objects``, ``n_pred_objects``, ``detection_tpr`` (detected /
        truth objects; ``None`` without truth objects) and ``detection_fdr``
        (false predicted objects / (detected truth objects + false predicted
        objects); ``None`` when both are 0).

    Raises:
        ValueError: the masks are not 3-D arrays of the same shape, or the
            voxel volume / overlap is invalid.
    """
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    check_same_shape(pred, truth)
    threshold = overlap_threshold_voxels(voxel_volume_mm3, min_overlap_mm3)
    n_truth, truth_detected = _detected_objects(truth, pred, threshold)
    n_pred, pred_detected = _detected_objects(pred, truth, threshold)
    false_pred = n_pred - pred_detected
    return {
        "n_truth_objects": n_truth,
        "n_pred_objects": n_pred,
        "detection_tpr": ratio(truth_detected, n_truth),
        "detection_fdr": ratio(false_pred, truth_detected + false_pred),
    }
