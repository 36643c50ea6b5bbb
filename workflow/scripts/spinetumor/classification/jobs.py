"""The classification jobs: one split's feature classifier, and the study's tables and figures.

(The deep classifier's job is :func:`spinetumor.classification.zhuo2022.train_classifier`, apart so
that this module imports no torch.)

:func:`classify_split` (``classify_split``)
    Measures each unit's lesion features (:mod:`spinetumor.classification.features`):
    a training or validation unit's from its reference labels, a test unit's
    from the segmentation model's prediction for that split (never its
    labels), then, per task, fits the feature classifier on the split's
    training and validation units and predicts its test units.

:func:`classification_tables` (``classification_tables``)
    Every split's predictions of every classifier into the metric tables and
    figures (:mod:`spinetumor.classification.tables`) and the paired comparison
    of the classifiers (:mod:`spinetumor.classification.comparison`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import nibabel as nib
import pandas as pd

from spinetumor.classification.baseline import fit_baseline, predict_baseline
from spinetumor.classification.comparison import comparison_table
from spinetumor.classification.features import FEATURES, lesion_features
from spinetumor.classification.tables import (
    PREDICTION_COLUMNS,
    confusion_figure,
    metrics_table,
    paper_table,
    prediction_table,
    roc_figure,
)
from spinetumor.data.participants import read_participants
from spinetumor.evaluation.per_case import write_tsv
from spinetumor.evaluation.writers import to_latex_booktabs, to_markdown, to_tsv

__all__ = ["MODEL", "classify_split", "classification_tables", "feature_table", "task_classes", "task_counts"]

logger = logging.getLogger(__name__)

#: The name of the feature classifier in the tables.
MODEL = "features"

PathLike = str | os.PathLike[str]


def feature_table(units: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per unit: ``unit, participant, role, source`` and :data:`FEATURES`.

    Args:
        units: ``unit``, ``participant``, ``role`` (train, val, test), ``source``
            (``reference`` or the segmentation model) and the files ``dseg``,
            ``T2w``, ``T1w``, ``cord``.
    """
    rows = []
    for u in units:
        try:
            features = lesion_features({k: nib.load(u[k]) for k in ("dseg", "T2w", "T1w", "cord")})
        except ValueError as exc:
            raise ValueError(f"{u['unit']}: features from {u['dseg']}: {exc}") from exc
        rows.append({k: u[k] for k in ("unit", "participant", "role", "source")} | features)
    return pd.DataFrame(rows, columns=["unit", "participant", "role", "source", *FEATURES])


def _task_predictions(
    name: str,
    task: Mapping[str, Any],
    features: pd.DataFrame,
    classes_of: Mapping[str, Any],
    split: int,
    seed: int,
) -> list[dict[str, Any]]:
    """One task's test predictions on one split (none, with a warning, when a class has no training unit)."""
    classes = list(task["classes"])
    labelled = features.assign(true_class=features["participant"].map(lambda p: classes_of.get(p)))
    labelled = labelled[labelled["true_class"].isin(classes)]
    train, test = labelled[labelled["role"] != "test"], labelled[labelled["role"] == "test"]
    try:
        model = fit_baseline(train, classes, seed)
    except ValueError as exc:
        logger.warning(
            "task %s, split %d: %s; no prediction for its %d test units", name, split, exc, len(test)
        )
        return []
    prob = predict_baseline(model, test, classes) if len(test) else []
    return [
        {
            "task": name,
            "model": MODEL,
            "split": split,
            "subject": row.unit,
            "participant": row.participant,
            "true_class": row.true_class,
            **{f"p_{c}": float(p) for c, p in zip(classes, prob[i], strict=True)},
        }
        for i, row in enumerate(test.itertuples(index=False))
    ]


