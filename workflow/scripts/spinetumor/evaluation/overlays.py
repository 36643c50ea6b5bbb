"""Overlay figures: mid-sagittal T2w and T1w with the truth and predicted lesion
contours, and the choice of the cases to show (best, median, worst Dice).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from spinetumor.evaluation.figures import PathLike, new_figure, save_figure
from spinetumor.io import load_nifti, voxel_sizes

__all__ = ["sagittal_slice", "overlays", "pick_best_median_worst"]

#: Contour colours of the overlays (colour-blind safe pair).
TRUTH_COLOUR = "#1f77b4"

PRED_COLOUR = "#ff7f0e"


def sagittal_slice(data: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, float]:
    """Mid-sagittal slice, superior up and anterior to the left.

    The sagittal axis is the array axis whose closest world direction is
    left-right (``nibabel.aff2axcodes``); its middle index (``n // 2``) is
    taken. Rows of the result run superior to inferior, columns anterior to
    posterior, as radiology shows sagittal spine images.

    Args:
        data: 3-D image array.
        affine: Its 4x4 voxel-to-world (RAS) matrix.

    Returns:
        ``(plane, aspect)``: the 2-D slice and the ``imshow`` aspect (row
        spacing / column spacing) that makes a millimetre equal both ways.

    Raises:
        ValueError: ``data`` is not 3-D or the axes do not cover L-R, A-P and S-I.
    """
    data = np.asarray(data)
    if data.ndim != 3:
        raise ValueError(f"expected a 3-D image, got shape {data.shape}")
    codes = nib.aff2axcodes(affine)
    axis_of = {frozenset("LR"): None, frozenset("AP"): None, frozenset("SI"): None}
    for axis, code in enumerate(codes):
        for pair in axis_of:
            if code in pair:
                axis_of[pair] = axis
    if None in axis_of.values():
        raise ValueError(
            f"image axes {codes} do not cover left-right, anterior-posterior and superior-inferior"
        )
    lr, ap, si = (axis_of[frozenset(p)] for p in ("LR", "AP", "SI"))
    plane = np.take(data, data.shape[lr] // 2, axis=lr)
    kept = [axis for axis in range(3) if axis != lr]
    plane = np.transpose(plane, (kept.index(si), kept.index(ap)))
    if codes[si] == "S":  # index grows upwards; row 0 must be the top
        plane = plane[::-1, :]
    if codes[ap] == "A":  # index grows anteriorly; column 0 must be the front
        plane = plane[:, ::-1]
    spacing = voxel_sizes(affine)
    return plane, float(spacing[si] / spacing[ap])


def _normalise(plane: np.ndarray) -> np.ndarray:
    """Scale to [0, 1] between the 1st and 99th percentiles."""
    low, high = np.percentile(plane, [1, 99])
    return np.clip((plane - low) / max(float(high - low), 1e-6), 0.0, 1.0)


def _load_case(case: Mapping[str, Any]) -> dict[str, tuple[np.ndarray, float]]:
    """Mid-sagittal slices of one overlay case's four images.

    Raises:
        ValueError: a key is missing or the images are not on one grid (the
            message names the case title and the file).
    """
    keys = ("title", "t2w", "t1w", "truth", "pred")
    missing = [key for key in keys if key not in case]
    if missing:
        raise ValueError(f"overlay case {case.get('title', '?')}: lacks {', '.join(missing)}")
    reference = load_nifti(case["t2w"])
    slices = {}
    for key in keys[1:]:
        img = reference if key == "t2w" else load_nifti(case[key])
        data = np.asanyarray(img.dataobj)
        if data.ndim > 3 and all(size == 1 for size in data.shape[3:]):
            data = data.reshape(data.shape[:3])
        if data.ndim != 3:
            raise ValueError(
                f"overlay case {case['title']}: {case[key]}: expected a 3-D image, got {data.shape}"
            )
        if data.shape != reference.shape[:3] or not np.allclose(img.affine, reference.affine, atol=1e-3):
            raise ValueError(f"overlay case {case['title']}: {case[key]} is not on the grid of {case['t2w']}")
        slices[key] = sagittal_slice(np.asarray(data, dtype=np.float32), reference.affine)
    return slices


def _overlay_panel(ax: Any, image: np.ndarray, aspect: float, truth: np.ndarray, pred: np.ndarray) -> None:
    """One grey-scale slice with the whole-lesion contours of truth and prediction."""
    ax.imshow(_normalise(image), cmap="gray", vmin=0, vmax=1, aspect=aspect, interpolation="nearest")
    for mask, colour in ((truth, TRUTH_COLOUR), (pred, PRED_COLOUR)):
        if mask.any():  # contour of an empty mask only warns
            ax.contour(mask.astype(float), levels=[0.5], colors=[colour], linewidths=0.8)
    ax.set_xticks([])
    ax.set_yticks([])


def overlays(cases: Sequence[Mapping[str, Any]], out_png: PathLike, out_pdf: PathLike) -> tuple[Path, Path]:
    """Mid-sagittal T2w and T1w with the truth and predicted lesion contours, one row per case.

    Args:
        cases: Mappings with ``title``, ``t2w``, ``t1w`` (already on the T2w
            grid), ``truth`` and ``pred`` (``dseg`` maps; the whole lesion,
            ``> 0``, is contoured): native-grid NIfTI paths.
        out_png: PNG destination.
        out_pdf: PDF destination.

    Returns:
        ``(out_png, out_pdf)``.

    Raises:
        ValueError: no case, a key missing, or images not on one grid.
        FileNotFoundError: a file does not exist.
    """
    if not cases:
        raise ValueError("overlays: no case to show")
    fig = new_figure(6, 3.6 * len(cases))
    axes = fig.subplots(len(cases), 2, squeeze=False)
    for row, case in zip(axes, cases):
        slices = _load_case(case)
        truth, pred = slices["truth"][0] > 0, slices["pred"][0] > 0
        for ax, key, name in ((row[0], "t2w", "T2w"), (row[1], "t1w", "T1w")):
            _overlay_panel(ax, slices[key][0], slices[key][1], truth, pred)
            ax.set_title(f"{case['title']} - {name}", fontsize=9)
            ax.set_xlabel("anterior - posterior", fontsize=8)
        row[0].set_ylabel("inferior - superior", fontsize=8)
    handles = [
        Line2D([], [], color=TRUTH_COLOUR, label="truth"),
        Line2D([], [], color=PRED_COLOUR, label="prediction"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=2)
    return save_figure(fig, out_png, out_pdf)


def pick_best_median_worst(
    per_case: pd.DataFrame, model: str, label: str = "whole"
) -> list[tuple[Any, Any, float]]:
    """The test cases with the best, the median and the worst Dice.

    Cases are sorted by Dice (ties by split, then subject); the median is the
    lower median (index ``(n - 1) // 2`` in ascending order). With fewer than
    three cases a case is not repeated: one case gives one tuple, two give
    best and worst.

    Args:
        per_case: Long per-case table (see :mod:`spinetumor.evaluation.per_case`).
        model: Model whose test cases are ranked.
        label: Label whose Dice ranks them.

    Returns:
        ``[(split, subject, dice), ...]`` in the order best, median, worst.

    Raises:
        ValueError: no defined Dice for ``model`` and ``label``.
    """
    rows = per_case[
        (per_case["model"] == model) & (per_case["label"] == label) & (per_case["metric"] == "dice")
    ]
    rows = rows[rows["value"].notna()]
    if rows.empty:
        raise ValueError(f"model {model}: no defined Dice for label {label}")
    ranked = rows.sort_values(["value", "split", "subject"], kind="stable").reset_index(drop=True)
    picks = [len(ranked) - 1, (len(ranked) - 1) // 2, 0]
    unique = list(dict.fromkeys(picks))
    return [(ranked.at[i, "split"], ranked.at[i, "subject"], float(ranked.at[i, "value"])) for i in unique]
