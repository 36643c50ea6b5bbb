"""Per-subject input checks, run before any other step reads the files.

Each check returns problems as ``(file, message)`` pairs so that a report can
name the subject, the file and the problem. Besides the contents, the
geometry must be one that every tool reads alike: square voxel axes and, when
both are set, sform and qform in agreement (nibabel and MONAI read the sform,
SimpleITK falls back to the qform when the sform is sheared). With ``on_invalid_input: error``
the first report with problems stops the study; with ``skip`` the subject is
recorded as invalid and left out of every downstream step.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from spinetumor.data.bids import LESION_LABEL_KINDS
from spinetumor.io import atomic_path, load_nifti, voxel_sizes, write_json

__all__ = [
    "InvalidInputError",
    "check_image",
    "check_label",
    "lesion_warnings",
    "validate_unit",
    "format_problems",
    "run_validation",
    "summarize_reports",
    "valid_prefixes",
]

log = logging.getLogger(__name__)

#: Allowed values per label kind: the lesion ``dseg`` map or a binary mask.
LABEL_VALUES: dict[str, frozenset[int]] = {
    "dseg": frozenset({0, 1, 2, 3}),
    "tumor": frozenset({0, 1}),
    "edema": frozenset({0, 1}),
    "cavity": frozenset({0, 1}),
    "cord": frozenset({0, 1}),
    "centerline": frozenset({0, 1}),
}

#: World-coordinate tolerance (mm) for "the label is on the image's grid".
GRID_TOLERANCE_MM = 1e-3

#: Largest cosine accepted between two voxel axes (|R^T R - I| of the unit
#: direction columns), about 0.006 degrees from square. Real scanner headers
#: are square to float32 precision (~1e-7); SimpleITK reads a sform sheared by
#: 1e-4 from the sform but one sheared by 1e-3 from the qform, while nibabel
#: and MONAI always use the sform, so anything looser would let the tools
#: place the voxels differently.
ORTHOGONALITY_TOLERANCE = 1e-4

#: Largest disagreement accepted between a coded sform and a coded qform:
#: a hundredth of a millimetre (origin, voxel sizes) and of a degree (axes),
#: far below any voxel yet far above float32 storage noise (~1e-5 mm; the
#: demo's oblique headers differ by up to 2e-4 degrees). SimpleITK may read
#: one and nibabel/MONAI the other.
XFORM_TOLERANCE_MM = 0.01
XFORM_TOLERANCE_DEG = 0.01

Problem = tuple[str, str]


class InvalidInputError(ValueError):
    """Raised when a subject's inputs fail validation and the study must stop."""


def _load_array(path: str) -> tuple[Any, np.ndarray | None, list[Problem]]:
    """Load image and data; report unreadable files and dimensionality."""
    try:
        img = load_nifti(path)
    except (FileNotFoundError, ValueError) as exc:
        return None, None, [(path, str(exc).removeprefix(f"{path}: "))]
    shape = img.shape
    if len(shape) == 4 and shape[3] == 1:
        pass
    elif len(shape) != 3:
        return img, None, [(path, f"expected a 3D image (or 4D with one volume), got shape {shape}")]
    try:
        data = np.asanyarray(img.dataobj)
    except Exception as exc:  # truncated gzip streams, bad offsets...
        return img, None, [(path, f"cannot read the voxel data ({exc})")]
    return img, data.reshape(shape[:3]), []


