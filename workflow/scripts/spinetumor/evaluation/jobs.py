"""The study's evaluation jobs: per-case metrics, paper tables and figures from the workflow's files.

These are the functions the thin scripts call, glue between the rule files
and the table and figure modules of this package: they add each case's tumour type from
``participants.tsv``, read the cascade's crop boxes from the prediction
sidecars, pick the overlay cases, and write every table as TSV, LaTeX
(booktabs) and Markdown.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from spinetumor.data.participants import read_participants
from spinetumor.evaluation import calibration as calibration_module
from spinetumor.evaluation import (
    comparison,
    cord,
    figures,
    lemay,
    overlays,
    provenance,
    qc_figures,
    stanford,
    writers,
)
from spinetumor.evaluation.lesions import DEFAULT_MIN_OVERLAP_MM3
from spinetumor.evaluation.per_case import per_case_metrics, read_tsv, write_tsv

__all__ = [
    "pathology_of",
    "metrics_table",
    "model_tables",
    "comparison_table",
    "cord_table",
    "provenance_table",
    "calibration",
    "summary_figures",
    "model_figures",
    "registration_figure",
]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]


def pathology_of(participants_tsv: PathLike | None, column: str | None) -> dict[str, str]:
    """Participant ID to tumour type (``n/a`` when unknown or not configured)."""
    if not participants_tsv or not column or not Path(participants_tsv).exists():
        return {}
    table = read_participants(participants_tsv)
    if column not in table.columns:
        logger.warning("%s: no %r column; tumour types are n/a", participants_tsv, column)
        return {}
    return {
        pid: (value if isinstance(value, str) and value else "n/a") for pid, value in table[column].items()
    }


def _with_pathology(cases: Sequence[Mapping[str, Any]], types: Mapping[str, str]) -> list[dict[str, Any]]:
    """Each case with the tumour type of its ``participant`` (``n/a`` when unknown)."""
    return [{**case, "pathology": types.get(str(case["participant"]), "n/a")} for case in cases]


def metrics_table(
    cases: Sequence[Mapping[str, Any]],
    participants_tsv: PathLike | None,
    pathology_column: str | None,
    out_tsv: PathLike,
    min_overlap_mm3: float = DEFAULT_MIN_OVERLAP_MM3,
) -> pd.DataFrame:
    """``per_case_metrics.tsv``: every metric of every test prediction of every split.

    Args:
        cases: ``model, split, subject`` (the unit), ``participant``, ``pred``
            and ``truth`` per test prediction.
        participants_tsv: The dataset's participants table.
        pathology_column: Its tumour-type column (null: ``n/a`` for all).
        out_tsv: Destination.
        min_overlap_mm3: Overlap for a lesion detection.
    """
    table = per_case_metrics(
        _with_pathology(cases, pathology_of(participants_tsv, pathology_column)), min_overlap_mm3
    )
    write_tsv(table, out_tsv)
    return table


def _write_all(table: pd.DataFrame, outs: Mapping[str, PathLike], caption: str) -> None:
    writers.to_tsv(table, outs["tsv"])
    writers.to_latex_booktabs(table, outs["tex"], caption=caption)
    writers.to_markdown(table, outs["md"])


def model_tables(
    per_case_tsv: PathLike,
    model: str,
    lemay_outs: Mapping[str, PathLike],
    stanford_outs: Mapping[str, PathLike],
    stanford_label: str = "tumor",
) -> None:
    """A model's Lemay Table 3 layout and Stanford per-split layout, each as TSV, LaTeX and Markdown."""
    per_case = read_tsv(per_case_tsv)
    _write_all(
        lemay.lemay_table(per_case, model),
        lemay_outs,
        f"{model}: mean $\\pm$ std across splits of the per-split mean over test subjects (%).",
    )
    _write_all(
        stanford.stanford_table(per_case, model, stanford_label),
        stanford_outs,
        f"{model}: per-split patient-level sensitivity and Dice ({stanford_label}); a patient "
        "counts once per split, detected if its tumour is detected in any of its test sessions, "
        "with the mean Dice over them (missed sessions 0).",
    )


def comparison_table(
    per_case_tsv: PathLike,
    pairs: Sequence[Sequence[str]],
    out_tsv: PathLike,
    out_md: PathLike,
    n_boot: int = 2000,
    seed: int = 0,
    predicted: Mapping[str, Sequence[str]] | None = None,
) -> pd.DataFrame:
    """Paired comparisons of Dice (difference, bootstrap 95 % CI, Wilcoxon p), overall and per tumour type.

    ``predicted`` maps each model to the labels it predicts; a pair compares only the labels both predict.
    """
    per_case = read_tsv(per_case_tsv)
    frames = [
        comparison.compare_models(per_case, a, b, n_boot=n_boot, seed=seed, predicted=predicted)
        for a, b in pairs
    ]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    write_tsv(table, out_tsv)
    writers.to_markdown(table.round(4), out_md)
    return table


