"""Classification tables: per split and pooled metrics with intervals, the paper's layout, the figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spinetumor.classification.metrics import classification_scores, delong_ci, one_vs_rest_auc
from spinetumor.classification.tables import (
    METRIC_COLUMNS,
    confusion_figure,
    metrics_table,
    paper_table,
    roc_figure,
)

TASKS = {
    "type3": {"column": "pathology", "classes": ["astrocytoma", "ependymoma", "hemangioblastoma"]},
    "ae": {"column": "pathology", "classes": ["astrocytoma", "ependymoma"]},
}


def _predictions(seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for split in (0, 1):
        for i, true in enumerate(["astrocytoma", "ependymoma", "hemangioblastoma"] * 4):
            p = rng.dirichlet([1, 1, 1]) + 0.5 * (np.arange(3) == i % 3)
            p /= p.sum()
            base = {
                "model": "features",
                "split": split,
                "subject": f"sub-{split}{i}",
                "participant": f"sub-{split}{i}",
            }
            rows.append(
                {
                    **base,
                    "task": "type3",
                    "true_class": true,
                    "p_astrocytoma": p[0],
                    "p_ependymoma": p[1],
                    "p_hemangioblastoma": p[2],
                }
            )
            if true != "hemangioblastoma":
                q = p[0] / (p[0] + p[1])
                rows.append(
                    {**base, "task": "ae", "true_class": true, "p_astrocytoma": q, "p_ependymoma": 1 - q}
                )
    return pd.DataFrame(rows)


def test_pooled_rows_are_the_metrics_of_every_split_together():
    table = _predictions()
    metrics = metrics_table(TASKS, table, n_boot=200)
    assert list(metrics.columns) == list(METRIC_COLUMNS)
    assert set(metrics["split"].astype(str)) == {"0", "1", "pooled"}
    ae = table[table.task == "ae"]
    y, prob = ae.true_class.to_numpy(object), ae[["p_astrocytoma", "p_ependymoma"]].to_numpy()
    pooled = metrics[(metrics.task == "ae") & (metrics.split.astype(str) == "pooled")].set_index("metric")
    for metric, value in classification_scores(y, prob, TASKS["ae"]["classes"]).items():
        assert pooled.at[metric, "value"] == pytest.approx(value)
    # A two-class AUC's interval is DeLong's.
    low, high = delong_ci(y == "astrocytoma", prob[:, 0])
    assert (pooled.at["auc", "ci_low"], pooled.at["auc", "ci_high"]) == pytest.approx((low, high))
    # A three-class task adds each class against the others.
    t3 = table[table.task == "type3"]
    prob3 = t3[["p_astrocytoma", "p_ependymoma", "p_hemangioblastoma"]].to_numpy()
    ovr = one_vs_rest_auc(t3.true_class.to_numpy(object), prob3, TASKS["type3"]["classes"])
    rows = metrics[(metrics.task == "type3") & (metrics.split.astype(str) == "pooled")].set_index("metric")
    assert rows.at["auc_astrocytoma", "value"] == pytest.approx(ovr["astrocytoma"])
    assert (rows["ci_low"] <= rows["value"]).all() and (rows["value"] <= rows["ci_high"]).all()


def test_the_paper_table_and_a_task_without_predictions(tmp_path):
    table = _predictions()
    metrics = metrics_table(TASKS, table, n_boot=200)
    counts = {"type3": {"included": 24, "left_out": 0}, "ae": {"included": 16, "left_out": 8}}
    paper = paper_table({**TASKS, "none": {"column": "x", "classes": ["a", "b"]}}, metrics, counts)
    assert list(paper.columns) == [
        "task",
        "model",
        "subjects",
        "left out",
        "accuracy",
        "sensitivity",
        "specificity",
        "auc",
    ]
    ae = paper[paper.task.str.startswith("ae ")].iloc[0]
    pooled = metrics[(metrics.task == "ae") & (metrics.split.astype(str) == "pooled")].set_index("metric")
    low, high = pooled.at["auc", "ci_low"], pooled.at["auc", "ci_high"]
    assert ae["auc"] == f"{100 * pooled.at['auc', 'value']:.1f} ({100 * low:.1f}–{100 * high:.1f})"
    assert (ae["subjects"], ae["left out"]) == (16, 8) and ae["task"] == "ae (astrocytoma vs ependymoma)"
    none = paper[paper.task.str.startswith("none")].iloc[0]
    assert none["model"] == "n/a" and none["auc"] == "n/a" and none["subjects"] == 0
    listed = paper_table(TASKS, metrics, counts, ["features", "zhuo2022"])
    assert list(listed.model) == ["features", "zhuo2022"] * 2  # one row per task and model that ran
    assert (listed[listed.model == "zhuo2022"].auc == "n/a").all()
    roc_figure(TASKS, table, tmp_path / "roc.png", tmp_path / "roc.pdf", n_boot=50)
    confusion_figure(TASKS, table, tmp_path / "c.png", tmp_path / "c.pdf")
    # A second model that predicted one task only, its table without the other task's class columns.
    ae_only = table[table.task == "ae"].assign(model="zhuo2022").drop(columns="p_hemangioblastoma")
    both = pd.concat([table[table.task == "ae"].drop(columns="p_hemangioblastoma"), ae_only])
    roc_figure(TASKS, both, tmp_path / "roc2.png", tmp_path / "roc2.pdf", n_boot=50)
    confusion_figure(TASKS, both, tmp_path / "c2.png", tmp_path / "c2.pdf")
    assert (tmp_path / "roc2.png").stat().st_size > 0
    empty = table.iloc[:0]
    confusion_figure(TASKS, empty, tmp_path / "e.png", tmp_path / "e.pdf")
    for name in ("roc", "c", "e"):
        assert (tmp_path / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
