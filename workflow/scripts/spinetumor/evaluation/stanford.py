"""The Stanford (2023) per-split table: patient-level sensitivity, mean Dice
(missed cases count 0) and true-positive mean Dice, plus an ``average`` row; a
participant counts once per split, whatever its number of sessions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from spinetumor.evaluation.metrics import NA
from spinetumor.evaluation.per_case import model_rows
from spinetumor.evaluation.writers import is_missing, mean_sd

__all__ = ["AVERAGE_ROW", "stanford_table_numeric", "format_stanford_table", "stanford_table"]

AVERAGE_ROW = "average"


def _metric_wide(rows: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """One row per (split, subject), one column per metric, plus the subject's ``participant``.

    Raises:
        ValueError: a (split, subject, metric) appears twice.
    """
    rows = rows[rows["metric"].isin(metrics)]
    keys = ["split", "subject", "metric"]
    duplicated = rows.duplicated(keys)
    if duplicated.any():
        first = rows[duplicated].iloc[0]
        raise ValueError(
            f"model {first['model']}, split {first['split']}, subject {first['subject']}: "
            f"metric {first['metric']} of label {first['label']} appears twice"
        )
    # A unit belongs to one participant, so indexing by it too adds its column and no row.
    wide = rows.pivot(index=["split", "subject", "participant"], columns="metric", values="value")
    return wide.reindex(columns=list(metrics)).reset_index()


def _dice_stats(values: pd.Series) -> tuple[float, float]:
    """Mean and sample sd (``ddof=1``) of ``values``; ``NaN`` where undefined."""
    values = values.dropna()
    mean = float(values.mean()) if len(values) else math.nan
    sd = float(values.std(ddof=1)) if len(values) > 1 else math.nan
    return mean, sd


def _patients(units: pd.DataFrame) -> pd.DataFrame:
    """One row per participant of one split: ``detected`` and ``dice`` (rule: :func:`stanford_table_numeric`).

    ``units`` has ``participant``, ``dice`` and ``detection_tpr`` per test unit.
    """
    units = units[units["detection_tpr"].notna()]  # NaN: no truth object of the label
    detected = units["detection_tpr"] > 0
    # A missed unit counts Dice 0 even if it overlaps the truth below the detection threshold.
    units = units.assign(detected=detected, dice=units["dice"].where(detected, 0.0))
    return units.groupby("participant", sort=True).agg(detected=("detected", "any"), dice=("dice", "mean"))


def _stanford_split(units: pd.DataFrame) -> dict[str, float]:
    """Numbers of one split; ``units`` has ``participant``, ``dice`` and ``detection_tpr`` per test unit."""
    patients = _patients(units)
    detected = patients["detected"]
    mean, sd = _dice_stats(patients["dice"])
    tp_mean, tp_sd = _dice_stats(patients.loc[detected, "dice"])
    n, k = len(patients), int(detected.sum())
    return {
        "n_cases": n,
        "n_detected": k,
        "sensitivity_pct": 100.0 * k / n if n else math.nan,
        "mean_dice": mean,
        "sd_dice": sd,
        "tp_mean_dice": tp_mean,
        "tp_sd_dice": tp_sd,
    }


def stanford_table_numeric(per_case: pd.DataFrame, model: str, label: str = "tumor") -> pd.DataFrame:
    """Numbers of the Stanford (2023) per-split table for one model and label.

    The table is patient-level: a case is a participant, counted once per
    split however many test units (sessions) it has there. Per split:

    * a test unit counts when it has at least one truth object of ``label``
      (``detection_tpr`` defined), and is detected when ``detection_tpr > 0``
      (at least one truth object detected); its Dice is 0 when it is missed;
    * a participant counts when one of its units counts; it is **detected
      when its tumour is detected in any of its counted units**, and its
      Dice is the **mean over its counted units** (missed units at 0);
    * ``mean_dice``/``sd_dice`` cover all counted participants, ``tp_*``
      the detected ones only; sd is the sample sd (``ddof=1``), ``NaN`` for
      fewer than two participants.

    Without sessions a participant has one unit and this is the per-unit rule.

    The final ``average`` row is the mean of the per-split values (``NaN``
    skipped), as the paper averages its folds: mean sensitivity, mean of the
    split means and mean of the split sds; its ``n_cases`` and
    ``n_detected`` are totals over splits (a participant tested in several
    splits counts once in each).

    Args:
        per_case: Long per-case table (columns :data:`~spinetumor.evaluation.per_case.PER_CASE_COLUMNS`).
        model: Model whose rows are summarised.
        label: Label whose detection and Dice are reported.

    Returns:
        Columns ``split, n_cases, n_detected, sensitivity_pct, mean_dice,
        sd_dice, tp_mean_dice, tp_sd_dice``; Dice as 0-1.

    Raises:
        ValueError: missing columns, unknown model, or no rows for ``label``.
    """
    rows = model_rows(per_case, model)
    rows = rows[rows["label"] == label]
    if rows.empty:
        raise ValueError(f"model {model}: no rows for label {label}")
    wide = _metric_wide(rows, ["dice", "detection_tpr"])
    splits = [{"split": split, **_stanford_split(group)} for split, group in wide.groupby("split", sort=True)]
    table = pd.DataFrame(splits)
    average = table.drop(columns="split").mean(numeric_only=True, skipna=True).to_dict()
    average.update(split=AVERAGE_ROW, n_cases=table["n_cases"].sum(), n_detected=table["n_detected"].sum())
    table = pd.concat([table, pd.DataFrame([average])], ignore_index=True)
    columns = [
        "split",
        "n_cases",
        "n_detected",
        "sensitivity_pct",
        "mean_dice",
        "sd_dice",
        "tp_mean_dice",
        "tp_sd_dice",
    ]
    return table[columns].astype({"n_cases": int, "n_detected": int})


def _sensitivity_text(row: pd.Series) -> str:
    """``"k out of n (p %)"`` per split; ``"p %"`` for the average row."""
    if is_missing(row["sensitivity_pct"]):
        return NA
    if row["split"] == AVERAGE_ROW:
        return f"{row['sensitivity_pct']:.1f} %"
    return f"{row['n_detected']} out of {row['n_cases']} ({row['sensitivity_pct']:.1f} %)"


def format_stanford_table(numeric: pd.DataFrame) -> pd.DataFrame:
    """Lay out :func:`stanford_table_numeric` like the paper.

    Args:
        numeric: Output of :func:`stanford_table_numeric`.

    Returns:
        Columns ``split, n_cases, sensitivity, mean_dice, tp_mean_dice``;
        sensitivity ``"k out of n (p %)"`` (``"p %"`` in the average row),
        Dice ``"mean ± sd"`` with two decimals (just the mean when the sd is
        undefined, ``n/a`` without a value).
    """
    return pd.DataFrame(
        {
            "split": numeric["split"].astype(str),
            "n_cases": numeric["n_cases"].astype(int),
            "sensitivity": numeric.apply(_sensitivity_text, axis=1),
            "mean_dice": [mean_sd(m, s, 2) for m, s in zip(numeric["mean_dice"], numeric["sd_dice"])],
            "tp_mean_dice": [
                mean_sd(m, s, 2) for m, s in zip(numeric["tp_mean_dice"], numeric["tp_sd_dice"])
            ],
        }
    )


def stanford_table(per_case: pd.DataFrame, model: str, label: str = "tumor") -> pd.DataFrame:
    """The Stanford (2023) per-split table for one model, as strings.

    Args:
        per_case: Long per-case table (columns :data:`~spinetumor.evaluation.per_case.PER_CASE_COLUMNS`).
        model: Model whose rows are summarised.
        label: Label whose detection and Dice are reported.

    Returns:
        See :func:`format_stanford_table`; definitions in
        :func:`stanford_table_numeric`.

    Raises:
        ValueError: missing columns, unknown model, or no rows for ``label``.
    """
    return format_stanford_table(stanford_table_numeric(per_case, model, label))
