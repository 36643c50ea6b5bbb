"""Study figures, each saved as a 300 dpi PNG and a PDF.

Every figure function takes data (the long per-case table of
:mod:`spinetumor.evaluation.evaluation`, or file paths) and ends with ``out_png,
out_pdf``; both files are written atomically. Figures are built on
:class:`matplotlib.figure.Figure` objects with their own Agg canvas, never
through ``pyplot``'s global state, so nothing needs a display, the global
backend is left alone and no figure stays open. Anything random (seaborn's
bootstrap and jitter) is seeded, so reruns give the same pictures.
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import NullFormatter
from PIL import Image

from spinetumor.evaluation.evaluation import LABEL_DISPLAY, LEMAY_LABELS, PER_CASE_COLUMNS
from spinetumor.io import atomic_path, load_nifti, voxel_sizes

__all__ = [
    "DPI",
    "SEED",
    "save_figure",
    "dice_boxplot",
    "detection_rates",
    "volume_agreement",
    "sagittal_slice",
    "overlays",
    "pick_best_median_worst",
    "training_curves",
    "registration_mosaic",
]

#: Resolution of the PNG files.
DPI: int = 300

#: Seed of seaborn's bootstrap intervals and of the strip-plot jitter.
SEED: int = 0

#: Contour colours of the overlays (colour-blind safe pair).
TRUTH_COLOUR = "#1f77b4"
PRED_COLOUR = "#ff7f0e"

#: Columns a training log must have for :func:`training_curves`.
LOG_COLUMNS: tuple[str, ...] = ("epoch", "train_loss", "val_loss", "val_dice_mean")

NA = "n/a"

PathLike = str | os.PathLike[str]


# --------------------------------------------------------------------------- helpers


def _new_figure(width: float, height: float) -> Figure:
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


# --------------------------------------------------------------------------- per-case figures


def dice_boxplot(per_case: pd.DataFrame, out_png: PathLike, out_pdf: PathLike) -> tuple[Path, Path]:
    """Dice per label (x) and model (hue): boxes with every test case as a point.

    Args:
        per_case: Long per-case table (see :mod:`spinetumor.evaluation.evaluation`).
        out_png: PNG destination.
        out_pdf: PDF destination.

    Returns:
        ``(out_png, out_pdf)``.

    Raises:
        ValueError: missing columns or no defined Dice.
    """
    rows = _metric_rows(per_case, ["dice"], "Dice box plot").astype({"model": str})
    order, models = _label_order(rows), _models(rows)
    fig = _new_figure(1.6 + 1.4 * len(order) * max(1, len(models)) ** 0.5, 4)
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
        per_case: Long per-case table (see :mod:`spinetumor.evaluation.evaluation`).
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
    fig = _new_figure(9, 3.8)
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
        per_case: Long per-case table (see :mod:`spinetumor.evaluation.evaluation`).
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
    fig = _new_figure(9, 3.4 * len(order))
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


# --------------------------------------------------------------------------- overlays


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
    fig = _new_figure(6, 3.6 * len(cases))
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
        per_case: Long per-case table (see :mod:`spinetumor.evaluation.evaluation`).
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


# --------------------------------------------------------------------------- training and QC


def _read_log(name: str, path: PathLike) -> pd.DataFrame:
    """A ``training_log.tsv`` with ``n/a`` as NaN.

    Raises:
        FileNotFoundError: missing file (named with the log's name).
        ValueError: a needed column is missing.
    """
    if not Path(path).exists():
        raise FileNotFoundError(f"training log {name}: {path}: file not found")
    log = pd.read_csv(path, sep="\t", keep_default_na=False, na_values=[NA])
    missing = [column for column in LOG_COLUMNS if column not in log.columns]
    if missing:
        raise ValueError(f"training log {name}: {path}: missing columns {', '.join(missing)}")
    return log.astype({column: float for column in LOG_COLUMNS})


def training_curves(logs: Mapping[str, PathLike], out_png: PathLike, out_pdf: PathLike) -> tuple[Path, Path]:
    """Loss (train solid, validation dashed) and validation mean Dice against epoch.

    Args:
        logs: Name (e.g. ``"split-0 cord"``) -> ``training_log.tsv`` path; one
            colour per log.
        out_png: PNG destination.
        out_pdf: PDF destination.

    Returns:
        ``(out_png, out_pdf)``.

    Raises:
        ValueError: no log, or a log lacks a column.
        FileNotFoundError: a log does not exist.
    """
    if not logs:
        raise ValueError("training curves: no training log given")
    tables = {name: _read_log(name, path) for name, path in logs.items()}
    colours = sns.color_palette(n_colors=len(tables))
    fig = _new_figure(10, 3.8)
    loss_ax, dice_ax = fig.subplots(1, 2)
    for colour, (name, log) in zip(colours, tables.items()):
        loss_ax.plot(log["epoch"], log["train_loss"], color=colour, label=f"{name} train")
        loss_ax.plot(log["epoch"], log["val_loss"], color=colour, linestyle="--", label=f"{name} val")
        dice_ax.plot(log["epoch"], log["val_dice_mean"], color=colour, label=name)
    loss_ax.set(xlabel="epoch", ylabel="loss", title="loss (train solid, validation dashed)")
    dice_ax.set(xlabel="epoch", ylabel="validation mean Dice", title="validation Dice", ylim=(-0.02, 1.02))
    dice_ax.legend(fontsize="small")
    return save_figure(fig, out_png, out_pdf)


def registration_mosaic(
    qc_pngs: Mapping[str, PathLike], out_png: PathLike, out_pdf: PathLike, n_columns: int = 3
) -> tuple[Path, Path]:
    """Tile registration QC images (one per subject, titled by subject) in a grid.

    Args:
        qc_pngs: Subject -> QC PNG path; tiles follow the mapping's order.
        out_png: PNG destination.
        out_pdf: PDF destination.
        n_columns: Tiles per row (fewer when there are fewer images).

    Returns:
        ``(out_png, out_pdf)``.

    Raises:
        ValueError: no image, ``n_columns < 1``, or an unreadable image.
        FileNotFoundError: an image does not exist (named with its subject).
    """
    if not qc_pngs:
        raise ValueError("registration mosaic: no QC image given")
    if n_columns < 1:
        raise ValueError(f"registration mosaic: n_columns must be at least 1, got {n_columns}")
    images = {subject: _read_image(subject, path) for subject, path in qc_pngs.items()}
    columns = min(n_columns, len(images))
    rows = math.ceil(len(images) / columns)
    first = next(iter(images.values()))
    tile_width = 5.0
    tile_height = tile_width * first.shape[0] / first.shape[1] + 0.3  # room for the title
    fig = _new_figure(tile_width * columns, tile_height * rows)
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax, (subject, image) in zip(axes, images.items()):
        ax.imshow(image, interpolation="antialiased")
        ax.set_title(str(subject), fontsize=9)
    for ax in axes:
        ax.set_axis_off()
    return save_figure(fig, out_png, out_pdf)


def _read_image(subject: str, path: PathLike) -> np.ndarray:
    """An image file as an RGB(A) array.

    Raises:
        FileNotFoundError / ValueError: missing or unreadable, named with ``subject``.
    """
    if not Path(path).exists():
        raise FileNotFoundError(f"subject {subject}: QC image {path}: file not found")
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGBA"))
    except OSError as exc:
        raise ValueError(f"subject {subject}: QC image {path}: not a readable image ({exc})") from exc