def cord_table(
    cases: Sequence[Mapping[str, Any]],
    participants_tsv: PathLike | None,
    pathology_column: str | None,
    out_tsv: PathLike,
    out_summary: PathLike,
) -> pd.DataFrame:
    """Stage-1 cord Dice against the reference cord mask, and lesions inside the stage-1 crop.

    Args:
        cases: ``model, split, subject, participant, pred_cord, ref_cord,
            sidecar, preproc_dseg`` per cascade test prediction; the crop box is read
            from the prediction's sidecar.
    """
    full = []
    for case in cases:
        sidecar = json.loads(Path(case["sidecar"]).read_text())
        box = sidecar.get("crop_box_preprocessed")
        if box is None:
            raise ValueError(f"{case['sidecar']}: no crop_box_preprocessed (not a cascade prediction)")
        full.append({**{k: v for k, v in case.items() if k != "sidecar"}, "crop_box": box})
    table = cord.cord_localisation(_with_pathology(full, pathology_of(participants_tsv, pathology_column)))
    write_tsv(table, out_tsv)
    write_tsv(cord.cord_localisation_summary(table), out_summary)
    return table


def provenance_table(
    runs: Sequence[Mapping[str, Any]], results_dir: PathLike, out_tsv: PathLike
) -> pd.DataFrame:
    """``provenance.tsv``: the weights, config, seed, epochs, code and libraries of every trained run.

    Args:
        runs: ``model, split, stage, checkpoint, summary`` per trained run
            (:func:`spinetumor.evaluation.provenance.provenance_row`).
        results_dir: The results folder (checkpoints are named relative to it).
        out_tsv: Destination.
    """
    table = provenance.provenance_frame(runs, results_dir)
    write_tsv(table, out_tsv)
    return table


def calibration(
    cases: Sequence[Mapping[str, Any]],
    out_tsv: PathLike,
    out_bins: PathLike,
    out_png: PathLike,
    out_pdf: PathLike,
) -> pd.DataFrame:
    """``calibration.tsv`` (ECE, MCE, Brier per model, label and region), its bins and the reliability figure.

    Args:
        cases: ``model, subject, probs, sidecar, truth`` per test prediction
            (:func:`spinetumor.evaluation.calibration.calibration_tables`).
    """
    table, bins = calibration_module.calibration_tables(cases)
    write_tsv(table, out_tsv)
    write_tsv(bins, out_bins)
    calibration_module.reliability_figure(bins, out_png, out_pdf)
    return table


def summary_figures(per_case_tsv: PathLike, outs: Mapping[str, PathLike]) -> None:
    """Dice per label and model, detection rates, and volume agreement (PNG and PDF each)."""
    per_case = read_tsv(per_case_tsv)
    figures.dice_boxplot(per_case, outs["dice_png"], outs["dice_pdf"])
    figures.detection_rates(per_case, outs["detection_png"], outs["detection_pdf"])
    figures.volume_agreement(per_case, outs["volume_png"], outs["volume_pdf"])


def model_figures(
    per_case_tsv: PathLike,
    model: str,
    images: Mapping[str, Mapping[str, Mapping[str, PathLike]]],
    summaries: Mapping[str, PathLike],
    outs: Mapping[str, PathLike],
) -> None:
    """A model's overlays (best, median and worst whole-tumour Dice) and training curves.

    Args:
        per_case_tsv: The per-case table.
        model: The model.
        images: ``split -> subject -> {t2w, t1w, truth, pred}`` for its test cases.
        summaries: Curve name (``split-K STAGE``) to that run's training
            summary, whose ``curves`` are drawn.
        outs: ``overlay_png``, ``overlay_pdf``, ``curves_png``, ``curves_pdf``.
    """
    per_case = read_tsv(per_case_tsv)
    cases = []
    for rank, (split, subject, dice) in zip(
        ("best", "median", "worst"), overlays.pick_best_median_worst(per_case, model)
    ):
        files = images[str(split)][str(subject)]
        cases.append({"title": f"{rank}: {subject}, split {split}, Dice {dice:.2f}", **files})
    if not cases:
        raise ValueError(f"model {model!r}: no test case with a whole-tumour Dice to show")
    overlays.overlays(cases, outs["overlay_png"], outs["overlay_pdf"])
    qc_figures.training_curves(
        {name: _curves(name, path) for name, path in summaries.items()},
        outs["curves_png"],
        outs["curves_pdf"],
    )


def _curves(name: str, summary: PathLike) -> Mapping[str, Any]:
    """The ``curves`` of a training summary (named in the error when they are missing)."""
    curves = json.loads(Path(summary).read_text()).get("curves")
    if curves is None:
        raise ValueError(
            f"training curves {name}: {summary} has no curves (written before they were added: rerun it)"
        )
    return curves


def registration_figure(
    qc_pngs: Mapping[str, PathLike], out_png: PathLike, out_pdf: PathLike, max_tiles: int = 24
) -> None:
    """A mosaic of the registration QC images (the first ``max_tiles`` units by name)."""
    chosen = dict(sorted(qc_pngs.items())[:max_tiles])
    if len(qc_pngs) > max_tiles:
        logger.info("registration mosaic: %d of %d units shown", max_tiles, len(qc_pngs))
    qc_figures.registration_mosaic(chosen, out_png, out_pdf, n_columns=4)
