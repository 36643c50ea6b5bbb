"""Study tables: per-case metrics in long format, and the papers' tables derived from them.

The source of every table is the long per-case table (``model, split, subject,
participant, pathology, label, metric, value``) of :func:`per_case_metrics`;
its rows are test-set predictions (one per model, split and test unit).
``subject`` holds the unit (``sub-01`` or ``sub-01_ses-02``), ``participant``
the participant it belongs to (``sub-01``), passed in by the workflow, never
parsed from the unit. From it:

* :func:`lemay_table` - Lemay et al. (2021) Table 3: per metric and label, the
  mean over splits of the per-split mean over test subjects, ``± std`` over
  splits, in percent.
* :func:`stanford_table` - the Stanford (2023) per-split table: patient-level
  sensitivity, mean Dice (missed cases count 0) and true-positive mean Dice,
  plus an ``average`` row; a participant counts once per split, whatever
  its number of sessions.
* :func:`compare_models` - paired Dice comparison of two models over subjects
  (bootstrap CI of the mean difference, Wilcoxon signed-rank test), for all
  subjects and per pathology.
* :func:`cord_localisation` / :func:`cord_localisation_summary` - stage-1 cord
  Dice and whether the lesion lies inside the crop that stage 2 saw.

Wide tables are written with :func:`to_tsv`, :func:`to_latex_booktabs` and
:func:`to_markdown`; undefined values are ``n/a`` everywhere.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from spinetumor.evaluation.metrics import AFFINE_ATOL_MM, DEFAULT_MIN_OVERLAP_MM3, dice, evaluate_files
from spinetumor.io import atomic_path, load_nifti

__all__ = [
    "PER_CASE_COLUMNS",
    "LABEL_DISPLAY",
    "LEMAY_METRICS",
    "LEMAY_LABELS",
    "per_case_metrics",
    "write_tsv",
    "read_tsv",
    "lemay_table_numeric",
    "format_lemay_table",
    "lemay_table",
    "stanford_table_numeric",
    "format_stanford_table",
    "stanford_table",
    "compare_models",
    "cord_localisation",
    "cord_localisation_summary",
    "to_tsv",
    "to_latex_booktabs",
    "to_markdown",
]

#: Columns of the long per-case table, in order.
PER_CASE_COLUMNS: tuple[str, ...] = (
    "model",
    "split",
    "subject",
    "participant",
    "pathology",
    "label",
    "metric",
    "value",
)

#: Keys every case mapping of :func:`per_case_metrics` must have.
CASE_KEYS: tuple[str, ...] = ("model", "split", "subject", "participant", "pathology", "pred", "truth")

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

#: Lemay Table 3 columns (labels), in order.
LEMAY_LABELS: tuple[str, ...] = ("whole", "tumor", "cavity", "edema")

NA = "n/a"
PLUS_MINUS = "±"
AVERAGE_ROW = "average"

COMPARE_COLUMNS: tuple[str, ...] = (
    "model_a",
    "model_b",
    "group",
    "label",
    "n",
    "mean_a",
    "mean_b",
    "mean_diff",
    "ci_low",
    "ci_high",
    "wilcoxon_p",
)


# --------------------------------------------------------------------------- per-case table


def _check_keys(case: Mapping[str, Any], keys: Sequence[str], index: int) -> None:
    """Raise unless ``case`` (number ``index`` in its list) has every key of ``keys``.

    Raises:
        ValueError: a key is missing; the message names the case.
    """
    missing = [key for key in keys if key not in case]
    if missing:
        who = (
            ", ".join(f"{k} {case[k]}" for k in ("model", "split", "subject") if k in case) or f"case {index}"
        )
        raise ValueError(f"{who}: case mapping lacks {', '.join(missing)}")


def _case_name(case: Mapping[str, Any]) -> str:
    """``model M, split S, subject X`` for error messages."""
    return f"model {case['model']}, split {case['split']}, subject {case['subject']}"


def _check_unique_cases(cases: Sequence[Mapping[str, Any]]) -> None:
    """Raise if a (model, split, subject) appears twice.

    Raises:
        ValueError: duplicated case; the message names it.
    """
    seen: set[tuple[str, str, str]] = set()
    for case in cases:
        key = (str(case["model"]), str(case["split"]), str(case["subject"]))
        if key in seen:
            raise ValueError(f"{_case_name(case)}: listed twice")
        seen.add(key)


def per_case_metrics(
    cases: Sequence[Mapping[str, Any]], min_overlap_mm3: float = DEFAULT_MIN_OVERLAP_MM3
) -> pd.DataFrame:
    """Every metric of :func:`spinetumor.evaluation.metrics.evaluate_files` for every case.

    Args:
        cases: One mapping per test prediction with keys ``model``, ``split``,
            ``subject`` (the unit), ``participant`` (its participant ID),
            ``pathology``, ``pred`` and ``truth`` (``dseg`` NIfTI paths on
            the same grid).
        min_overlap_mm3: Overlap needed for a lesion detection, in mm³.

    Returns:
        Long table with columns :data:`PER_CASE_COLUMNS`, one row per case,
        label and metric; ``value`` is float, ``NaN`` where undefined.

    Raises:
        ValueError: a case lacks a key, is listed twice, or its files are
            invalid (the message names model, split, subject and file).
        FileNotFoundError: a file does not exist (named with its case).
    """
    for index, case in enumerate(cases):
        _check_keys(case, CASE_KEYS, index)
    _check_unique_cases(cases)
    frames = []
    for case in cases:
        try:
            table = evaluate_files(case["pred"], case["truth"], min_overlap_mm3)
        except (FileNotFoundError, ValueError) as exc:
            raise type(exc)(f"{_case_name(case)}: {exc}") from exc
        keys = ("model", "split", "subject", "participant", "pathology")
        frames.append(table.assign(**{key: case[key] for key in keys}))
    if not frames:
        return pd.DataFrame(
            {column: pd.Series(dtype=float if column == "value" else object) for column in PER_CASE_COLUMNS}
        )
    return pd.concat(frames, ignore_index=True)[list(PER_CASE_COLUMNS)]


def write_tsv(table: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a long table as TSV (no index, ``NaN`` as ``n/a``), atomically.

    Floats keep 6 significant digits, like ``spinetumor.evaluation.metrics.format_tsv``.

    Args:
        table: Table to write (e.g. from :func:`per_case_metrics`).
        path: Destination.

    Returns:
        The destination path.
    """
    with atomic_path(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, na_rep=NA, float_format="%.6g")
    return Path(path)


