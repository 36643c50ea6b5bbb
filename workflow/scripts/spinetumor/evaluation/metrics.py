"""Segmentation metrics for ``dseg`` maps, per label and for the whole tumour.

Definitions follow Lemay et al. (2021) and ivadomed: voxel Dice, precision and
recall; volumes and the relative volume difference
``(V_truth - V_pred) / V_truth`` (negative = over-segmentation); lesion-wise
detection rates on 18-connected objects that must overlap the other mask by at
least 6 mm³. MONAI adds the 95th-percentile Hausdorff distance and the surface
Dice at 1 mm. A metric that is undefined for a case (e.g. Dice with both masks
empty) is ``None`` in Python, ``NaN`` in the data frame and ``n/a`` in the TSV.

Command line::

    PYTHONPATH=workflow/scripts python -m spinetumor.evaluation.metrics PRED TRUTH [--min-overlap-mm3 6]

prints ``label<TAB>metric<TAB>value`` rows to stdout; bad inputs print one line
to stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import ndimage

from spinetumor import LABELS
from spinetumor.io import load_nifti, voxel_sizes

if TYPE_CHECKING:
    import torch

__all__ = [
    "LABEL_NAMES",
    "METRIC_NAMES",
    "binary_masks",
    "dice",
    "precision",
    "recall",
    "volumes",
    "overlap_threshold_voxels",
    "lesion_detection",
    "surface_metrics",
    "compute_metrics",
    "evaluate_files",
    "format_value",
    "format_tsv",
    "main",
]

#: Row labels, in output order; "whole" is the union of labels 1-3.
LABEL_NAMES: tuple[str, ...] = ("tumor", "edema", "cavity", "whole")

#: Metric names, in output order within each label.
METRIC_NAMES: tuple[str, ...] = (
    "dice",
    "precision",
    "recall",
    "vol_pred_mm3",
    "vol_truth_mm3",
    "rvd",
    "avd",
    "n_truth_objects",
    "n_pred_objects",
    "detection_tpr",
    "detection_fdr",
    "hd95_mm",
    "surface_dice_1mm",
)

#: Metrics that are counts, printed as integers.
COUNT_METRICS: frozenset[str] = frozenset({"n_truth_objects", "n_pred_objects"})

#: Values allowed in a ``dseg`` map (0 is background).
VALID_LABEL_VALUES: tuple[int, ...] = (0, *sorted(LABELS.values()))

#: Largest affine difference (mm, element-wise) still read as "the same grid".
#: NIfTI stores the sform in float32, so round trips move entries by ~1e-5 mm.
AFFINE_ATOL_MM: float = 1e-3

#: Lemay et al.: a lesion counts as detected from 6 mm³ of overlap.
DEFAULT_MIN_OVERLAP_MM3: float = 6.0

#: Objects are 18-connected: voxels sharing a face or an edge, not only a corner.
CONNECTIVITY_18 = ndimage.generate_binary_structure(3, 2)

#: Surface Dice tolerance (mm).
SURFACE_TOLERANCE_MM: float = 1.0

NA = "n/a"

MetricValue = float | int | None


# --------------------------------------------------------------------------- masks


def _check_dseg(dseg: np.ndarray, name: str) -> None:
    """Raise if ``dseg`` is not a 3-D map with values in 0..3.

    Args:
        dseg: Label map.
        name: What to call it in the error message (a file name or role).

    Raises:
        ValueError: wrong dimensionality or unexpected label values.
    """
    if dseg.ndim != 3:
        raise ValueError(f"{name}: expected a 3-D label map, got shape {dseg.shape}")
    valid = np.isin(dseg, VALID_LABEL_VALUES)
    if not valid.all():
        bad = np.unique(dseg[~valid])
        shown = ", ".join(repr(v.item()) for v in bad[:5]) + (", ..." if bad.size > 5 else "")
        raise ValueError(f"{name}: label values outside 0..3: {shown}")


def binary_masks(dseg: np.ndarray) -> dict[str, np.ndarray]:
    """Split a ``dseg`` map into one boolean mask per reported label.

    Args:
        dseg: 3-D map with 0 background, 1 tumour, 2 edema, 3 cavity.

    Returns:
        ``{label: mask}`` for every name in ``LABEL_NAMES``, ``whole`` being
        the union of labels 1-3.

    Raises:
        ValueError: ``dseg`` is not 3-D or holds values outside 0..3.
    """
    dseg = np.asarray(dseg)
    _check_dseg(dseg, "dseg")
    masks = {name: dseg == value for name, value in LABELS.items()}
    masks["whole"] = dseg > 0
    return {name: masks[name] for name in LABEL_NAMES}


# --------------------------------------------------------------------------- overlap


def _ratio(numerator: float, denominator: float) -> float | None:
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
    return _ratio(2 * np.count_nonzero(pred & truth), np.count_nonzero(pred) + np.count_nonzero(truth))


def precision(pred: np.ndarray, truth: np.ndarray) -> float | None:
    """Voxel precision ``|P∩T| / |P|``.

    Args:
        pred: Boolean prediction mask.
        truth: Boolean reference mask, same shape.

    Returns:
        The precision; ``None`` when the prediction is empty.
    """
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    return _ratio(np.count_nonzero(pred & truth), np.count_nonzero(pred))


def recall(pred: np.ndarray, truth: np.ndarray) -> float | None:
    """Voxel recall (sensitivity) ``|P∩T| / |T|``.

    Args:
        pred: Boolean prediction mask.
        truth: Boolean reference mask, same shape.

    Returns:
        The recall; ``None`` when the reference is empty.
    """
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    return _ratio(np.count_nonzero(pred & truth), np.count_nonzero(truth))


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
    rvd = _ratio(vol_truth - vol_pred, vol_truth)
    return {
        "vol_pred_mm3": vol_pred,
        "vol_truth_mm3": vol_truth,
        "rvd": rvd,
        "avd": None if rvd is None else abs(rvd),
    }


# --------------------------------------------------------------------------- lesions


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
) -> dict[str, MetricValue]:
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
    _check_same_shape(pred, truth)
    threshold = overlap_threshold_voxels(voxel_volume_mm3, min_overlap_mm3)
    n_truth, truth_detected = _detected_objects(truth, pred, threshold)
    n_pred, pred_detected = _detected_objects(pred, truth, threshold)
    false_pred = n_pred - pred_detected
    return {
        "n_truth_objects": n_truth,
        "n_pred_objects": n_pred,
        "detection_tpr": _ratio(truth_detected, n_truth),
        "detection_fdr": _ratio(false_pred, truth_detected + false_pred),
    }


# --------------------------------------------------------------------------- surfaces


def _finite_or_none(value: torch.Tensor) -> float | None:
    """A one-element tensor as a float, or ``None`` if it is NaN or infinite."""
    number = float(value.reshape(-1)[0])
    return number if math.isfinite(number) else None


def surface_metrics(pred: np.ndarray, truth: np.ndarray, spacing: Sequence[float]) -> dict[str, float | None]:
    """95th-percentile Hausdorff distance and surface Dice at 1 mm, via MONAI.

    Both come from one call of MONAI's ``get_edge_surface_distance`` (edge
    voxels and their nearest-edge distances, both ways): its
    ``compute_hausdorff_distance`` and ``compute_surface_dice`` would each
    compute the same distances again, and that search is most of the cost of
    the per-case table. The formulas are theirs (HD95: the larger of the two
    directed 95th percentiles; surface Dice: the share of edge voxels, of
    both masks, within the tolerance), which a test checks.

    Args:
        pred: Boolean 3-D prediction mask.
        truth: Boolean 3-D reference mask, same shape.
        spacing: Voxel size in mm along each array axis.

    Returns:
        ``hd95_mm`` (symmetric) and ``surface_dice_1mm``; both ``None`` when
        either mask is empty (distances to nothing are undefined) or MONAI
        returns NaN/inf.

    Raises:
        ValueError: shapes differ or ``spacing`` does not match them.
    """
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    _check_same_shape(pred, truth)
    spacing = _check_spacing(spacing, pred.ndim)
    if not pred.any() or not truth.any():
        return {"hd95_mm": None, "surface_dice_1mm": None}
    # Imported here: torch + MONAI take seconds to load and nothing else needs them,
    # so input errors and --help answer at once.
    import torch
    from monai.metrics.utils import get_edge_surface_distance

    with warnings.catch_warnings():
        # MONAI 1.5+ warns about its own internal use of a deprecated argument.
        warnings.filterwarnings("ignore", message=".*always_return_as_numpy.*", category=FutureWarning)
        _, distances, _ = get_edge_surface_distance(
            torch.from_numpy(pred), torch.from_numpy(truth), spacing=spacing, symmetric=True
        )
    hd95 = torch.max(torch.stack([torch.quantile(d, 0.95) for d in distances]))
    within = sum(int(torch.sum(d <= SURFACE_TOLERANCE_MM)) for d in distances)
    nsd = torch.tensor(within / sum(len(d) for d in distances))
    return {"hd95_mm": _finite_or_none(hd95), "surface_dice_1mm": _finite_or_none(nsd)}


# --------------------------------------------------------------------------- all metrics


def _check_same_shape(pred: np.ndarray, truth: np.ndarray) -> None:
    """Raise unless both masks are 3-D and of the same shape."""
    if pred.ndim != 3 or pred.shape != truth.shape:
        raise ValueError(f"expected two 3-D arrays of the same shape, got {pred.shape} and {truth.shape}")


def _check_spacing(spacing: Sequence[float], ndim: int) -> list[float]:
    """Return ``spacing`` as a list of floats after checking length and sign.

    Raises:
        ValueError: wrong length or a non-positive entry.
    """
    values = [float(s) for s in np.asarray(spacing, dtype=float).reshape(-1)]
    if len(values) != ndim or not all(s > 0 for s in values):
        raise ValueError(f"spacing must hold {ndim} positive voxel sizes, got {list(spacing)}")
    return values


def _label_metrics(
    pred: np.ndarray, truth: np.ndarray, spacing: list[float], min_overlap_mm3: float
) -> dict[str, MetricValue]:
    """Every metric of ``METRIC_NAMES`` for one pair of boolean masks."""
    voxel_volume = float(np.prod(spacing))
    values: dict[str, MetricValue] = {
        "dice": dice(pred, truth),
        "precision": precision(pred, truth),
        "recall": recall(pred, truth),
    }
    values.update(volumes(pred, truth, voxel_volume))
    values.update(lesion_detection(pred, truth, voxel_volume, min_overlap_mm3))
    values.update(surface_metrics(pred, truth, spacing))
    return {name: values[name] for name in METRIC_NAMES}


def compute_metrics(
    pred: np.ndarray,
    truth: np.ndarray,
    spacing: Sequence[float],
    min_overlap_mm3: float = DEFAULT_MIN_OVERLAP_MM3,
) -> list[tuple[str, str, MetricValue]]:
    """All metrics for every label of two ``dseg`` maps on the same grid.

    Args:
        pred: Predicted 3-D ``dseg`` map (values 0..3).
        truth: Reference 3-D ``dseg`` map, same shape.
        spacing: Voxel size in mm along each array axis.
        min_overlap_mm3: Overlap needed for a lesion detection, in mm³.

    Returns:
        ``(label, metric, value)`` rows, labels in ``LABEL_NAMES`` order and
        metrics in ``METRIC_NAMES`` order; undefined values are ``None``.

    Raises:
        ValueError: shapes differ, a map is not 3-D, holds values outside
            0..3, or ``spacing`` is invalid.
    """
    pred, truth = np.asarray(pred), np.asarray(truth)
    _check_dseg(pred, "prediction")
    _check_dseg(truth, "truth")
    if pred.shape != truth.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from truth shape {truth.shape}")
    spacing_mm = _check_spacing(spacing, truth.ndim)
    pred_masks, truth_masks = binary_masks(pred), binary_masks(truth)
    rows: list[tuple[str, str, MetricValue]] = []
    for label in LABEL_NAMES:
        values = _label_metrics(pred_masks[label], truth_masks[label], spacing_mm, min_overlap_mm3)
        rows.extend((label, metric, value) for metric, value in values.items())
    return rows


# --------------------------------------------------------------------------- files


def _load_dseg(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read a ``dseg`` NIfTI file and check its labels.

    Returns:
        ``(data, affine)``; trailing singleton axes beyond 3-D are dropped.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: unreadable, not 3-D, or label values outside 0..3.
    """
    img = load_nifti(path)
    data = np.asanyarray(img.dataobj)
    if data.ndim > 3 and all(size == 1 for size in data.shape[3:]):
        data = data.reshape(data.shape[:3])
    _check_dseg(data, str(path))
    return data, np.asarray(img.affine, dtype=float)