def _check_geometry(path: str, img: Any) -> list[Problem]:
    """A usable voxel-to-world matrix that every tool of the pipeline reads alike.

    nibabel and MONAI use the sform when it is coded; SimpleITK falls back to
    the qform when the sform is sheared. So the matrix must have square axes,
    and a coded qform must agree with a coded sform.
    """
    affine = img.affine
    sizes = voxel_sizes(affine)
    if not np.all(np.isfinite(affine)) or np.any(sizes < 1e-6) or abs(np.linalg.det(affine[:3, :3])) < 1e-9:
        return [(path, f"degenerate voxel-to-world matrix (voxel sizes {np.round(sizes, 4).tolist()})")]
    problems = []
    directions = affine[:3, :3] / sizes
    shear = float(np.abs(directions.T @ directions - np.eye(3)).max())
    if shear > ORTHOGONALITY_TOLERANCE:
        degrees = 90.0 - np.degrees(np.arccos(min(shear, 1.0)))
        problems.append(
            (
                path,
                (
                    f"voxel axes are not orthogonal (sheared voxel-to-world matrix: largest axis cosine {shear:.3g}, "
                    f"{degrees:.3g} degrees from square; tolerance {ORTHOGONALITY_TOLERANCE:g}): SimpleITK would read the "
                    "qform instead while nibabel and MONAI use the sform; resample the image onto an orthogonal grid"
                ),
            )
        )
    header = img.header
    sform, sform_code = header.get_sform(coded=True)
    qform, qform_code = header.get_qform(coded=True)
    if sform is not None and qform is not None:
        disagreement = _xform_disagreement(sform, qform)
        if disagreement:
            problems.append(
                (
                    path,
                    (
                        f"sform (code {int(sform_code)}) and qform (code {int(qform_code)}) disagree ({disagreement}; "
                        f"tolerance {XFORM_TOLERANCE_MM:g} mm, {XFORM_TOLERANCE_DEG:g} degrees): tools that read the qform "
                        "and those that read the sform would place the voxels differently; make them equal or unset one"
                    ),
                )
            )
    return problems


def _xform_disagreement(sform: np.ndarray, qform: np.ndarray) -> str:
    """How far two voxel-to-world matrices differ beyond tolerance ('' when they agree)."""
    found = []
    s_sizes, q_sizes = voxel_sizes(sform), voxel_sizes(qform)
    s_dirs, q_dirs = sform[:3, :3] / s_sizes, qform[:3, :3] / q_sizes
    if np.sign(np.linalg.det(s_dirs)) != np.sign(np.linalg.det(q_dirs)):
        found.append("one is the mirror image of the other")
    else:
        # |I - R|_F = 2 sqrt(2) sin(angle / 2) for a rotation R: unlike arccos of the trace,
        # this stays accurate for the tiny angles that float32 headers differ by.
        chord = float(np.linalg.norm(s_dirs - q_dirs)) / (2.0 * np.sqrt(2.0))
        angle = float(np.degrees(2.0 * np.arcsin(min(chord, 1.0))))
        if angle > XFORM_TOLERANCE_DEG:
            found.append(f"axes rotated by {angle:.3g} degrees")
    shift = float(np.linalg.norm(sform[:3, 3] - qform[:3, 3]))
    if shift > XFORM_TOLERANCE_MM:
        found.append(f"origins {shift:.3g} mm apart")
    size_diff = float(np.abs(s_sizes - q_sizes).max())
    if size_diff > XFORM_TOLERANCE_MM:
        found.append(f"voxel sizes {np.round(s_sizes, 4).tolist()} vs {np.round(q_sizes, 4).tolist()} mm")
    return ", ".join(found)


def check_image(path: str) -> tuple[Any, list[Problem]]:
    """Check that an image is readable, 3D, finite and has a sane geometry.

    Args:
        path: NIfTI file.

    Returns:
        The loaded image (or ``None``) and its problems.
    """
    img, data, problems = _load_array(path)
    if data is None:
        return img, problems
    problems += _check_geometry(path, img)
    if data.dtype.kind == "f":
        n_bad = int(np.size(data) - np.count_nonzero(np.isfinite(data)))
        if n_bad:
            problems.append((path, f"{n_bad} non-finite voxel values (NaN or inf)"))
    if np.size(data) == 0:
        problems.append((path, "image has no voxels"))
    return img, problems