def read_tsv(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a per-case table written by :func:`write_tsv` (only ``n/a`` is missing).

    Args:
        path: TSV file with the columns :data:`PER_CASE_COLUMNS`.

    Returns:
        The table, ``value`` as float; other columns as read (e.g. a subject
        ``NA`` stays a string).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: a column is missing.
    """
    if not Path(path).exists():
        raise FileNotFoundError(f"{path}: file not found")
    table = pd.read_csv(path, sep="\t", keep_default_na=False, na_values=[NA])
    _check_per_case(table, str(path))
    return table.astype({"value": float})


def _check_per_case(per_case: pd.DataFrame, name: str = "per-case table") -> None:
    """Raise unless ``per_case`` has the columns of :data:`PER_CASE_COLUMNS`.

    Raises:
        ValueError: a column is missing.
    """
    missing = [column for column in PER_CASE_COLUMNS if column not in per_case.columns]
    if missing:
        raise ValueError(f"{name}: missing columns {', '.join(missing)}")


def _model_rows(per_case: pd.DataFrame, model: str) -> pd.DataFrame:
    """Rows of one model.

    Raises:
        ValueError: missing columns, or ``model`` has no rows (the message
            lists the models there are).
    """
    _check_per_case(per_case)
    rows = per_case[per_case["model"] == model]
    if rows.empty:
        known = ", ".join(sorted(map(str, per_case["model"].unique()))) or "none"
        raise ValueError(f"model {model}: not in the per-case table (models: {known})")
    return rows


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


# --------------------------------------------------------------------------- formatting


def _is_missing(value: Any) -> bool:
    """True for ``None``, ``NaN`` (any float type) and ``pd.NA``."""
    return pd.api.types.is_scalar(value) and bool(pd.isna(value))


def _mean_sd(mean: float, sd: float, digits: int) -> str:
    """``"mean ± sd"``; just the mean when the sd is undefined, ``n/a`` without a mean."""
    if _is_missing(mean):
        return NA
    if _is_missing(sd):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} {PLUS_MINUS} {sd:.{digits}f}"


# --------------------------------------------------------------------------- Lemay Table 3


def lemay_table_numeric(per_case: pd.DataFrame, model: str) -> pd.DataFrame:
    """Numbers of Lemay et al.'s Table 3 for one model, in percent.

    For each metric and label: the mean over test subjects within each split
    (``NaN`` skipped: e.g. RVD of a subject without edema), then the mean and
    the sample standard deviation (``ddof=1``) of those split means across
    splits. With a single split the standard deviation is ``NaN``.

    Args:
        per_case: Long per-case table (columns :data:`PER_CASE_COLUMNS`).
        model: Model whose rows are summarised.

    Returns:
        Columns ``metric, label, mean, std, n_splits`` (``n_splits`` counts
        splits with a defined mean), rows in :data:`LEMAY_METRICS` x
        :data:`LEMAY_LABELS` order; values are percent (fractions x 100).

    Raises:
        ValueError: missing columns or unknown model.
    """
    rows = _model_rows(per_case, model)
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
    cells = numeric.assign(cell=[_mean_sd(m, s, 1) for m, s in zip(numeric["mean"], numeric["std"])])
    wide = cells.pivot(index="metric", columns="label", values="cell")
    wide = wide.reindex(index=list(LEMAY_METRICS), columns=list(LEMAY_LABELS)).fillna(NA)
    wide.index = pd.Index([LEMAY_METRICS[m] for m in wide.index], name="metric (%)")
    wide.columns = pd.Index([LABEL_DISPLAY[label] for label in wide.columns], name=None)
    return wide


def lemay_table(per_case: pd.DataFrame, model: str) -> pd.DataFrame:
    """Lemay et al. (2021) Table 3 for one model, as strings.

    Args:
        per_case: Long per-case table (columns :data:`PER_CASE_COLUMNS`).
        model: Model whose rows are summarised.

    Returns:
        See :func:`format_lemay_table`; numbers from :func:`lemay_table_numeric`.

    Raises:
        ValueError: missing columns or unknown model.
    """
    return format_lemay_table(lemay_table_numeric(per_case, model))


# --------------------------------------------------------------------------- Stanford table


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
        per_case: Long per-case table (columns :data:`PER_CASE_COLUMNS`).
        model: Model whose rows are summarised.
        label: Label whose detection and Dice are reported.

    Returns:
        Columns ``split, n_cases, n_detected, sensitivity_pct, mean_dice,
        sd_dice, tp_mean_dice, tp_sd_dice``; Dice as 0-1.

    Raises:
        ValueError: missing columns, unknown model, or no rows for ``label``.
    """
    rows = _model_rows(per_case, model)
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
    if _is_missing(row["sensitivity_pct"]):
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
            "mean_dice": [_mean_sd(m, s, 2) for m, s in zip(numeric["mean_dice"], numeric["sd_dice"])],
            "tp_mean_dice": [
                _mean_sd(m, s, 2) for m, s in zip(numeric["tp_mean_dice"], numeric["tp_sd_dice"])
            ],
        }
    )


