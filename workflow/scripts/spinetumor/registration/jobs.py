"""The registration's jobs, called by the thin Snakemake scripts: file paths in, files out.

* :func:`run_registration` (``register_t1w``): register one unit's T1w onto
  its T2w and write the resampled T1w, the transform, the QC figure and the
  JSON summary.
* :func:`registration_table` (``registration_table``): the study's table of
  every unit's summary, failures first.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd
import SimpleITK as sitk

from spinetumor.io import atomic_path, load_nifti, save_nifti, write_json
from spinetumor.registration.images import resample_to_t2w, sitk_threads, write_transform
from spinetumor.registration.qc import qc_figure
from spinetumor.registration.register import RegistrationResult, register_t1w_to_t2w
from spinetumor.registration.settings import RegistrationSettings
from spinetumor.registration.transforms import rigid_parameters, transform_centre

__all__ = ["TABLE_COLUMNS", "registration_table", "run_registration"]

logger = logging.getLogger(__name__)

#: Columns of the study's registration table, one row per unit.
TABLE_COLUMNS: tuple[str, ...] = (
    "unit",
    "registration_ok",
    "failure_reasons",
    "metric",
    "final_metric_value",
    "rigid_translation_mm",
    "rigid_rotation_deg",
    "transform_type",
)  # no run time: a result table is the same on every rerun (the time is in each unit's JSON)


def run_registration(
    t2w: Path,
    t1w: Path,
    out_image: Path,
    out_transform: Path,
    out_qc_png: Path,
    settings: RegistrationSettings,
    subject: str = "",
    out_summary: Path | None = None,
) -> dict[str, Any]:
    """Register, then write the resampled T1w, the transform and a QC figure.

    Every output is written atomically.

    Args:
        t2w: T2w NIfTI (fixed).
        t1w: T1w NIfTI (moving).
        out_image: T1w resampled on the T2w grid (``.nii.gz``, float32).
        out_transform: ITK transform file (``.tfm``), T2w-to-T1w.
        out_qc_png: Mid-sagittal QC figure.
        settings: Registration settings.
        subject: Subject label (without ``sub-``), for messages and the summary.
        out_summary: Optional JSON file receiving the summary.

    A result that fails the checks is still written, flagged: the summary
    says ``"registration_ok": false`` with the reasons, the QC figure carries
    a red banner, and the log a warning; the study's registration table
    (:func:`registration_table`) lists it.

    Returns:
        Summary: subject, ``registration_ok`` and ``failure_reasons``, metric,
        final value, seconds, per-stage details and the rigid part of the
        transform (translation in mm, rotation in deg).

    Raises:
        ValueError: an input cannot be read or ITK fails.
    """
    result = register_t1w_to_t2w(t2w, t1w, settings, subject=subject)
    image = result.t1w_on_t2w
    save_nifti(np.asarray(image.dataobj), image.affine, out_image, dtype=np.float32)
    write_transform(result.transform, Path(out_transform))
    _write_qc(result, t2w, t1w, out_qc_png, settings, subject)
    summary = _summary(result, settings, subject)
    if out_summary is not None:
        write_json(summary, out_summary)
    return summary


def _write_qc(
    result: RegistrationResult,
    t2w: Path,
    t1w: Path,
    out_qc_png: Path,
    settings: RegistrationSettings,
    subject: str,
) -> None:
    """The QC figure of a result: before (header alignment) and after, with its failures."""
    image = result.t1w_on_t2w
    identity = sitk.Transform(3, sitk.sitkIdentity)
    with sitk_threads(settings.threads):
        before = resample_to_t2w(t1w, t2w, identity, subject=subject)
    t2w_data = np.asarray(load_nifti(t2w).dataobj, dtype=np.float32).reshape(image.shape)
    qc_figure(
        nib.Nifti1Image(t2w_data, image.affine),
        image,
        out_qc_png,
        title=f"sub-{subject}: T1w on T2w ({settings.metric})",
        t1w_before_img=before,
        failures=result.failures,
    )


def registration_table(summaries: Mapping[str, Path], out_tsv: Path) -> pd.DataFrame:
    """The study's registration table: one row per unit, failures first, from the JSON summaries.

    Args:
        summaries: Unit id (file prefix) -> the unit's registration summary
            JSON (``..._space-T2w_T1w.json``).
        out_tsv: Destination TSV (written atomically).

    Returns:
        The table (columns :data:`TABLE_COLUMNS`).
    """
    rows = []
    for unit, path in sorted(summaries.items()):
        summary = json.loads(Path(path).read_text())
        rows.append(
            {
                "unit": unit,
                "registration_ok": bool(summary.get("registration_ok", True)),
                "failure_reasons": "; ".join(summary.get("failure_reasons", [])),
                "metric": summary["metric"],
                "final_metric_value": summary["final_metric_value"],
                "rigid_translation_mm": round(float(np.linalg.norm(summary["rigid_translation_mm_lps"])), 3),
                "rigid_rotation_deg": summary["rigid_rotation_deg"],
                "transform_type": summary["transform_type"],
            }
        )
    table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS)).sort_values(
        ["registration_ok", "unit"], kind="stable"
    )
    failed = table.loc[~table["registration_ok"], "unit"].tolist()
    if failed:
        logger.warning("registration failed its checks for %d unit(s): %s", len(failed), ", ".join(failed))
    with atomic_path(out_tsv) as tmp:
        table.to_csv(tmp, sep="\t", index=False)
    return table


def _summary(result: RegistrationResult, settings: RegistrationSettings, subject: str) -> dict[str, Any]:
    """JSON-ready summary of a registration."""
    translation, angles, angle = rigid_parameters(result.transform, transform_centre(result.transform))
    return {
        "subject": subject,
        "registration_ok": result.ok,
        "failure_reasons": list(result.failures),
        "joint_search": result.joint_search,
        "metric": result.metric,
        "final_metric_value": result.metric_value,
        "seconds": round(result.seconds, 3),
        "transform_type": result.transform.GetName(),
        "rigid_translation_mm_lps": [round(v, 4) for v in translation],
        "rigid_rotation_deg": round(angle, 4),
        "rigid_euler_angles_deg_lps": [round(v, 4) for v in angles],
        "stages": [asdict(s) for s in result.stages],
        "settings": asdict(settings),
    }