def check_label(path: str, kind: str, reference: Any | None) -> list[Problem]:
    """Check a label file: readable, 3D, integer values of its kind, on the grid.

    Args:
        path: NIfTI label file.
        kind: ``dseg``, ``tumor``, ``edema``, ``cavity``, ``cord`` or ``centerline``.
        reference: The T2w image whose grid the label must share, or ``None``
            when the T2w could not be read.

    Returns:
        The problems found.
    """
    img, data, problems = _load_array(path)
    if data is None:
        return problems
    problems += _check_geometry(path, img)
    if problems:
        return problems
    if reference is not None:
        if img.shape[:3] != reference.shape[:3]:
            return [(path, f"label grid {img.shape[:3]} differs from the T2w grid {reference.shape[:3]}")]
        corners = np.array([[0, 0, 0, 1], [*np.array(img.shape[:3]) - 1, 1]], dtype=float).T
        shift = np.abs(img.affine @ corners - reference.affine @ corners).max()
        if shift > GRID_TOLERANCE_MM:
            return [(path, f"label is not on the T2w grid (header world positions differ by {shift:.3g} mm)")]
    values = np.asarray(data)
    if values.dtype.kind == "f":
        if not np.all(np.isfinite(values)):
            return [(path, "label has non-finite values")]
        if not np.array_equal(values, np.round(values)):
            return [(path, "label has non-integer values")]
    found = {int(v) for v in np.unique(values)}
    unknown = sorted(found - LABEL_VALUES[kind])
    if unknown:
        allowed = sorted(LABEL_VALUES[kind])
        problems.append((path, f"unknown label values {unknown} for a {kind} label (allowed: {allowed})"))
    return problems


def validate_unit(unit: Mapping[str, Any], *, require_cord: bool = True) -> list[Problem]:
    """Run every check on one unit (subject/session).

    Args:
        unit: :meth:`spinetumor.data.bids.Unit.as_dict` of the unit.
        require_cord: A cord mask source (manual mask or centreline) must exist.

    Returns:
        All problems found, ``[]`` for a valid unit.
    """
    problems: list[Problem] = [("", p) for p in unit.get("problems", [])]
    reference = None
    if unit.get("t2w"):
        reference, found = check_image(unit["t2w"])
        problems += found
    elif not unit.get("problems"):
        problems.append(("", "T2w: missing"))
    if unit.get("t1w"):
        problems += check_image(unit["t1w"])[1]
    elif not unit.get("problems"):
        problems.append(("", "T1w: missing"))
    labels = unit.get("labels", {})
    for kind, path in sorted(labels.items()):
        problems += check_label(path, kind, reference)
    if require_cord and not ({"cord", "centerline"} & set(labels)):
        problems.append(("", "no spinal cord mask and no centreline label found"))
    return problems


def lesion_warnings(unit: Mapping[str, Any]) -> list[Problem]:
    """Warn when a unit not declared healthy has lesion labels without any lesion voxel.

    Such a unit counts as tumour-free in every metric; it is kept (an empty
    map can be right, e.g. after a resection) but the study says so.

    Args:
        unit: :meth:`spinetumor.data.bids.Unit.as_dict` of a unit whose labels
            passed :func:`validate_unit`.

    Returns:
        ``[]``, or one warning naming the lesion file(s).
    """
    files = sorted(path for kind, path in unit.get("labels", {}).items() if kind in LESION_LABEL_KINDS)
    if unit.get("healthy") or not files:
        return []
    if any(np.any(np.asanyarray(load_nifti(path).dataobj)) for path in files):
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


