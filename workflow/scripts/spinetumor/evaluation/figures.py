"""Study figures from the per-case table, and what every figure shares.

Every figure function takes data (the long per-case table of
:mod:`spinetumor.evaluation.per_case`, or file paths) and ends with ``out_png,
out_pdf``; both files are written atomically by :func:`save_figure`, a 300 dpi
PNG and a PDF. Figures are built on :class:`matplotlib.figure.Figure` objects
with their own Agg canvas (:func:`new_figure`), never through ``pyplot``'s
global state, so nothing needs a display, the global backend is left alone and
no figure stays open. Anything random (seaborn's bootstrap and jitter) is
seeded, so reruns give the same pictures. Overlays are in
:mod:`spinetumor.evaluation.overlays`, training curves and the registration
mosaic in :mod:`spinetumor.evaluation.qc_figures`.
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import NullFormatter

from spinetumor.evaluation.lemay import LABEL_DISPLAY, LEMAY_LABELS
from spinetumor.evaluation.per_case import PER_CASE_COLUMNS
from spinetumor.io import atomic_path

__all__ = [
    "DPI",
    "SEED",
    "PathLike",
    "new_figure",
    "save_figure",
    "dice_boxplot",
    "detection_rates",
    "volume_agreement",
]

#: Resolution of the PNG files.
DPI: int = 300

#: Seed of seaborn's bootstrap intervals and of the strip-plot jitter.
SEED: int = 0

PathLike = str | os.PathLike[str]


def new_figure(width: float, height: float) -> Figure:
    """A constrained-layout figure drawn by its own Agg canvas (no pyplot, no display)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, out_png: PathLike, out_pdf: PathLike) -> tuple[Path, Path]:
    """Save ``fig`` as a 300 dpi PNG and a PDF, atomically.

    The PDF carries no creation date, so reruns give identical files.

    Args:
        fig: Figure to save.
        out_png: PNG destination.
        out_pdf: PDF destination.

    Returns:
        ``(out_png, out_pdf)`` as paths.
    """
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=DPI, format="png")
    with atomic_path(out_pdf) as tmp:
        fig.savefig(tmp, format="pdf", metadata={"CreationDate": None})
    return Path(out_png), Path(out_pdf)