def _check_same_grid(
    pred_path: str | os.PathLike[str],
    pred: tuple[np.ndarray, np.ndarray],
    truth_path: str | os.PathLike[str],
    truth: tuple[np.ndarray, np.ndarray],
) -> None:
    """Raise, naming the prediction file, unless both images share one grid.

    Raises:
        ValueError: shapes differ or affines differ by more than
            ``AFFINE_ATOL_MM``.
    """
    (pred_data, pred_affine), (truth_data, truth_affine) = pred, truth
    if pred_data.shape != truth_data.shape:
        raise ValueError(
            f"{pred_path}: grid differs from {truth_path}: shape {pred_data.shape} vs {truth_data.shape}"
        )
    if not np.allclose(pred_affine, truth_affine, rtol=0.0, atol=AFFINE_ATOL_MM):
        worst = float(np.abs(pred_affine - truth_affine).max())
        raise ValueError(
            f"{pred_path}: grid differs from {truth_path}: affines differ by up to {worst:.6g} mm "
            f"(tolerance {AFFINE_ATOL_MM} mm)"
        )


def evaluate_files(
    pred_path: str | os.PathLike[str],
    truth_path: str | os.PathLike[str],
    min_overlap_mm3: float = DEFAULT_MIN_OVERLAP_MM3,
) -> pd.DataFrame:
    """All metrics for a predicted and a reference ``dseg`` file.

    Voxel sizes are the column norms of the reference affine, so they follow
    the array axes whatever the orientation or axis order.

    Args:
        pred_path: Predicted ``dseg`` NIfTI file.
        truth_path: Reference ``dseg`` NIfTI file on the same grid.
        min_overlap_mm3: Overlap needed for a lesion detection, in mm³.

    Returns:
        Long table with columns ``label``, ``metric``, ``value`` (float,
        ``NaN`` where undefined), in ``compute_metrics`` order.

    Raises:
        FileNotFoundError: a file does not exist.
        ValueError: a file is unreadable, holds labels outside 0..3, or the
            grids differ; the message names the file.
    """
    pred = _load_dseg(pred_path)
    truth = _load_dseg(truth_path)
    _check_same_grid(pred_path, pred, truth_path, truth)
    rows = compute_metrics(pred[0], truth[0], voxel_sizes(truth[1]), min_overlap_mm3)
    # A float column (NaN = undefined) aggregates directly in long-format tables.
    return pd.DataFrame(rows, columns=["label", "metric", "value"]).astype({"value": float})