def run_validation(
    unit: Mapping[str, Any],
    report_path: str | Path,
    *,
    on_invalid: str = "error",
    require_cord: bool = True,
) -> dict[str, Any]:
    """Validate a unit, write its JSON report, and stop the study if asked.

    Args:
        unit: :meth:`spinetumor.data.bids.Unit.as_dict` of the unit.
        report_path: JSON report to write (always written in ``skip`` mode;
            not written when the study stops, so a rerun validates again).
        on_invalid: ``error`` (raise) or ``skip`` (record and continue).
        require_cord: See :func:`validate_unit`.

    Returns:
        The report: unit fields plus ``valid``, ``problems`` and
        ``warnings`` (see :func:`lesion_warnings`; they never stop the study).

    Raises:
        InvalidInputError: problems were found and ``on_invalid`` is ``error``.
        ValueError: ``on_invalid`` is not ``error`` or ``skip``.
    """
    if on_invalid not in ("error", "skip"):
        raise ValueError(f"on_invalid_input: {on_invalid!r} is neither 'error' nor 'skip'")
    problems = validate_unit(unit, require_cord=require_cord)
    warnings = [] if problems else lesion_warnings(unit)
    report = {
        **unit,
        "valid": not problems,
        "problems": [{"file": f, "problem": p} for f, p in problems],
        "warnings": [{"file": f, "warning": w} for f, w in warnings],
    }
    if warnings:
        log.warning("%s", format_problems(unit["prefix"], warnings))
    if problems:
        message = format_problems(unit["prefix"], problems)
        if on_invalid == "error":
            raise InvalidInputError(f"invalid input (on_invalid_input: error):\n{message}")
        log.warning("%s is left out of the study:\n%s", unit["prefix"], message)
    else:
        log.info("%s: all inputs valid", unit["prefix"])
    write_json(report, report_path)
    return report


def summarize_reports(
    reports: list[str],
    table_path: str | Path,
    excluded_path: str | Path,
    *,
    invalid_folders: Iterable[Mapping[str, str]] = (),
) -> pd.DataFrame:
    """Gather per-unit validation reports into the study's two tables.

    Args:
        reports: JSON reports written by :func:`run_validation`.
        table_path: TSV of every unit (``subject``, ``session``, ``prefix``,
            ``valid``, ``n_problems``, ``n_warnings``, ``warnings``).
        excluded_path: TSV of the units left out, one row per problem
            (``subject``, ``session``, ``file``, ``reason``); header only
            when every unit is valid.
        invalid_folders: Rows of the same four columns for the ``sub-*`` and
            ``ses-*`` folders that are no unit
            (:func:`spinetumor.data.bids.invalid_folders`).

    Returns:
        The table of every unit.
    """
    folders = [dict(row) for row in invalid_folders]
    units, excluded = [], []
    for path in reports:
        report = json.loads(Path(path).read_text())
        warnings = report.get("warnings", [])
        units.append(
            {
                "subject": f"sub-{report['subject']}",
                "session": report.get("session") or "n/a",
                "prefix": report["prefix"],
                "valid": bool(report["valid"]),
                "n_problems": len(report["problems"]),
                "n_warnings": len(warnings),
                "warnings": "; ".join(f"{w['file']}: {w['warning']}" for w in warnings) or "n/a",
            }
        )
        for problem in report["problems"]:
            excluded.append(
                {
                    "subject": f"sub-{report['subject']}",
                    "session": report.get("session") or "n/a",
                    "file": problem["file"] or "n/a",
                    "reason": problem["problem"],
                }
            )
    excluded += folders
    columns = ["subject", "session", "prefix", "valid", "n_problems", "n_warnings", "warnings"]
    table = pd.DataFrame(units, columns=columns)
    excluded_table = pd.DataFrame(excluded, columns=["subject", "session", "file", "reason"])
    with atomic_path(table_path) as tmp:
        table.to_csv(tmp, sep="\t", index=False)
    with atomic_path(excluded_path) as tmp:
        excluded_table.to_csv(tmp, sep="\t", index=False)
    n_bad = int((~table["valid"]).sum()) if len(table) else 0
    log.info("%d units validated, %d left out, %d folders not read", len(table), n_bad, len(folders))
    return table


def valid_prefixes(table_path: str | Path) -> list[str]:
    """Prefixes of the valid units listed in a validation table."""
    table = pd.read_csv(table_path, sep="\t", dtype={"prefix": str})
    return sorted(table.loc[table["valid"].astype(str) == "True", "prefix"])
