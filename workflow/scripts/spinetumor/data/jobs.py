"""The data stage's jobs: what the workflow's scripts call for validation, labels, cord masks and splits.

Each job takes file paths, reads its inputs, lets the domain modules compute
(:mod:`~spinetumor.data.validation`, :mod:`~spinetumor.data.labels`,
:mod:`~spinetumor.data.cordmask`, :mod:`~spinetumor.data.splits`) and writes
its outputs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from spinetumor import LABELS
from spinetumor.data import cordmask, labels, splits, validation
from spinetumor.data.cordsource import SOURCES
from spinetumor.data.participants import read_participants
from spinetumor.io import atomic_path, load_nifti, save_nifti, write_json

__all__ = ["validate_subject", "summarize_validation", "standardize_labels", "make_cord_mask", "make_splits"]

log = logging.getLogger(__name__)


def validate_subject(
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
        require_cord: See :func:`spinetumor.data.validation.validate_unit`.

    Returns:
        The report: unit fields plus ``valid``, ``problems`` and ``warnings``
        (see :func:`spinetumor.data.validation.lesion_warnings`; they never
        stop the study).

    Raises:
        InvalidInputError: problems were found and ``on_invalid`` is ``error``.
        ValueError: ``on_invalid`` is not ``error`` or ``skip``.
    """
    if on_invalid not in ("error", "skip"):
        raise ValueError(f"on_invalid_input: {on_invalid!r} is neither 'error' nor 'skip'")
    checked = validation.inspect_unit(unit, require_cord=require_cord)
    problems = checked.problems
    warnings = [] if problems else validation.lesion_warnings(unit, checked.lesion_found)
    report = validation.unit_report(unit, problems, warnings)
    if warnings:
        log.warning("%s", validation.format_problems(unit["prefix"], warnings))
    if problems:
        message = validation.format_problems(unit["prefix"], problems)
        if on_invalid == "error":
            raise validation.InvalidInputError(f"invalid input (on_invalid_input: error):\n{message}")
        log.warning("%s is left out of the study:\n%s", unit["prefix"], message)
    else:
        log.info("%s: all inputs valid", unit["prefix"])
    write_json(report, report_path)
    return report


def summarize_validation(
    reports: list[str],
    table_path: str | Path,
    excluded_path: str | Path,
    *,
    invalid_folders: Iterable[Mapping[str, str]] = (),
) -> pd.DataFrame:
    """Gather per-unit validation reports into the study's two tables.

    Args:
        reports: JSON reports written by :func:`validate_subject`.
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
    loaded = [json.loads(Path(path).read_text()) for path in reports]
    table, excluded = validation.validation_tables(loaded, folders)
    with atomic_path(table_path) as tmp:
        table.to_csv(tmp, sep="\t", index=False)
    with atomic_path(excluded_path) as tmp:
        excluded.to_csv(tmp, sep="\t", index=False)
    n_bad = int((~table["valid"]).sum()) if len(table) else 0
    log.info("%d units validated, %d left out, %d folders not read", len(table), n_bad, len(folders))
    return table


def standardize_labels(
    t2w: str | Path, label_files: Mapping[str, str], out_path: str | Path
) -> dict[str, int]:
    """Write a unit's lesion labels as one ``dseg`` map on the T2w grid.

    Args:
        t2w: The T2w image (defines the grid; validation has checked that
            every label shares it).
        label_files: Files found for the unit; ``dseg`` takes precedence over
            ``tumor``/``edema``/``cavity``; other keys are ignored.
        out_path: Destination ``..._dseg.nii.gz``.

    Returns:
        Voxel count per structure in the written map.
    """
    ref = load_nifti(t2w)
    shape = ref.shape[:3]
    kinds = ["dseg"] if "dseg" in label_files else [name for name in label_files if name in LABELS]
    arrays = {kind: np.asanyarray(load_nifti(label_files[kind]).dataobj).reshape(shape) for kind in kinds}
    dseg = labels.to_dseg(arrays, shape)
    save_nifti(dseg, ref.affine, out_path, dtype=np.uint8)
    return labels.structure_counts(dseg)


def make_cord_mask(
    t2w: str | Path,
    source: str,
    source_file: str | None,
    out_mask: str | Path,
    out_json: str | Path,
    *,
    diameter_mm: float = 30.0,
) -> dict[str, Any]:
    """Write the cord mask of one unit on its T2w grid, with a JSON provenance.

    Args:
        t2w: The unit's T2w image (defines the grid).
        source: ``manual``, ``centerline`` or ``model``.
        source_file: The manual mask, the centreline label, or the mask the
            cord-source model predicted on the T2w grid.
        out_mask: Destination mask.
        out_json: Destination JSON (source, file, voxel count, volume).
        diameter_mm: Tube diameter for the ``centerline`` source.

    Returns:
        The provenance written to ``out_json``.

    Raises:
        ValueError: unknown source, a source without its file, or a file
            that is not on the T2w grid.
    """
    ref = load_nifti(t2w)
    shape = ref.shape[:3]
    if source not in SOURCES or not source_file:
        raise ValueError(f"{t2w}: cord mask source {source!r} needs a file")
    img = load_nifti(source_file)
    if int(np.prod(img.shape)) != int(np.prod(shape)):
        raise ValueError(f"{source_file}: shape {img.shape} is not the T2w grid {shape} of {t2w}")
    label = np.asanyarray(img.dataobj).reshape(shape)
    mask = cordmask.cord_mask(label, ref.affine, source, diameter_mm)
    save_nifti(mask, ref.affine, out_mask, dtype=np.uint8)
    info = cordmask.provenance(mask, ref.affine, source, source_file, diameter_mm)
    write_json(info, out_json)
    return info


def make_splits(
    participants_tsv: str | Path,
    validation_tsv: str | Path,
    settings: Mapping,
    out_path: str | Path,
) -> pd.DataFrame:
    """Compute and write the splits of the valid subjects of a study.

    Args:
        participants_tsv: The dataset's ``participants.tsv``.
        validation_tsv: The study's validation table (only valid units count;
            a subject with any invalid session is still split by its valid
            ones).
        settings: The ``splits`` config section.
        out_path: Destination TSV.

    Returns:
        The split table.
    """
    table = pd.read_csv(validation_tsv, sep="\t", dtype=str)
    subjects = sorted(set(table.loc[table["valid"] == "True", "subject"]))
    participants = read_participants(participants_tsv, settings.get("stratify_by") or None)
    result = splits.make_splits(participants, subjects, settings)
    splits.write_splits(result, out_path)
    return result
