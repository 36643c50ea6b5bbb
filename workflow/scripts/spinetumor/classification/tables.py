"""Classification tables and figures from the test predictions of every split.

The long table ``classification_metrics.tsv`` has one row per task, model,
split (and ``pooled``: every split's test subjects together, each tested
once) and metric (:data:`spinetumor.classification.metrics.METRICS`), with a
95 % interval: DeLong's for a two-class AUC, a seeded bootstrap over
subjects otherwise. A task of more classes also gets each class's AUC
against the others (``auc_<class>``, DeLong's interval). The paper's table
has one row per task and the pooled metrics as ``value (low–high)`` in %,
with the subjects included and left out. Figures: the pooled ROC curves with a bootstrap band (a row of
panels per model), and the pooled confusion matrices.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

from spinetumor.classification.metrics import (
    METRICS,
    bootstrap_ci,
    classification_scores,
    confusion,
    delong_ci,
    one_vs_rest_auc,
)
from spinetumor.evaluation.figures import new_figure, save_figure

__all__ = [
    "METRIC_COLUMNS",
    "PREDICTION_COLUMNS",
    "confusion_figure",
    "metrics_table",
    "paper_table",
    "prediction_table",
    "roc_figure",
]

#: The columns of a split's prediction table before the class probabilities (``p_<class>``).
PREDICTION_COLUMNS: tuple[str, ...] = ("task", "model", "split", "subject", "participant", "true_class")


def prediction_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A split's prediction table: :data:`PREDICTION_COLUMNS`, then every row's ``p_<class>`` columns, sorted."""
    probability_columns = sorted({k for row in rows for k in row if k.startswith("p_")})
    return pd.DataFrame(rows, columns=[*PREDICTION_COLUMNS, *probability_columns])


#: The columns of ``classification_metrics.tsv``.
METRIC_COLUMNS: tuple[str, ...] = ("task", "model", "split", "metric", "value", "ci_low", "ci_high")

PathLike = str | os.PathLike[str]


