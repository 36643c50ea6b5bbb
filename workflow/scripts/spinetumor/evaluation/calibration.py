"""Calibration of the test predictions' probabilities: expected calibration error and reliability diagrams.

Each test prediction's probabilities (one channel per network output, on the
native T2w grid) are compared voxel by voxel with its reference: ``tumor``,
``edema`` and ``cavity`` with their label, ``whole`` with any label. The
voxels of every test case of a model are pooled into 10 equal-width bins of
predicted probability; per bin, the mean probability against the observed
frequency is the reliability diagram, and

    ECE = sum over bins of (n_bin / n) * |mean probability - observed frequency|

(Guo et al. 2017), MCE the largest of those gaps, Brier the mean squared error.

Two regions are scored, because a scan is mostly background that any model
calls 0 with confidence, which makes the ECE over ``all`` voxels small
whatever the model does near the lesion: ``lesion`` is, per case, the
bounding box of the reference lesion and of the predicted one (any channel
at or above 0.5), grown by 10 mm on each side; a case with neither has no
voxel there.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd

from spinetumor import LABELS
from spinetumor.evaluation.figures import new_figure, save_figure
from spinetumor.inference.masks import bounding_box
from spinetumor.io import voxel_sizes

__all__ = [
    "BINS",
    "MARGIN_MM",
    "REGIONS",
    "calibration_tables",
    "bin_counts",
    "expected_calibration_error",
    "lesion_region",
    "reliability_figure",
]

#: Equal-width bins of predicted probability.
BINS: int = 10
#: Margin around the lesions' bounding box of the ``lesion`` region.
MARGIN_MM: float = 10.0
#: The scored regions.
REGIONS: tuple[str, ...] = ("all", "lesion")

PathLike = str | os.PathLike[str]


def bin_counts(prob: np.ndarray, truth: np.ndarray, bins: int = BINS) -> np.ndarray:
    """Per bin: number of voxels, sum of their probabilities, number that are positive, sum of squared errors.

    Args:
        prob: Probabilities in [0, 1].
        truth: Booleans of the same shape.

    Returns:
        ``(bins, 4)`` float64 array; bin ``i`` holds probabilities in ``[i/bins, (i+1)/bins)`` (1.0 in the last).
    """
    p = np.asarray(prob, dtype=np.float64).ravel()
    y = np.asarray(truth, dtype=bool).ravel()
    index = np.minimum((p * bins).astype(np.int64), bins - 1)
    columns = [np.ones_like(p), p, y.astype(np.float64), (p - y) ** 2]
    return np.stack([np.bincount(index, weights=c, minlength=bins) for c in columns], axis=1)


def expected_calibration_error(counts: np.ndarray) -> dict[str, float]:
    """``ece``, ``mce``, ``brier`` and ``n_voxels`` of pooled :func:`bin_counts` (NaN without voxels)."""
    n = counts[:, 0]
    total = n.sum()
    if total == 0:
        return {"n_voxels": 0, "ece": np.nan, "mce": np.nan, "brier": np.nan}
    filled = n > 0
    gap = np.abs(counts[filled, 1] - counts[filled, 2]) / n[filled]
    return {
        "n_voxels": int(total),
        "ece": float((n[filled] / total * gap).sum()),
        "mce": float(gap.max()),
        "brier": float(counts[:, 3].sum() / total),
    }


def lesion_region(
    truth: np.ndarray, probs: np.ndarray, affine: np.ndarray, margin_mm: float = MARGIN_MM
) -> np.ndarray:
    """The ``lesion`` region of one case: a boolean mask (empty when neither lesion exists).

    Args:
        truth: Reference lesion (any label).
        probs: ``(X, Y, Z, C)`` probabilities.
        affine: The grid's affine (for the margin in voxels).
    """
    found = np.asarray(truth, bool) | (np.asarray(probs).max(axis=-1) >= 0.5)
    region = np.zeros(found.shape, dtype=bool)
    if not found.any():
        return region
    margin = np.ceil(margin_mm / voxel_sizes(affine)).astype(int)
    region[bounding_box(found, pad=margin.tolist())] = True
    return region


def _references(dseg: np.ndarray, channels: Sequence[str]) -> list[np.ndarray]:
    return [dseg > 0 if c == "whole" else dseg == LABELS[c] for c in channels]


def _case_counts(case: Mapping[str, Any]) -> dict[tuple[str, str], np.ndarray]:
    """One case's :func:`bin_counts` per (label, region)."""
    channels = json.loads(Path(case["sidecar"]).read_text())["channels"]
    probs_img = nib.load(case["probs"])
    probs = np.asarray(probs_img.dataobj, dtype=np.float32)
    dseg = np.asarray(nib.load(case["truth"]).dataobj)
    if probs.shape[:3] != dseg.shape or probs.shape[3] != len(channels):
        raise ValueError(
            f"{case['subject']}: probabilities {case['probs']} of shape {probs.shape} do not fit the reference "
            f"{dseg.shape} with channels {channels}"
        )
    region = lesion_region(dseg > 0, probs, probs_img.affine)
    counts = {}
    for c, (channel, truth) in enumerate(zip(channels, _references(dseg, channels), strict=True)):
        counts[(channel, "all")] = bin_counts(probs[..., c], truth)
        counts[(channel, "lesion")] = bin_counts(probs[..., c][region], truth[region])
    return counts