def stanford_table(per_case: pd.DataFrame, model: str, label: str = "tumor") -> pd.DataFrame:
    """The Stanford (2023) per-split table for one model, as strings.

    Args:
        per_case: Long per-case table (columns :data:`PER_CASE_COLUMNS`).
        model: Model whose rows are summarised.
        label: Label whose detection and Dice are reported.

    Returns:
        See :func:`format_stanford_table`; definitions in
        :func:`stanford_table_numeric`.

    Raises:
        ValueError: missing columns, unknown model, or no rows for ``label``.
    """
    return format_stanford_table(stanford_table_numeric(per_case, model, label))


# --------------------------------------------------------------------------- model comparison


def _subject_dice(per_case: pd.DataFrame, model: str) -> pd.DataFrame:
    """Dice per (patient, label), averaged over the patient's tested units and splits.

    The patient is the statistical unit of a comparison: with sessions, a
    subject's units are not independent pairs.

    Returns:
        Columns ``subject`` (the participant), ``pathology``, ``label``,
        ``dice`` (patients whose Dice is undefined everywhere are dropped).

    Raises:
        ValueError: unknown model, or a patient with two pathologies.
    """
    rows = _model_rows(per_case, model)
    pathologies = rows.groupby("participant", sort=False)["pathology"].nunique(dropna=False)
    if (pathologies > 1).any():
        subject = pathologies[pathologies > 1].index[0]
        raise ValueError(f"model {model}, subject {subject}: more than one pathology in the per-case table")
    rows = rows[rows["metric"] == "dice"]
    means = rows.groupby(["participant", "label"], sort=True, dropna=False)["value"].mean().rename("dice")
    subject_pathology = rows.drop_duplicates("participant").set_index("participant")["pathology"]
    table = means.dropna().reset_index()
    table = table.assign(pathology=table["participant"].map(subject_pathology))
    return table.rename(columns={"participant": "subject"})


