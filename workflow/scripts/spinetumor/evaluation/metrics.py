"""Segmentation metrics for ``dseg`` maps, per label and for the whole tumour.

Every metric of :data:`METRIC_NAMES` for every label of
:data:`~spinetumor.evaluation.masks.LABEL_NAMES`:
voxel overlap and volumes (:mod:`spinetumor.evaluation.overlap`), lesion-wise
detection on 18-connected objects that must overlap the other mask by at
least 6 mm³ (:mod:`spinetumor.evaluation.lesions`), and MONAI's
95th-percentile Hausdorff distance and surface Dice at 1 mm
(:mod:`spinetumor.evaluation.surfaces`). A metric that is undefined for a case
(e.g. Dice with both masks empty) is ``None`` in Python, ``NaN`` in the data
frame and ``n/a`` in the TSV.

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
from collections.abc import Sequence

import numpy as np
import pandas as pd

from spinetumor.evaluation.lesions import DEFAULT_MIN_OVERLAP_MM3, lesion_detection
from spinetumor.evaluation.masks import LABEL_NAMES, binary_masks, check_dseg, check_spacing
from spinetumor.evaluation.overlap import dice, precision, recall, volumes
from spinetumor.evaluation.surfaces import surface_metrics
from spinetumor.io import load_nifti, voxel_sizes

__all__ = [
    "METRIC_NAMES",
    "AFFINE_ATOL_MM",
    "NA",
    "MetricValue",
    "compute_metrics",
    "evaluate_files",
    "format_value",
    "format_tsv",
    "main",
]

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

#: Largest affine difference (mm, element-wise) still read as "the same grid".
#: NIfTI stores the sform in float32, so round trips move entries by ~1e-5 mm.
AFFINE_ATOL_MM: float = 1e-3

NA = "n/a"

MetricValue = float | int | None


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
    check_dseg(pred, "prediction")
    check_dseg(truth, "truth")
    if pred.shape != truth.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from truth shape {truth.shape}")
    spacing_mm = check_spacing(spacing, truth.ndim)
    pred_masks, truth_masks = binary_masks(pred), binary_masks(truth)
    rows: list[tuple[str, str, MetricValue]] = []
    for label in LABEL_NAMES:
        values = _label_metrics(pred_masks[label], truth_masks[label], spacing_mm, min_overlap_mm3)
        rows.extend((label, metric, value) for metric, value in values.items())
    return rows


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
    check_dseg(data, str(path))
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
