"""The paired comparison of two classifiers' AUCs on the same test subjects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from spinetumor.classification.comparison import COMPARISON_COLUMNS, comparison_table, paired_bootstrap
from spinetumor.classification.metrics import delong_test

TYPES = ["astrocytoma", "ependymoma", "hemangioblastoma"]
TASKS = {
    "ae": {"column": "pathology", "classes": TYPES[:2]},
    "type3": {"column": "pathology", "classes": TYPES},
}


def _predictions(model, y, prob, task, split=0):
    rows = pd.DataFrame(
        {"task": task, "model": model, "split": split, "subject": [f"sub-{i:02d}" for i in range(len(y))]}
    )
    rows["participant"], rows["true_class"] = rows["subject"], y
    classes = TASKS[task]["classes"]
    return rows.assign(**{f"p_{c}": prob[:, k] for k, c in enumerate(classes)})


def _two_class(rng, n=30, noise=1.0):
    y = np.array(TYPES[:2] * (n // 2), dtype=object)
    score = (y == TYPES[0]) + rng.normal(0, noise, n)
    p = 1 / (1 + np.exp(-score))
    return y, np.column_stack([p, 1 - p])


def test_identical_classifiers_differ_by_zero_with_p_one():
    rng = np.random.default_rng(0)
    y, prob = _two_class(rng)
    y3 = np.array(TYPES * 10, dtype=object)
    prob3 = rng.dirichlet([1, 1, 1], 30)
    table = pd.concat(
        [_predictions(m, y, prob, "ae") for m in ("features", "zhuo2022")]
        + [_predictions(m, y3, prob3, "type3") for m in ("features", "zhuo2022")]
    )
    out = comparison_table(TASKS, table, n_boot=200).set_index("task")
    assert list(out.reset_index().columns) == list(COMPARISON_COLUMNS)
    assert (out.model_a == "features").all() and (out.model_b == "zhuo2022").all() and (out.n == 30).all()
    assert (out.difference == 0).all() and (out.p_value == 1).all()
    assert out.loc["ae", "auc_a"] == pytest.approx(roc_auc_score(y == TYPES[0], prob[:, 0]))
    assert out.loc["ae", "method"] == "delong" and out.loc["type3", "method"].startswith("paired bootstrap")
    assert out.loc["type3", "auc_a"] == pytest.approx(roc_auc_score(list(y3), prob3, multi_class="ovr"))


def test_two_classes_are_delongs_paired_test_on_the_subjects_both_predicted():
    rng = np.random.default_rng(1)
    y, good = _two_class(rng, noise=0.5)
    _, poor = _two_class(rng, noise=3.0)
    a = _predictions("features", y, poor, "ae")
    b = _predictions("zhuo2022", y, good, "ae").iloc[:-4]  # four subjects without a deep prediction
    row = comparison_table(TASKS, pd.concat([a, b])).iloc[0]
    expected = delong_test(y[:-4] == TYPES[0], poor[:-4, 0], good[:-4, 0])
    assert (
        row.n == 26
        and row.difference == pytest.approx(expected["auc_diff"])
        and row.p_value == pytest.approx(expected["p"])
    )
    assert row.ci_low == pytest.approx(expected["auc_diff"] - 1.959964 * expected["se"], abs=1e-6)
    assert row.ci_low < row.difference < row.ci_high


def test_the_same_subject_in_two_splits_is_paired_per_split():
    rng = np.random.default_rng(2)
    y, prob = _two_class(rng, n=10)
    table = pd.concat(
        [_predictions(m, y, prob, "ae", split=k) for m in ("features", "zhuo2022") for k in (0, 1)]
    )
    assert comparison_table({"ae": TASKS["ae"]}, table).iloc[0].n == 20


def test_paired_bootstrap_finds_a_clear_difference_and_is_seeded():
    rng = np.random.default_rng(3)
    y = np.array(TYPES * 20, dtype=object)
    onehot = np.stack([(y == c).astype(float) for c in TYPES], axis=1)
    good = 0.6 * onehot + 0.4 * rng.dirichlet([1, 1, 1], 60)
    poor = rng.dirichlet([1, 1, 1], 60)
    result = paired_bootstrap(y, good, poor, TYPES, n_boot=300, seed=4)
    assert result["difference"] > 0.3 and 0 < result["ci_low"] < result["difference"] < result["ci_high"]
    assert result["p_value"] < 0.01 and result == paired_bootstrap(y, good, poor, TYPES, n_boot=300, seed=4)


def test_a_pair_without_both_classes_has_no_values():
    y = np.array([TYPES[0]] * 4, dtype=object)
    prob = np.tile([0.7, 0.3], (4, 1))
    table = pd.concat([_predictions(m, y, prob, "ae") for m in ("features", "zhuo2022")])
    row = comparison_table({"ae": TASKS["ae"]}, table).iloc[0]
    assert row.n == 4 and np.isnan(row.difference) and np.isnan(row.p_value)


def test_a_classifier_that_predicted_nothing_still_has_its_rows():
    rng = np.random.default_rng(5)
    y, prob = _two_class(rng)
    out = comparison_table(TASKS, _predictions("features", y, prob, "ae"), ["features", "zhuo2022"])
    assert list(out.task) == ["ae", "type3"] and (out.n == 0).all() and out.auc_a.isna().all()