def _bootstrap_ci(differences: np.ndarray, n_boot: int, seed: int) -> tuple[float, float]:
    """95 % percentile bootstrap interval of the mean; ``NaN`` for fewer than 2 values."""
    if len(differences) < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(differences), size=(n_boot, len(differences)))
    low, high = np.percentile(differences[draws].mean(axis=1), [2.5, 97.5])
    return float(low), float(high)


def _wilcoxon_p(differences: np.ndarray) -> float:
    """Two-sided paired Wilcoxon signed-rank p; ``NaN`` when n < 2 or all differences are 0."""
    if len(differences) < 2 or not np.any(differences != 0):
        return math.nan
    with warnings.catch_warnings():
        # scipy warns when zeros or ties force the normal approximation; that is expected here.
        warnings.simplefilter("ignore", UserWarning)
        return float(stats.wilcoxon(differences).pvalue)


def _compare_rows(paired: pd.DataFrame, n_boot: int, seed: int) -> dict[str, float]:
    """Statistics of one group and label; ``paired`` has ``dice_a`` and ``dice_b``."""
    differences = (paired["dice_a"] - paired["dice_b"]).to_numpy(dtype=float)
    low, high = _bootstrap_ci(differences, n_boot, seed)
    n = len(differences)
    return {
        "n": n,
        "mean_a": float(paired["dice_a"].mean()) if n else math.nan,
        "mean_b": float(paired["dice_b"].mean()) if n else math.nan,
        "mean_diff": float(differences.mean()) if n else math.nan,
        "ci_low": low,
        "ci_high": high,
        "wilcoxon_p": _wilcoxon_p(differences),
    }


def compare_models(
    per_case: pd.DataFrame,
    model_a: str,
    model_b: str,
    labels: Sequence[str] = ("whole", "tumor", "edema", "cavity"),
    n_boot: int = 2000,
    seed: int = 0,
    predicted: Mapping[str, Sequence[str]] | None = None,
) -> pd.DataFrame:
    """Paired comparison of two models' Dice over patients.

    A patient's Dice is first averaged over its tested units (sessions) and
    the splits that tested it (so sessions and repeated hold-out count each
    patient once); only patients with a defined
    Dice for both models are paired. Only labels that both models predict
    are compared (``predicted``): a tumour-only model has no edema, cavity or
    whole-lesion Dice worth pairing with a cascade's. Each row uses its own
    generator seeded with ``seed``, so a row does not depend on which other
    rows are computed.

    Args:
        per_case: Long per-case table (columns :data:`PER_CASE_COLUMNS`).
        model_a: First model.
        model_b: Second model (differences are ``a - b``).
        labels: Labels to compare, in output order.
        n_boot: Bootstrap resamples for the 95 % percentile interval.
        seed: Seed of the bootstrap generator.
        predicted: Labels each model predicts
            (:func:`spinetumor.models.modelspec.predicted_labels`); ``labels`` is cut
            to those of both models. None: every label of ``labels``.

    Returns:
        Columns ``model_a, model_b, group, label, n, mean_a, mean_b,
        mean_diff, ci_low, ci_high, wilcoxon_p``; ``group`` is ``all`` then
        each pathology (sorted); Dice as 0-1. The interval is ``NaN`` for
        fewer than 2 pairs; the two-sided Wilcoxon signed-rank p is ``NaN``
        for fewer than 2 pairs or when all differences are 0.

    Raises:
        ValueError: same or unknown model, ``n_boot < 1``, a model missing
            from ``predicted``, or a subject with two pathologies.
    """
    if model_a == model_b:
        raise ValueError(f"model {model_a}: cannot be compared with itself")
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    if predicted is not None:
        for model in (model_a, model_b):
            if model not in predicted:
                raise ValueError(f"model {model}: its predicted labels are not given")
        labels = [label for label in labels if label in predicted[model_a] and label in predicted[model_b]]
    paired = _subject_dice(per_case, model_a).merge(
        _subject_dice(per_case, model_b), on=["subject", "label"], suffixes=("_a", "_b")
    )
    conflict = paired[paired["pathology_a"].astype(str) != paired["pathology_b"].astype(str)]
    if not conflict.empty:
        raise ValueError(
            f"subject {conflict['subject'].iloc[0]}: pathology differs between model {model_a} and {model_b}"
        )
    paired = paired.rename(columns={"pathology_a": "pathology"})
    pathologies = sorted(map(str, paired["pathology"].dropna().unique()))
    rows = []
    for group in ["all", *pathologies]:
        in_group = paired if group == "all" else paired[paired["pathology"].astype(str) == group]
        for label in labels:
            stats_row = _compare_rows(in_group[in_group["label"] == label], n_boot, seed)
            rows.append({"model_a": model_a, "model_b": model_b, "group": group, "label": label, **stats_row})
    return pd.DataFrame(rows, columns=list(COMPARE_COLUMNS))


