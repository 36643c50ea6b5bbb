"""Paired Dice comparison of two models over patients: bootstrap CI of the mean
difference and Wilcoxon signed-rank test, for all patients and per pathology.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd

from spinetumor import LABELS
from spinetumor.evaluation.per_case import model_rows
from spinetumor.evaluation.statistics import bootstrap_ci, wilcoxon_p

__all__ = ["COMPARE_COLUMNS", "compare_models"]


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
    rows = model_rows(per_case, model)
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


def _compare_rows(paired: pd.DataFrame, n_boot: int, seed: int) -> dict[str, float]:
    """Statistics of one group and label; ``paired`` has ``dice_a`` and ``dice_b``."""
    differences = (paired["dice_a"] - paired["dice_b"]).to_numpy(dtype=float)
    low, high = bootstrap_ci(differences, n_boot, seed)
    n = len(differences)
    return {
        "n": n,
        "mean_a": float(paired["dice_a"].mean()) if n else math.nan,
        "mean_b": float(paired["dice_b"].mean()) if n else math.nan,
        "mean_diff": float(differences.mean()) if n else math.nan,
        "ci_low": low,
        "ci_high": high,
        "wilcoxon_p": wilcoxon_p(differences),
    }


def _compared_labels(
    labels: Sequence[str], model_a: str, model_b: str, predicted: Mapping[str, Sequence[str]] | None
) -> Sequence[str]:
    """``labels`` that both models predict (all of them when ``predicted`` is None).

    Raises:
        ValueError: a model is missing from ``predicted``.
    """
    if predicted is None:
        return labels
    for model in (model_a, model_b):
        if model not in predicted:
            raise ValueError(f"model {model}: its predicted labels are not given")
    return [label for label in labels if label in predicted[model_a] and label in predicted[model_b]]


def _paired_dice(per_case: pd.DataFrame, model_a: str, model_b: str) -> pd.DataFrame:
    """Patients with a Dice for both models: ``subject, label, dice_a, dice_b, pathology`` (and ``pathology_b``).

    Raises:
        ValueError: a patient's pathology differs between the two models' rows.
    """
    paired = _subject_dice(per_case, model_a).merge(
        _subject_dice(per_case, model_b), on=["subject", "label"], suffixes=("_a", "_b")
    )
    conflict = paired[paired["pathology_a"].astype(str) != paired["pathology_b"].astype(str)]
    if not conflict.empty:
        raise ValueError(
            f"subject {conflict['subject'].iloc[0]}: pathology differs between model {model_a} and {model_b}"
        )
    return paired.rename(columns={"pathology_a": "pathology"})


def compare_models(
    per_case: pd.DataFrame,
    model_a: str,
    model_b: str,
    labels: Sequence[str] = ("whole", *LABELS),
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
        per_case: Long per-case table (columns :data:`~spinetumor.evaluation.per_case.PER_CASE_COLUMNS`).
        model_a: First model.
        model_b: Second model (differences are ``a - b``).
        labels: Labels to compare, in output order.
        n_boot: Bootstrap resamples for the 95 % percentile interval.
        seed: Seed of the bootstrap generator.
        predicted: Labels each model predicts
            (:func:`spinetumor.models.definitions.predicted_labels`); ``labels`` is cut
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
    labels = _compared_labels(labels, model_a, model_b, predicted)
    paired = _paired_dice(per_case, model_a, model_b)
    pathologies = sorted(map(str, paired["pathology"].dropna().unique()))
    rows = []
    for group in ["all", *pathologies]:
        in_group = paired if group == "all" else paired[paired["pathology"].astype(str) == group]
        for label in labels:
            stats_row = _compare_rows(in_group[in_group["label"] == label], n_boot, seed)
            rows.append({"model_a": model_a, "model_b": model_b, "group": group, "label": label, **stats_row})
    return pd.DataFrame(rows, columns=list(COMPARE_COLUMNS))
