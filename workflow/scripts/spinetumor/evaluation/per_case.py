"""The long per-case table: every metric of every test prediction, and its TSV file.

Columns ``model, split, subject, participant, pathology, label, metric,
value``; its rows are test-set predictions (one per model, split and test
unit). ``subject`` holds the unit (``sub-01`` or ``sub-01_ses-02``),
``participant`` the participant it belongs to (``sub-01``), passed in by the
workflow, never parsed from the unit. Every study table
(:mod:`spinetumor.evaluation.lemay`, :mod:`spinetumor.evaluation.stanford`,
:mod:`spinetumor.evaluation.comparison`) and figure is derived from it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from spinetumor.evaluation.lesions import DEFAULT_MIN_OVERLAP_MM3
from spinetumor.evaluation.metrics import NA, evaluate_files
from spinetumor.io import atomic_path

__all__ = [
    "PER_CASE_COLUMNS",
    "per_case_metrics",
    "write_tsv",
    "read_tsv",
    "model_rows",
    "check_keys",
    "check_unique_cases",
    "case_name",
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


def check_keys(case: Mapping[str, Any], keys: Sequence[str], index: int) -> None:
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


def case_name(case: Mapping[str, Any]) -> str:
    """``model M, split S, subject X`` for error messages."""
    return f"model {case['model']}, split {case['split']}, subject {case['subject']}"


def check_unique_cases(cases: Sequence[Mapping[str, Any]]) -> None:
    """Raise if a (model, split, subject) appears twice.

    Raises:
        ValueError: duplicated case; the message names it.
    """
    seen: set[tuple[str, str, str]] = set()
    for case in cases:
        key = (str(case["model"]), str(case["split"]), str(case["subject"]))
        if key in seen:
            raise ValueError(f"{case_name(case)}: listed twice")
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
        check_keys(case, CASE_KEYS, index)
    check_unique_cases(cases)
    frames = []
    for case in cases:
        try:
            table = evaluate_files(case["pred"], case["truth"], min_overlap_mm3)
        except (FileNotFoundError, ValueError) as exc:
            raise type(exc)(f"{case_name(case)}: {exc}") from exc
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
    check_per_case(table, str(path))
    return table.astype({"value": float})


def check_per_case(per_case: pd.DataFrame, name: str = "per-case table") -> None:
    """Raise unless ``per_case`` has the columns of :data:`PER_CASE_COLUMNS`.

    Raises:
        ValueError: a column is missing.
    """
    missing = [column for column in PER_CASE_COLUMNS if column not in per_case.columns]
    if missing:
        raise ValueError(f"{name}: missing columns {', '.join(missing)}")


def model_rows(per_case: pd.DataFrame, model: str) -> pd.DataFrame:
    """Rows of one model.

    Raises:
        ValueError: missing columns, or ``model`` has no rows (the message
            lists the models there are).
    """
    check_per_case(per_case)
    rows = per_case[per_case["model"] == model]
    if rows.empty:
        known = ", ".join(sorted(map(str, per_case["model"].unique()))) or "none"
        raise ValueError(f"model {model}: not in the per-case table (models: {known})")
    return rows