def calibration_tables(cases: Sequence[Mapping[str, Any]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The calibration of every model, per label and region, pooled over its test cases.

    Args:
        cases: One per test prediction: ``model``, ``subject``, ``probs`` (the
            native probabilities), ``sidecar`` (its JSON, naming ``channels``)
            and ``truth`` (the reference ``dseg``).

    Returns:
        The summary (``model, label, region, n_voxels, ece, mce, brier``) and
        the reliability bins (``model, label, region, bin_low, bin_high,
        n_voxels, mean_probability, observed_frequency``).
    """
    pooled: dict[tuple[str, str, str], np.ndarray] = {}
    for case in cases:
        for (label, region), counts in _case_counts(case).items():
            key = (case["model"], label, region)
            pooled[key] = pooled.get(key, 0) + counts
    summary, bins = [], []
    for (model, label, region), counts in pooled.items():
        summary.append(
            {"model": model, "label": label, "region": region, **expected_calibration_error(counts)}
        )
        for i, (n, sum_p, positives, _) in enumerate(counts):
            bins.append(
                {
                    "model": model,
                    "label": label,
                    "region": region,
                    "bin_low": i / BINS,
                    "bin_high": (i + 1) / BINS,
                    "n_voxels": int(n),
                    "mean_probability": sum_p / n if n else np.nan,
                    "observed_frequency": positives / n if n else np.nan,
                }
            )
    return pd.DataFrame(summary), pd.DataFrame(bins)


def reliability_figure(
    bins: pd.DataFrame, out_png: PathLike, out_pdf: PathLike, region: str = "lesion"
) -> None:
    """Reliability diagrams, one panel per label, one line per model (``region``'s bins), over the
    share of voxels per bin (log scale)."""
    rows = bins[(bins["region"] == region) & (bins["n_voxels"] > 0)]
    labels = list(dict.fromkeys(rows["label"]))
    fig = new_figure(3.0 * max(1, len(labels)), 5.0)
    axes = fig.subplots(2, max(1, len(labels)), squeeze=False, sharex=True, height_ratios=[3, 1])
    for col, label in enumerate(labels):
        top, bottom = axes[0][col], axes[1][col]
        top.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1)
        for model, group in rows[rows["label"] == label].groupby("model", sort=False):
            top.plot(
                group["mean_probability"], group["observed_frequency"], marker="o", markersize=3, label=model
            )
            centres = (group["bin_low"] + group["bin_high"]) / 2
            bottom.plot(centres, group["n_voxels"] / group["n_voxels"].sum(), marker=".", label=model)
        top.set(title=label, xlim=(0, 1), ylim=(0, 1), ylabel="observed frequency" if col == 0 else None)
        bottom.set(
            yscale="log", xlabel="predicted probability", ylabel="share of voxels" if col == 0 else None
        )
    if labels:
        axes[0][-1].legend(fontsize="small", loc="upper left")
    fig.suptitle(f"Reliability of the test predictions ({region} region)")
    save_figure(fig, out_png, out_pdf)