# --------------------------------------------------------------------------- cord localisation


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
    who = _case_name(case)
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
    who = _case_name(case)
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
        _check_keys(case, CORD_CASE_KEYS, index)
    _check_unique_cases(cases)
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


# --------------------------------------------------------------------------- writers


def _cell_text(value: Any) -> str:
    """A cell as text: ``n/a`` when missing, floats to 6 significant digits."""
    if _is_missing(value):
        return NA
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.6g}"
    return str(value)


def _flat(table: pd.DataFrame) -> pd.DataFrame:
    """The table with a named index turned into its first column, every cell a string."""
    if table.index.name is not None or not isinstance(table.index, pd.RangeIndex):
        table = table.reset_index()
    return table.astype(object).map(_cell_text)


def to_tsv(table: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a (wide) table as TSV, a named index as first column, atomically.

    Args:
        table: e.g. :func:`lemay_table` or :func:`stanford_table`.
        path: Destination.

    Returns:
        The destination path.
    """
    with atomic_path(path) as tmp:
        _flat(table).to_csv(tmp, sep="\t", index=False)
    return Path(path)


_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    PLUS_MINUS: r"$\pm$",
}


def _latex_escape(text: str) -> str:
    """Escape LaTeX specials; ``±`` becomes ``$\\pm$`` so any TeX engine prints it."""
    return "".join(_LATEX_SPECIALS.get(char, char) for char in text)


def to_latex_booktabs(
    table: pd.DataFrame,
    path: str | os.PathLike[str],
    caption: str | None = None,
    label: str | None = None,
) -> Path:
    """Write a (wide) table as a LaTeX ``booktabs`` tabular, atomically.

    Cells and headers are escaped (``%``, ``_``, ``&`` ...) and ``±`` becomes
    ``$\\pm$``; the document needs ``\\usepackage{booktabs}``.

    Args:
        table: e.g. :func:`lemay_table` or :func:`stanford_table`.
        path: Destination ``.tex`` file.
        caption: Optional caption (escaped); with it or ``label`` the tabular
            is wrapped in a ``table`` environment.
        label: Optional ``\\label`` key (not escaped).

    Returns:
        The destination path.
    """
    flat = _flat(table)
    flat = flat.map(_latex_escape)
    flat.columns = [_latex_escape(str(column)) for column in flat.columns]
    text = flat.to_latex(
        index=False,
        escape=False,
        column_format="l" * flat.shape[1],
        caption=None if caption is None else _latex_escape(caption),
        label=label,
    )
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def _markdown_cell(text: str) -> str:
    """Escape what would break a Markdown table cell."""
    return text.replace("|", r"\|").replace("\n", " ")


def to_markdown(table: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a (wide) table as a GitHub-flavoured Markdown table, atomically.

    Written by hand so that it needs no optional dependency (``tabulate``).

    Args:
        table: e.g. :func:`lemay_table` or :func:`stanford_table`.
        path: Destination ``.md`` file.

    Returns:
        The destination path.
    """
    flat = _flat(table)
    header = [_markdown_cell(str(column)) for column in flat.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    lines += [
        "| " + " | ".join(_markdown_cell(cell) for cell in row) + " |" for row in flat.itertuples(index=False)
    ]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Path(path)