def format_value(metric: str, value: MetricValue) -> str:
    """Render one value for the TSV.

    Args:
        metric: Metric name (counts are printed as integers).
        value: The value; ``None`` or NaN is missing.

    Returns:
        ``n/a`` when missing, an integer for counts, otherwise the ``repr``
        of the float rounded to 6 significant digits.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NA
    if metric in COUNT_METRICS:
        return str(int(value))
    return repr(float(f"{float(value):.6g}"))


def format_tsv(table: pd.DataFrame) -> str:
    """Render a metrics table as ``label<TAB>metric<TAB>value`` lines.

    Args:
        table: Output of ``evaluate_files``.

    Returns:
        The TSV text, header included, ending with a newline.
    """
    lines = ["label\tmetric\tvalue"]
    lines += [
        f"{label}\t{metric}\t{format_value(metric, value)}"
        for label, metric, value in table[["label", "metric", "value"]].itertuples(index=False)
    ]
    return "\n".join(lines) + "\n"


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m spinetumor.evaluation.metrics",
        description="Segmentation metrics (tumor, edema, cavity, whole) of a predicted dseg "
        "against a reference dseg, as a label/metric/value TSV on stdout.",
    )
    parser.add_argument("pred", help="predicted dseg NIfTI (0 background, 1 tumour, 2 edema, 3 cavity)")
    parser.add_argument("truth", help="reference dseg NIfTI on the same grid")
    parser.add_argument(
        "--min-overlap-mm3",
        type=float,
        default=DEFAULT_MIN_OVERLAP_MM3,
        help="overlap for a lesion to count as detected (default: %(default)s mm³)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point.

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` if None.

    Returns:
        0 on success, 2 when an input is missing or invalid (message on
        stderr).
    """
    args = _parse_args(argv)
    try:
        table = evaluate_files(args.pred, args.truth, args.min_overlap_mm3)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(format_tsv(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