def _task_rows(table: pd.DataFrame, name: str, classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    rows = table[table["task"] == name]
    # reindex: a table without any prediction of a task lacks the columns of its classes
    prob = rows.reindex(columns=[f"p_{c}" for c in classes]).to_numpy(dtype=float)
    return rows["true_class"].to_numpy(dtype=object), prob


def _metric_rows(
    name: str,
    model: str,
    split: Any,
    y: np.ndarray,
    prob: np.ndarray,
    classes: list[str],
    n_boot: int,
    seed: int,
) -> list[dict[str, Any]]:
    scores = classification_scores(y, prob, classes)
    ci = bootstrap_ci(y, prob, classes, n_boot=n_boot, seed=seed)
    positive = y == classes[0]
    if len(classes) == 2 and positive.any() and not positive.all():
        ci["auc"] = delong_ci(positive, prob[:, 0])
    if len(classes) > 2:  # each class against the others, with DeLong's interval
        for k, (cls, auc) in enumerate(one_vs_rest_auc(y, prob, classes).items()):
            scores[f"auc_{cls}"] = auc
            ci[f"auc_{cls}"] = (math.nan,) * 2 if math.isnan(auc) else delong_ci(y == cls, prob[:, k])
    return [
        {
            "task": name,
            "model": model,
            "split": split,
            "metric": m,
            "value": value,
            "ci_low": ci[m][0],
            "ci_high": ci[m][1],
        }
        for m, value in scores.items()
    ]


def metrics_table(
    tasks: Mapping[str, Mapping[str, Any]], table: pd.DataFrame, *, n_boot: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """:data:`METRIC_COLUMNS`: every task, model and split with test predictions, and ``pooled``."""
    rows = []
    for name, task in tasks.items():
        classes = list(task["classes"])
        for model in sorted(set(table.loc[table["task"] == name, "model"])):
            mine = table[(table["task"] == name) & (table["model"] == model)]
            for split in sorted(set(mine["split"])):
                y, prob = _task_rows(mine[mine["split"] == split], name, classes)
                rows += _metric_rows(name, model, int(split), y, prob, classes, n_boot, seed)
            y, prob = _task_rows(mine, name, classes)
            rows += _metric_rows(name, model, "pooled", y, prob, classes, n_boot, seed)
    return pd.DataFrame(rows, columns=list(METRIC_COLUMNS))


def _cell(row: pd.Series) -> str:
    if math.isnan(row["value"]):
        return "n/a"
    low, high = row["ci_low"], row["ci_high"]
    interval = "" if math.isnan(low) else f" ({100 * low:.1f}–{100 * high:.1f})"
    return f"{100 * row['value']:.1f}{interval}"


def paper_table(
    tasks: Mapping[str, Mapping[str, Any]],
    metrics: pd.DataFrame,
    counts: Mapping[str, Mapping[str, int]],
    models: Sequence[str] = (),
) -> pd.DataFrame:
    """Rows: task and model; columns: subjects included and left out, then each pooled metric in %
    with its 95 % interval.

    Args:
        models: The models to list for every task, with ``n/a`` where one has no prediction; none: the
            models with metrics of that task (``n/a`` when there is none).
    """
    pooled = metrics[metrics["split"].astype(str) == "pooled"]
    rows = []
    for name, task in tasks.items():
        listed = list(models) or sorted(set(pooled.loc[pooled["task"] == name, "model"])) or ["n/a"]
        for model in listed:
            mine = pooled[(pooled["task"] == name) & (pooled["model"] == model)].set_index("metric")
            row = {
                "task": f"{name} ({' vs '.join(task['classes'])})",
                "model": model,
                "subjects": counts.get(name, {}).get("included", 0),
                "left out": counts.get(name, {}).get("left_out", 0),
            }
            row.update({m: _cell(mine.loc[m]) if m in mine.index else "n/a" for m in METRICS})
            rows.append(row)
    return pd.DataFrame(rows)


def _roc_band(
    y: np.ndarray, score: np.ndarray, n_boot: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A bootstrap 95 % band of the true-positive rate on a grid of false-positive rates."""
    grid = np.linspace(0, 1, 101)
    rng = np.random.default_rng(seed)
    curves = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        if y[idx].all() or not y[idx].any():
            continue
        fpr, tpr, _ = roc_curve(y[idx], score[idx])
        curves.append(np.interp(grid, fpr, tpr))
    if not curves:
        return grid, np.full_like(grid, np.nan), np.full_like(grid, np.nan)
    return grid, np.quantile(curves, 0.025, axis=0), np.quantile(curves, 0.975, axis=0)


def _roc_panel(ax: Any, y: np.ndarray, prob: np.ndarray, classes: list[str], n_boot: int, seed: int) -> None:
    """Each class's one-vs-rest ROC (the first class only for two) with its bootstrap band."""
    for k, cls in enumerate(classes[:1] if len(classes) == 2 else classes):
        positive = y == cls
        if positive.all() or not positive.any():
            continue
        fpr, tpr, _ = roc_curve(positive, prob[:, k])
        grid, low, high = _roc_band(positive, prob[:, k], min(n_boot, 200), seed)
        (line,) = ax.plot(fpr, tpr, label=cls)
        ax.fill_between(grid, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1)
    ax.set(xlabel="1 − specificity", ylabel="sensitivity", xlim=(0, 1), ylim=(0, 1))
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="x-small", loc="lower right")


def roc_figure(
    tasks: Mapping[str, Mapping[str, Any]],
    table: pd.DataFrame,
    out_png: PathLike,
    out_pdf: PathLike,
    *,
    n_boot: int = 2000,
    seed: int = 0,
) -> None:
    """A panel per task (columns) and model (rows): each class's one-vs-rest ROC (the first class only
    for two), pooled over the splits, with a bootstrap band."""
    models = sorted(set(table["model"])) or ["no prediction"]
    fig = new_figure(3.6 * max(1, len(tasks)), 3.6 * len(models))
    axes = fig.subplots(len(models), max(1, len(tasks)), squeeze=False)
    for row, model in zip(axes, models):
        for ax, (name, task) in zip(row, tasks.items()):
            classes = list(task["classes"])
            y, prob = _task_rows(table[table["model"] == model], name, classes)
            _roc_panel(ax, y, prob, classes, n_boot, seed)
            ax.set_title(f"{name}\n{model}", fontsize="medium")
    save_figure(fig, out_png, out_pdf)


def confusion_figure(
    tasks: Mapping[str, Mapping[str, Any]], table: pd.DataFrame, out_png: PathLike, out_pdf: PathLike
) -> None:
    """One panel per task and model: the pooled confusion matrix (rows true, columns predicted)."""
    panels = [
        (n, t, m) for n, t in tasks.items() for m in sorted(set(table.loc[table["task"] == n, "model"]))
    ]
    fig = new_figure(3.4 * max(1, len(panels)), 3.4)
    axes = np.atleast_1d(fig.subplots(1, max(1, len(panels))))
    for ax, (name, task, model) in zip(axes, panels):
        classes = list(task["classes"])
        y, prob = _task_rows(table[table["model"] == model], name, classes)
        matrix = confusion(y, prob, classes)
        ax.imshow(matrix, cmap="Blues")
        for (i, j), count in np.ndenumerate(matrix):
            ax.text(j, i, str(count), ha="center", va="center")
        ticks = range(len(classes))
        ax.set(title=f"{name} ({model})", xticks=ticks, yticks=ticks, xlabel="predicted", ylabel="true")
        ax.set_xticklabels([c[:5] for c in classes])
        ax.set_yticklabels([c[:5] for c in classes])
    if not panels:
        axes[0].text(0.5, 0.5, "no test prediction", ha="center", va="center")
    save_figure(fig, out_png, out_pdf)
