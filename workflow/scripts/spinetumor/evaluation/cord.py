"""Stage-1 quality of a cascade: cord Dice, and whether the lesion lies inside the crop that stage 2 saw."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from spinetumor.evaluation.metrics import AFFINE_ATOL_MM
from spinetumor.evaluation.overlap import dice
from spinetumor.evaluation.per_case import case_name, check_keys, check_unique_cases
from spinetumor.io import load_nifti

__all__ = ["cord_localisation", "cord_localisation_summary"]

#: Keys every case mapping of :func:`cord_localisation` must have.
CORD_CASE_KEYS: tuple[str, ...] = (
    "model",
    "split",
    "subject",
    "pathology",
    "pred_cord",
    "ref_cord",
    "crop_box",
    "preproc_dseg",
)


def _load_mask(path: str | os.PathLike[str], who: str) -> tuple[np.ndarray, np.ndarray]:
    """Boolean mask (``> 0``) and affine of a NIfTI file.

    Raises:
        FileNotFoundError / ValueError: unreadable or not 3-D, named with ``who``.
    """
    try:
        img = load_nifti(path)
    except (FileNotFoundError, ValueError) as exc:
        raise type(exc)(f"{who}: {exc}") from exc
    data = np.asanyarray(img.dataobj)
    data = data.reshape(data.shape[:3]) if data.ndim > 3 and all(s == 1 for s in data.shape[3:]) else data
    if data.ndim != 3:
        raise ValueError(f"{who}: {path}: expected a 3-D image, got shape {data.shape}")
    return data > 0, np.asarray(img.affine, dtype=float)


def _cord_dice(case: Mapping[str, Any]) -> float:
    """Dice of predicted against reference cord mask (``NaN`` if both are empty).

    Raises:
        ValueError: the two masks are not on the same grid.
    """
    who = case_name(case)
    pred, pred_affine = _load_mask(case["pred_cord"], who)
    ref, ref_affine = _load_mask(case["ref_cord"], who)
    if pred.shape != ref.shape or not np.allclose(pred_affine, ref_affine, rtol=0.0, atol=AFFINE_ATOL_MM):
        raise ValueError(f"{who}: cord mask {case['pred_cord']} is not on the grid of {case['ref_cord']}")
    value = dice(pred, ref)
    return math.nan if value is None else value


def _check_box(box: Any, shape: tuple[int, ...], who: str) -> tuple[np.ndarray, np.ndarray]:
    """``(start, stop)`` as integer arrays after checking them against ``shape``.

    Raises:
        ValueError: not two triples of integers with ``0 <= start <= stop``.
    """
    try:
        start, stop = (np.asarray(corner, dtype=float) for corner in box)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{who}: crop_box must be (start, stop), got {box!r}") from exc
    if (
        start.shape != (len(shape),)
        or stop.shape != (len(shape),)
        or np.any(start < 0)
        or np.any(stop < start)
    ):
        raise ValueError(
            f"{who}: crop_box must be two {len(shape)}-tuples with 0 <= start <= stop, got {box!r}"
        )
    if np.any(np.mod(start, 1) != 0) or np.any(np.mod(stop, 1) != 0):
        raise ValueError(f"{who}: crop_box must hold integer voxel indices, got {box!r}")
    return start.astype(int), stop.astype(int)


def _lesion_inside(case: Mapping[str, Any]) -> bool | None:
    """True when every lesion voxel lies in the crop box; ``None`` without a lesion."""
    who = case_name(case)
    lesion, _ = _load_mask(case["preproc_dseg"], who)
    start, stop = _check_box(case["crop_box"], lesion.shape, who)
    if not lesion.any():
        return None
    voxels = np.argwhere(lesion)
    return bool(np.all((voxels >= start) & (voxels < stop)))


def cord_localisation(cases: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Stage-1 quality per case: cord Dice, and whether the lesion is inside the crop.

    Args:
        cases: One mapping per test case with keys ``model``, ``split``,
            ``subject``, ``pathology``, ``pred_cord`` and ``ref_cord``
            (binary NIfTI paths on the same native grid), ``crop_box``
            (``(start, stop)`` voxel indices on the preprocessed grid, stop
            exclusive) and ``preproc_dseg`` (the lesion ``dseg`` on that grid).

    Returns:
        Columns ``model, split, subject, pathology, cord_dice,
        tumour_inside_crop``; ``cord_dice`` in 0-1 (``NaN`` when both masks
        are empty); ``tumour_inside_crop`` a nullable boolean, ``<NA>`` when
        the case has no lesion voxel.

    Raises:
        ValueError: a key is missing, a case is listed twice, masks are not on
            one grid, or the crop box is invalid (the message names the case).
        FileNotFoundError: a file does not exist (named with its case).
    """
    for index, case in enumerate(cases):
        check_keys(case, CORD_CASE_KEYS, index)
    check_unique_cases(cases)
    rows = [
        {
            **{key: case[key] for key in ("model", "split", "subject", "pathology")},
            "cord_dice": _cord_dice(case),
            "tumour_inside_crop": _lesion_inside(case),
        }
        for case in cases
    ]
    table = pd.DataFrame(
        rows, columns=["model", "split", "subject", "pathology", "cord_dice", "tumour_inside_crop"]
    )
    return table.astype({"cord_dice": float, "tumour_inside_crop": "boolean"})


def cord_localisation_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per model: mean cord Dice and share of cases with the lesion inside the crop.

    Shares are over test cases (a subject tested in several splits counts
    each time) that have a lesion; Dice means skip undefined values.

    Args:
        table: Output of :func:`cord_localisation`.

    Returns:
        Columns ``model, n_cases, cord_dice_pct, n_with_lesion,
        tumour_inside_crop_pct`` (percent; ``NaN`` without any lesion).

    Raises:
        ValueError: a column is missing.
    """
    missing = [c for c in ("model", "cord_dice", "tumour_inside_crop") if c not in table.columns]
    if missing:
        raise ValueError(f"cord localisation table: missing columns {', '.join(missing)}")
    inside = table["tumour_inside_crop"].astype("boolean")
    grouped = table.assign(inside=inside.astype("Float64")).groupby("model", sort=True)
    summary = pd.DataFrame(
        {
            "n_cases": grouped.size(),
            "cord_dice_pct": grouped["cord_dice"].mean() * 100.0,
            "n_with_lesion": grouped["inside"].count(),
            "tumour_inside_crop_pct": grouped["inside"].mean().astype(float) * 100.0,
        }
    )
    return summary.reset_index()
