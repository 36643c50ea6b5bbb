"""The training log, ``training_log.tsv``: one row per epoch, and its report of each epoch."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from spinetumor.io import atomic_path
from spinetumor.layout import TRAINING_LOG

__all__ = [
    "CURVE_COLUMNS",
    "TRAINING_LOG",
    "append_log",
    "log_columns",
    "log_epoch",
    "read_curves",
    "truncate_log",
]

#: The columns of the log that the training summary carries as curves (for the figures).
CURVE_COLUMNS: tuple[str, ...] = ("epoch", "train_loss", "val_loss", "val_dice_mean")

logger = logging.getLogger(__name__)


def log_columns(targets: Sequence[str]) -> list[str]:
    """Columns of ``training_log.tsv`` for the given targets."""
    return [
        "epoch",
        "train_loss",
        "val_loss",
        *[f"val_dice_{t}" for t in targets],
        "val_dice_mean",
        "selection_metric",
        "lr",
        "seconds",
        "data_seconds",
    ]


def _format(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return str(value)


def append_log(path: Path, columns: Sequence[str], row: Mapping[str, Any]) -> None:
    """Append one row (``n/a`` for a missing or NaN value), writing the header to a new file."""
    new = not path.exists()
    with path.open("a") as handle:
        if new:
            handle.write("\t".join(columns) + "\n")
        handle.write("\t".join(_format(row.get(c)) for c in columns) + "\n")


def read_curves(path: Path) -> dict[str, list[float | None]]:
    """The :data:`CURVE_COLUMNS` of a training log, one list per column (None where ``n/a``)."""
    table = pd.read_csv(path, sep="\t", keep_default_na=False, na_values=["n/a"])
    return {
        column: [None if math.isnan(v) else v for v in table[column].astype(float).tolist()]
        for column in CURVE_COLUMNS
    }


def truncate_log(path: Path, columns: Sequence[str], last_epoch: int) -> None:
    """Keep the log's rows up to ``last_epoch`` (a rerun writes the later ones again)."""
    if not path.exists():
        return
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    if list(table.columns) != list(columns):
        raise ValueError(f"{path}: columns {list(table.columns)} differ from {list(columns)}; cannot resume")
    table = table[table["epoch"].astype(int) <= last_epoch]
    with atomic_path(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False)


def log_epoch(row: Mapping[str, Any], max_epochs: int) -> None:
    """Report one finished epoch's log row."""

    def short(key: str) -> str:
        value = row.get(key)
        return "n/a" if value is None or math.isnan(value) else f"{value:.4f}"

    logger.info(
        "epoch %d/%d  train_loss %.4f  val_loss %s  val_dice_mean %s  lr %.3g  %.1f s/epoch (data %.1f s)",
        row["epoch"],
        max_epochs,
        row["train_loss"],
        short("val_loss"),
        short("val_dice_mean"),
        row["lr"],
        row["seconds"],
        row["data_seconds"],
    )
