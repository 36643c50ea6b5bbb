"""Per-subject input checks, run before any other step reads the files.

Every file of a unit is checked (:mod:`spinetumor.data.checks`); the problems
name the subject, the file and what is wrong. With ``on_invalid_input: error``
the first report with problems stops the study; with ``skip`` the subject is
recorded as invalid and left out of every downstream step. A unit's report and
the study's two tables (every unit; the units and folders left out) are built
here and written by :mod:`spinetumor.data.jobs`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from spinetumor.data.checks import Problem, check_image, read_label
from spinetumor.data.labelfiles import LESION_LABEL_KINDS

__all__ = [
    "InvalidInputError",
    "UnitCheck",
    "inspect_unit",
    "validate_unit",
    "lesion_warnings",
    "format_problems",
    "unit_report",
    "validation_tables",
    "valid_prefixes",
]

#: Columns of the table of every unit (``validation.tsv``).
UNIT_COLUMNS: list[str] = ["subject", "session", "prefix", "valid", "n_problems", "n_warnings", "warnings"]
#: Columns of the table of the units and folders left out.
EXCLUDED_COLUMNS: list[str] = ["subject", "session", "file", "reason"]


class InvalidInputError(ValueError):
    """Raised when a subject's inputs fail validation and the study must stop."""


@dataclass
class UnitCheck:
    """What checking a unit's files found.

    Attributes:
        problems: All problems, ``[]`` for a valid unit.
        lesion_found: Lesion label file to whether it labels any voxel, for
            the lesion files whose values were checked.
    """

    problems: list[Problem] = field(default_factory=list)
    lesion_found: dict[str, bool] = field(default_factory=dict)


def inspect_unit(unit: Mapping[str, Any], *, require_cord: bool = True) -> UnitCheck:
    """Run every check on one unit (subject/session), reading each file once.

    Args:
        unit: :meth:`spinetumor.data.bids.Unit.as_dict` of the unit.
        require_cord: A cord mask source (manual mask or centreline) must exist.

    Returns:
        The problems, and which lesion labels hold a lesion voxel.
    """
    result = UnitCheck([("", p) for p in unit.get("problems", [])])
    reference = None
    if unit.get("t2w"):
        reference, found = check_image(unit["t2w"])
        result.problems += found
    elif not unit.get("problems"):
        result.problems.append(("", "T2w: missing"))
    if unit.get("t1w"):
        result.problems += check_image(unit["t1w"])[1]
    elif not unit.get("problems"):
        result.problems.append(("", "T1w: missing"))
    labels = unit.get("labels", {})
    for kind, path in sorted(labels.items()):
        problems, any_voxel = read_label(path, kind, reference)
        result.problems += problems
        if kind in LESION_LABEL_KINDS and any_voxel is not None:
            result.lesion_found[path] = any_voxel
    if require_cord and not ({"cord", "centerline"} & set(labels)):
        result.problems.append(("", "no spinal cord mask and no centreline label found"))
    return result


def validate_unit(unit: Mapping[str, Any], *, require_cord: bool = True) -> list[Problem]:
    """Run every check on one unit (subject/session).

    Args:
        unit: :meth:`spinetumor.data.bids.Unit.as_dict` of the unit.
        require_cord: A cord mask source (manual mask or centreline) must exist.

    Returns:
        All problems found, ``[]`` for a valid unit.
    """
    return inspect_unit(unit, require_cord=require_cord).problems


def lesion_warnings(unit: Mapping[str, Any], lesion_found: Mapping[str, bool]) -> list[Problem]:
    """Warn when a unit not declared healthy has lesion labels without any lesion voxel.

    Such a unit counts as tumour-free in every metric; it is kept (an empty
    map can be right, e.g. after a resection) but the study says so.

    Args:
        unit: :meth:`spinetumor.data.bids.Unit.as_dict` of a unit whose labels
            passed :func:`validate_unit`.
        lesion_found: :attr:`UnitCheck.lesion_found` of the unit.

    Returns:
        ``[]``, or one warning naming the lesion file(s).
    """
    files = sorted(path for kind, path in unit.get("labels", {}).items() if kind in LESION_LABEL_KINDS)
    if unit.get("healthy") or not files:
        return []
    if any(lesion_found[path] for path in files):
        return []
    return [
        (
            ", ".join(files),
            f"lesion label is empty, but {unit['prefix']} is not declared healthy "
            "(labels.lesions.healthy): it counts as a subject without tumour in every metric",
        )
    ]


def format_problems(prefix: str, problems: list[Problem]) -> str:
    """One line per problem: ``sub-01: path/file.nii.gz: what is wrong``."""
    return "\n".join(f"{prefix}: {f}: {msg}" if f else f"{prefix}: {msg}" for f, msg in problems)


def unit_report(unit: Mapping[str, Any], problems: list[Problem], warnings: list[Problem]) -> dict[str, Any]:
    """A unit's JSON report: its fields plus ``valid``, ``problems`` and ``warnings``."""
    return {
        **unit,
        "valid": not problems,
        "problems": [{"file": f, "problem": p} for f, p in problems],
        "warnings": [{"file": f, "warning": w} for f, w in warnings],
    }


def validation_tables(
    reports: Iterable[Mapping[str, Any]], invalid_folders: Iterable[Mapping[str, str]] = ()
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The study's table of every unit and its table of what is left out.

    Args:
        reports: Unit reports (:func:`unit_report`).
        invalid_folders: Rows of :data:`EXCLUDED_COLUMNS` for the ``sub-*``
            and ``ses-*`` folders that are no unit
            (:func:`spinetumor.data.bids.invalid_folders`).

    Returns:
        One row per unit (:data:`UNIT_COLUMNS`), and one row per problem of
        an invalid unit followed by the folders (:data:`EXCLUDED_COLUMNS`).
    """
    units, excluded = [], []
    for report in reports:
        units.append(_unit_row(report))
        excluded += [_excluded_row(report, problem) for problem in report["problems"]]
    excluded += [dict(row) for row in invalid_folders]
    return pd.DataFrame(units, columns=UNIT_COLUMNS), pd.DataFrame(excluded, columns=EXCLUDED_COLUMNS)


def _unit_row(report: Mapping[str, Any]) -> dict[str, Any]:
    warnings = report.get("warnings", [])
    return {
        "subject": f"sub-{report['subject']}",
        "session": report.get("session") or "n/a",
        "prefix": report["prefix"],
        "valid": bool(report["valid"]),
        "n_problems": len(report["problems"]),
        "n_warnings": len(warnings),
        "warnings": "; ".join(f"{w['file']}: {w['warning']}" for w in warnings) or "n/a",
    }


def _excluded_row(report: Mapping[str, Any], problem: Mapping[str, str]) -> dict[str, str]:
    return {
        "subject": f"sub-{report['subject']}",
        "session": report.get("session") or "n/a",
        "file": problem["file"] or "n/a",
        "reason": problem["problem"],
    }


def valid_prefixes(table_path: str | Path) -> list[str]:
    """Prefixes of the valid units listed in a validation table."""
    table = pd.read_csv(table_path, sep="\t", dtype={"prefix": str})
    return sorted(table.loc[table["valid"].astype(str) == "True", "prefix"])