@contextlib.contextmanager
def _seeded_numpy(seed: int) -> Iterator[None]:
    """Seed numpy's global generator (seaborn's strip-plot jitter uses it), then restore it."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def _metric_rows(per_case: pd.DataFrame, metrics: Sequence[str], what: str) -> pd.DataFrame:
    """Defined rows of ``metrics`` for the reported labels, with printed label names.

    Raises:
        ValueError: missing columns, or no defined value (``what`` names the figure).
    """
    missing = [column for column in PER_CASE_COLUMNS if column not in per_case.columns]
    if missing:
        raise ValueError(f"{what}: per-case table lacks columns {', '.join(missing)}")
    rows = per_case[per_case["metric"].isin(metrics) & per_case["label"].isin(LEMAY_LABELS)]
    rows = rows[rows["value"].notna()]
    if rows.empty:
        raise ValueError(f"{what}: no defined value of {', '.join(metrics)} in the per-case table")
    return rows.assign(label=rows["label"].map(LABEL_DISPLAY))


def _label_order(rows: pd.DataFrame) -> list[str]:
    """Printed label names present in ``rows``, in table order."""
    present = set(rows["label"])
    return [LABEL_DISPLAY[label] for label in LEMAY_LABELS if LABEL_DISPLAY[label] in present]


def _models(rows: pd.DataFrame) -> list[str]:
    return sorted(map(str, rows["model"].unique()))


def _move_legend_outside(fig: Figure, ax: Any) -> None:
    """Replace the legend seaborn drew inside ``ax`` by a figure legend on the right (hides no data)."""
    handles, labels = ax.get_legend_handles_labels()
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    fig.legend(handles, labels, title="model", loc="outside right upper", fontsize="small")


def dice_boxplot(per_case: pd.DataFrame, out_png: PathLike, out_pdf: PathLike) -> tuple[Path, Path]:
    """Dice per label (x) and model (hue): boxes with every test case as a point.

    Args:
        per_case: Long per-case table (see :mod:`spinetumor.evaluation.per_case`).
        out_png: PNG destination.
        out_pdf: PDF destination.

    Returns:
        ``(out_png, out_pdf)``.

    Raises:
        ValueError: missing columns or no defined Dice.
    """
    rows = _metric_rows(per_case, ["dice"], "Dice box plot").astype({"model": str})
    order, models = _label_order(rows), _models(rows)
    fig = new_figure(1.6 + 1.4 * len(order) * max(1, len(models)) ** 0.5, 4)
    ax = fig.add_subplot()
    common = {
        "data": rows,
        "x": "label",
        "y": "value",
        "hue": "model",
        "order": order,
        "hue_order": models,
        "ax": ax,
    }
    with warnings.catch_warnings():
        # seaborn 0.13 passes `vert`, which matplotlib 3.11 deprecates; nothing to fix on our side.
        warnings.filterwarnings("ignore", message=".*vert: bool was deprecated.*")
        sns.boxplot(**common, showfliers=False, fill=False, gap=0.1)
    with _seeded_numpy(SEED):
        sns.stripplot(**common, dodge=True, size=3, alpha=0.6, jitter=0.15, legend=False)
    ax.set(xlabel="", ylabel="Dice", ylim=(-0.02, 1.02))
    _move_legend_outside(fig, ax)
    return save_figure(fig, out_png, out_pdf)


def detection_rates(per_case: pd.DataFrame, out_png: PathLike, out_pdf: PathLike) -> tuple[Path, Path]:
    """Lesion-wise detection TPR and FDR per label and model, with 95 % intervals.

    Each subject counts once: its rate is first averaged over the splits that
    tested it; bars are means over subjects and the error bars seaborn's
    seeded bootstrap 95 % intervals over subjects.

    Args:
        per_case: Long per-case table (see :mod:`spinetumor.evaluation.per_case`).
        out_png: PNG destination.
        out_pdf: PDF destination.

    Returns:
        ``(out_png, out_pdf)``.

    Raises:
        ValueError: missing columns or no defined detection rate.
    """
    rows = _metric_rows(per_case, ["detection_tpr", "detection_fdr"], "detection rates")
    subjects = rows.groupby(["model", "subject", "label", "metric"], as_index=False)["value"].mean()
    subjects = subjects.assign(model=subjects["model"].astype(str), value=subjects["value"] * 100.0)
    order, models = _label_order(subjects), _models(subjects)
    fig = new_figure(9, 3.8)
    axes = fig.subplots(1, 2, sharey=True)
    for ax, (metric, title) in zip(
        axes, [("detection_tpr", "detection TPR"), ("detection_fdr", "detection FDR")]
    ):
        sns.barplot(
            data=subjects[subjects["metric"] == metric],
            x="label",
            y="value",
            hue="model",
            order=order,
            hue_order=models,
            errorbar=("ci", 95),
            n_boot=1000,
            seed=SEED,
            capsize=0.1,
            ax=ax,
            legend=ax is axes[0],
        )
        ax.set(title=title, xlabel="", ylabel="%", ylim=(0, 105))
    _move_legend_outside(fig, axes[0])
    return save_figure(fig, out_png, out_pdf)


def _volumes(per_case: pd.DataFrame) -> pd.DataFrame:
    """One row per case and label with ``vol_pred_mm3`` and ``vol_truth_mm3``."""
    rows = _metric_rows(per_case, ["vol_pred_mm3", "vol_truth_mm3"], "volume agreement")
    wide = rows.pivot_table(
        index=["model", "split", "subject", "label"], columns="metric", values="value", aggfunc="mean"
    ).reset_index()
    wide = wide.dropna(subset=["vol_pred_mm3", "vol_truth_mm3"])
    # Both volumes 0 (no such tissue, none predicted) is agreement with nothing to show.
    wide = wide[(wide["vol_pred_mm3"] > 0) | (wide["vol_truth_mm3"] > 0)]
    if wide.empty:
        raise ValueError("volume agreement: no case with a non-zero predicted or true volume")
    return wide.assign(model=wide["model"].astype(str))


def _model_scatter(
    ax: Any, data: pd.DataFrame, x: str, y: str, models: list[str], palette: dict[str, Any]
) -> None:
    """One point per case, coloured by model (the figure has one shared legend)."""
    sns.scatterplot(
        data=data, x=x, y=y, hue="model", hue_order=models, palette=palette, s=18, ax=ax, legend=False
    )


def _identity_panel(ax: Any, rows: pd.DataFrame, models: list[str], palette: dict[str, Any]) -> None:
    """Predicted against true volume on log axes; zero volumes cannot be shown there and are skipped."""
    positive = rows[(rows["vol_pred_mm3"] > 0) & (rows["vol_truth_mm3"] > 0)]
    if not positive.empty:
        _model_scatter(ax, positive, "vol_truth_mm3", "vol_pred_mm3", models, palette)
        low = positive[["vol_pred_mm3", "vol_truth_mm3"]].min().min() / 1.5
        high = positive[["vol_pred_mm3", "vol_truth_mm3"]].max().max() * 1.5
        ax.plot([low, high], [low, high], color="0.4", linestyle="--", linewidth=0.8)
        ax.set(xscale="log", yscale="log", xlim=(low, high), ylim=(low, high), aspect="equal")
        for axis in (ax.xaxis, ax.yaxis):  # minor labels of a narrow log range overlap
            axis.set_minor_formatter(NullFormatter())
    ax.set(xlabel="true volume (mm³)", ylabel="predicted volume (mm³)")


def _bland_altman_panel(ax: Any, rows: pd.DataFrame, models: list[str], palette: dict[str, Any]) -> None:
    """Mean against difference (predicted - true), with bias and ±1.96 sd lines per model."""
    rows = rows.assign(
        mean=(rows["vol_pred_mm3"] + rows["vol_truth_mm3"]) / 2.0,
        difference=rows["vol_pred_mm3"] - rows["vol_truth_mm3"],
    )
    _model_scatter(ax, rows, "mean", "difference", models, palette)
    for model, group in rows.groupby("model"):
        bias, sd = group["difference"].mean(), group["difference"].std(ddof=1)
        ax.axhline(bias, color=palette[model], linewidth=1.0)
        if not math.isnan(sd):
            for limit in (bias - 1.96 * sd, bias + 1.96 * sd):
                ax.axhline(limit, color=palette[model], linewidth=0.8, linestyle=":")
    ax.axhline(0.0, color="0.4", linewidth=0.5)
    ax.set(xlabel="mean volume (mm³)", ylabel="predicted - true (mm³)")


def volume_agreement(per_case: pd.DataFrame, out_png: PathLike, out_pdf: PathLike) -> tuple[Path, Path]:
    """Volume agreement per label (rows): predicted vs true (log-log) and Bland-Altman.

    Left: predicted against true volume on log axes with the identity line
    (cases where either volume is 0 are left out there). Right: Bland-Altman
    plot of the mean against the difference predicted - true (positive =
    over-segmentation), with each model's mean bias (solid) and bias ± 1.96
    sd (dotted). Cases where both volumes are 0 are left out of both panels.

    Args:
        per_case: Long per-case table (see :mod:`spinetumor.evaluation.per_case`).
        out_png: PNG destination.
        out_pdf: PDF destination.

    Returns:
        ``(out_png, out_pdf)``.

    Raises:
        ValueError: missing columns or no non-zero volume.
    """
    volumes = _volumes(per_case)
    order, models = _label_order(volumes), _models(volumes)
    palette = dict(zip(models, sns.color_palette(n_colors=len(models))))
    fig = new_figure(9, 3.4 * len(order))
    axes = fig.subplots(len(order), 2, squeeze=False)
    for (left, right), label in zip(axes, order):
        rows = volumes[volumes["label"] == label]
        _identity_panel(left, rows, models, palette)
        _bland_altman_panel(right, rows, models, palette)
        left.set_title(f"{label}: predicted vs true")
        right.set_title(f"{label}: Bland-Altman")
    handles = [Line2D([], [], marker="o", linestyle="", color=palette[m], label=m) for m in models]
    fig.legend(handles=handles, title="model", loc="outside lower center", ncols=min(len(models), 4))
    return save_figure(fig, out_png, out_pdf)