def task_classes(
    tasks: Mapping[str, Mapping[str, Any]], participants_tsv: PathLike
) -> dict[str, dict[str, Any]]:
    """Each task's column of ``participants.tsv``: participant ID to value (a missing column: none)."""
    table = read_participants(participants_tsv)
    columns = {task["column"] for task in tasks.values()}
    missing = sorted(columns - set(table.columns))
    if missing:
        logger.warning("%s has no column %s: the tasks on it have no subject", participants_tsv, missing)
    return {c: table[c].dropna().to_dict() for c in columns if c in table.columns}


def classify_split(
    tasks: Mapping[str, Mapping[str, Any]],
    split: int,
    units: Sequence[Mapping[str, Any]],
    participants_tsv: PathLike,
    out_features: PathLike,
    out_predictions: PathLike,
    seed: int = 0,
) -> pd.DataFrame:
    """The feature classifier of every task on one split.

    Args:
        tasks: Task name to ``column`` (of ``participants.tsv``) and ``classes``.
        split: The split.
        units: The split's units (:func:`feature_table`).
        participants_tsv: The participants table (the tasks' columns).
        out_features: Destination of the feature table.
        out_predictions: Destination of the test predictions: :data:`PREDICTION_COLUMNS`
            and one ``p_<class>`` column per class of any task.
        seed: The classifier's seed.
    """
    classes = task_classes(tasks, participants_tsv)
    features = feature_table(units)
    write_tsv(features, out_features)
    rows = []
    for name, task in tasks.items():
        rows += _task_predictions(name, task, features, classes.get(task["column"], {}), split, seed)
    table = prediction_table(rows)
    write_tsv(table, out_predictions)
    return table


def task_counts(
    tasks: Mapping[str, Mapping[str, Any]], participants_tsv: PathLike, unit_participants: Mapping[str, str]
) -> dict[str, dict[str, int]]:
    """Per task, the study's units whose class is one of its classes (``included``) and the others (``left_out``)."""
    classes = task_classes(tasks, participants_tsv)
    counts = {}
    for name, task in tasks.items():
        of = classes.get(task["column"], {})
        included = sum(of.get(p) in task["classes"] for p in unit_participants.values())
        counts[name] = {"included": included, "left_out": len(unit_participants) - included}
    return counts


def classification_tables(
    tasks: Mapping[str, Mapping[str, Any]],
    predictions: Sequence[PathLike],
    participants_tsv: PathLike,
    unit_participants: Mapping[str, str],
    outs: Mapping[str, PathLike],
    models: Sequence[str] = (),
    n_boot: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """``classification_metrics.tsv``, the paper's table (TSV, LaTeX, Markdown), ROC and confusion figures,
    and ``classification_comparison.tsv``.

    Args:
        tasks: As for :func:`classify_split`.
        predictions: Every split's prediction table of every classifier.
        participants_tsv: The participants table.
        unit_participants: Every unit of the study to its participant (:func:`task_counts`).
        outs: ``metrics``, ``table_tsv``, ``table_tex``, ``table_md``,
            ``roc_png``, ``roc_pdf``, ``confusion_png``, ``confusion_pdf``, ``comparison``.
        models: The classifiers that ran: each has its rows in the paper's table and the comparison,
            ``n/a`` where it predicted nothing (none: those with predictions).
        n_boot: Bootstrap resamples of the intervals.
        seed: Their seed.
    """
    frames = [pd.read_csv(p, sep="\t", na_values=["n/a"], keep_default_na=False) for p in predictions]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(PREDICTION_COLUMNS))
    metrics = metrics_table(tasks, table, n_boot=n_boot, seed=seed)
    write_tsv(metrics, outs["metrics"])
    paper = paper_table(tasks, metrics, task_counts(tasks, participants_tsv, unit_participants), models)
    to_tsv(paper, outs["table_tsv"])
    to_latex_booktabs(paper, outs["table_tex"])
    to_markdown(paper, outs["table_md"])
    roc_figure(tasks, table, outs["roc_png"], outs["roc_pdf"], n_boot=n_boot, seed=seed)
    confusion_figure(tasks, table, outs["confusion_png"], outs["confusion_pdf"])
    write_tsv(comparison_table(tasks, table, models, n_boot=n_boot, seed=seed), outs["comparison"])
    return metrics
