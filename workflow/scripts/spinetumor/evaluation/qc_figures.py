"""Training curves and the registration QC mosaic (300 dpi PNG and PDF each)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from PIL import Image

from spinetumor.evaluation.figures import PathLike, new_figure, save_figure
from spinetumor.training.log import CURVE_COLUMNS

__all__ = ["LOG_COLUMNS", "training_curves", "registration_mosaic"]

#: Columns a run's curves must have for :func:`training_curves`.
LOG_COLUMNS: tuple[str, ...] = CURVE_COLUMNS


def _curve_table(name: str, curves: Mapping[str, Sequence[float | None]]) -> pd.DataFrame:
    """One run's curves (``column -> values``, None for no value) as a float table.

    Raises:
        ValueError: a needed column is missing.
    """
    missing = [column for column in LOG_COLUMNS if column not in curves]
    if missing:
        raise ValueError(f"training curves {name}: missing columns {', '.join(missing)}")
    return pd.DataFrame(
        {column: [np.nan if v is None else v for v in curves[column]] for column in LOG_COLUMNS}
    )


def training_curves(
    curves: Mapping[str, Mapping[str, Sequence[float | None]]], out_png: PathLike, out_pdf: PathLike
) -> tuple[Path, Path]:
    """Loss (train solid, validation dashed) and validation mean Dice against epoch.

    Args:
        curves: Name (e.g. ``"split-0 cord"``) -> that run's curves, ``column ->
            values`` for :data:`LOG_COLUMNS` (a training summary's ``curves``);
            one colour per run.
        out_png: PNG destination.
        out_pdf: PDF destination.

    Returns:
        ``(out_png, out_pdf)``.

    Raises:
        ValueError: no run, or a run lacks a column.
    """
    if not curves:
        raise ValueError("training curves: no training run given")
    tables = {name: _curve_table(name, run) for name, run in curves.items()}
    colours = sns.color_palette(n_colors=len(tables))
    fig = new_figure(10, 3.8)
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
    fig = new_figure(tile_width * columns, tile_height * rows)
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
