"""Lemay et al. (2021) Table 3: per metric and label, the mean over splits of the
per-split mean over test subjects, ``± std`` over splits, in percent.
"""

from __future__ import annotations

import pandas as pd

from spinetumor.evaluation.metrics import NA
from spinetumor.evaluation.per_case import model_rows
from spinetumor.evaluation.writers import mean_sd

__all__ = [
    "LABEL_DISPLAY",
    "LEMAY_METRICS",
    "LEMAY_LABELS",
    "lemay_table_numeric",
    "format_lemay_table",
    "lemay_table",
]

#: How labels are printed in tables and figures (British spelling, like the papers).
LABEL_DISPLAY: dict[str, str] = {"whole": "whole", "tumor": "tumour", "cavity": "cavity", "edema": "edema"}

#: Lemay Table 3 rows: metric name -> printed name, in order.
LEMAY_METRICS: dict[str, str] = {
    "dice": "Dice",
    "detection_tpr": "detection TPR",
    "detection_fdr": "detection FDR",
    "precision": "precision",
    "recall": "recall",
    "avd": "AVD",
    "rvd": "RVD",
}

#: Lemay Table 3 columns (labels), in the paper's order: the labels of
#: :data:`spinetumor.evaluation.masks.LABEL_NAMES`, whole first.
LEMAY_LABELS: tuple[str, ...] = ("whole", "tumor", "cavity", "edema")


def lemay_table_numeric(per_case: pd.DataFrame, model: str) -> pd.DataFrame:
    """Numbers of Lemay et al.'s Table 3 for one model, in percent.

    For each metric and label: the mean over test subjects within each split
    (``NaN`` skipped: e.g. RVD of a subject without edema), then the mean and
    the sample standard deviation (``ddof=1``) of those split means across
    splits. With a single split the standard deviation is ``NaN``.

    Args:
        per_case: Long per-case table (columns :data:`~spinetumor.evaluation.per_case.PER_CASE_COLUMNS`).
        model: Model whose rows are summarised.

    Returns:
        Columns ``metric, label, mean, std, n_splits`` (``n_splits`` counts
        splits with a defined mean), rows in :data:`LEMAY_METRICS` x
        :data:`LEMAY_LABELS` order; values are percent (fractions x 100).

    Raises:
        ValueError: missing columns or unknown model.
    """
    rows = model_rows(per_case, model)
    rows = rows[rows["metric"].isin(list(LEMAY_METRICS)) & rows["label"].isin(LEMAY_LABELS)]
    split_means = rows.groupby(["metric", "label", "split"], sort=False)["value"].mean() * 100.0
    summary = split_means.groupby(level=["metric", "label"], sort=False).agg(["mean", "std", "count"])
    order = pd.MultiIndex.from_product([list(LEMAY_METRICS), list(LEMAY_LABELS)], names=["metric", "label"])
    summary = summary.reindex(order).rename(columns={"count": "n_splits"})
    summary["n_splits"] = summary["n_splits"].fillna(0).astype(int)
    return summary.reset_index()


def format_lemay_table(numeric: pd.DataFrame) -> pd.DataFrame:
    """Lay out :func:`lemay_table_numeric` like the paper's Table 3.

    Args:
        numeric: Output of :func:`lemay_table_numeric`.

    Returns:
        Strings ``"mean ± std"`` with one decimal (just ``"mean"`` when the
        std is undefined, i.e. one split; ``n/a`` without a value); index
        ``metric (%)`` with the printed metric names, columns the printed
        label names (whole, tumour, cavity, edema).
    """
    cells = numeric.assign(cell=[mean_sd(m, s, 1) for m, s in zip(numeric["mean"], numeric["std"])])
    wide = cells.pivot(index="metric", columns="label", values="cell")
    wide = wide.reindex(index=list(LEMAY_METRICS), columns=list(LEMAY_LABELS)).fillna(NA)
    wide.index = pd.Index([LEMAY_METRICS[m] for m in wide.index], name="metric (%)")
    wide.columns = pd.Index([LABEL_DISPLAY[label] for label in wide.columns], name=None)
    return wide


def lemay_table(per_case: pd.DataFrame, model: str) -> pd.DataFrame:
    """Lemay et al. (2021) Table 3 for one model, as strings.

    Args:
        per_case: Long per-case table (columns :data:`~spinetumor.evaluation.per_case.PER_CASE_COLUMNS`).
        model: Model whose rows are summarised.

    Returns:
        See :func:`format_lemay_table`; numbers from :func:`lemay_table_numeric`.

    Raises:
        ValueError: missing columns or unknown model.
    """
    return format_lemay_table(lemay_table_numeric(per_case, model))
