"""The paired comparison of two classifiers' AUCs on the same test subjects (torch-free).

For every task and pair of models, the pooled test predictions of the two
are joined on split and subject (each test subject once per split, as in the
pooled metrics), and the AUC difference ``auc_a - auc_b`` gets a 95 %
interval and a two-sided p-value:

* two classes: DeLong's paired test (:func:`~spinetumor.classification.metrics.delong_test`,
  the first class's probability), interval ``difference ± 1.96 SE``;
* more classes: a seeded paired bootstrap of the macro one-vs-rest AUC
  (resampling the joined subjects, both models' scores together), the
  percentile interval of the resampled differences, and as p-value twice the
  smaller share of resampled differences on either side of zero (at most 1).

A pair whose joined subjects lack a class has NaN values.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from spinetumor.classification.metrics import classification_scores, delong_test

__all__ = ["COMPARISON_COLUMNS", "comparison_table", "paired_bootstrap"]

#: The columns of ``classification_comparison.tsv``.
COMPARISON_COLUMNS: tuple[str, ...] = (
    "task", "model_a", "model_b", "n", "auc_a", "auc_b", "difference", "ci_low", "ci_high", "p_value", "method",
)  # fmt: skip


def paired_bootstrap(
    y: np.ndarray,
    prob_a: np.ndarray,
    prob_b: np.ndarray,
    classes: Sequence[Any],
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, float]:
    """The macro AUCs of two models on the same subjects, their difference, its interval and p-value.

    Resamples where a class is missing are left out; fewer than half defined gives NaN interval and p.
    """
    auc_a, auc_b = (classification_scores(y, p, classes)["auc"] for p in (prob_a, prob_b))
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        d = (
            classification_scores(y[idx], prob_a[idx], classes)["auc"]
            - classification_scores(y[idx], prob_b[idx], classes)["auc"]
        )
        if not math.isnan(d):
            draws.append(d)
    out = {"auc_a": auc_a, "auc_b": auc_b, "difference": auc_a - auc_b}
    if len(draws) < n_boot / 2:
        return out | {"ci_low": math.nan, "ci_high": math.nan, "p_value": math.nan}
    d = np.asarray(draws)
    alpha = (1 - level) / 2
    p = min(1.0, 2 * min(float(np.mean(d <= 0)), float(np.mean(d >= 0))))
    return out | {
        "ci_low": float(np.quantile(d, alpha)),
        "ci_high": float(np.quantile(d, 1 - alpha)),
        "p_value": p,
    }


def _delong(
    y: np.ndarray, prob_a: np.ndarray, prob_b: np.ndarray, classes: Sequence[Any]
) -> dict[str, float]:
    positive = y == classes[0]
    if positive.all() or not positive.any():
        return {}
    test = delong_test(positive, prob_a[:, 0], prob_b[:, 0])
    half = stats.norm.ppf(0.975) * test["se"]
    return {
        "auc_a": test["auc_a"], "auc_b": test["auc_b"], "difference": test["auc_diff"],
        "ci_low": test["auc_diff"] - half, "ci_high": test["auc_diff"] + half, "p_value": test["p"],
    }  # fmt: skip


def _pair_row(
    name: str,
    classes: list[str],
    models: tuple[str, ...],
    a: pd.DataFrame,
    b: pd.DataFrame,
    n_boot: int,
    seed: int,
) -> dict[str, Any]:
    columns = [f"p_{c}" for c in classes]
    joined = a.merge(b, on=["split", "subject"], suffixes=("_a", "_b"), validate="one_to_one")
    y = joined["true_class_a"].to_numpy(dtype=object)
    prob_a = joined.reindex(columns=[f"{c}_a" for c in columns]).to_numpy(dtype=float)
    prob_b = joined.reindex(columns=[f"{c}_b" for c in columns]).to_numpy(dtype=float)
    two = len(classes) == 2
    method = "delong" if two else f"paired bootstrap of the macro AUC ({n_boot})"
    values: dict[str, float] = {}
    if len(y) and set(y) == set(classes):
        values = (
            _delong(y, prob_a, prob_b, classes)
            if two
            else paired_bootstrap(y, prob_a, prob_b, classes, n_boot=n_boot, seed=seed)
        )
    row = {
        "task": name,
        "model_a": models[0],
        "model_b": models[1],
        "n": len(y),
        "method": method,
    }
    return row | {k: values.get(k, math.nan) for k in COMPARISON_COLUMNS[4:10]}


def comparison_table(
    tasks: Mapping[str, Mapping[str, Any]],
    table: pd.DataFrame,
    models: Sequence[str] = (),
    *,
    n_boot: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """:data:`COMPARISON_COLUMNS`: every task and pair of ``models`` (in that order; none: the models with
    predictions of the task, sorted); a model without a prediction of a task pairs with ``n`` 0 and NaN."""
    rows = []
    for name, task in tasks.items():
        mine = table[table["task"] == name]
        for pair in itertools.combinations(list(models) or sorted(set(mine["model"])), 2):
            a, b = (mine[mine["model"] == m] for m in pair)
            rows.append(_pair_row(name, list(task["classes"]), pair, a, b, n_boot, seed))
    return pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))
