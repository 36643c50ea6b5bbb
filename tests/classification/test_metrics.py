"""Classification metrics and their intervals against hand-computed values, scikit-learn, and DeLong's definition."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import recall_score, roc_auc_score

from spinetumor.classification.metrics import (
    bootstrap_ci,
    classification_scores,
    confusion,
    delong_ci,
    delong_test,
    delong_variance,
)

CLASSES = ["astrocytoma", "ependymoma"]


def test_two_classes_by_hand():
    # Astrocytoma (the first class) is positive. Probabilities of astrocytoma: 0.9, 0.4 for the two
    # astrocytomas, 0.6, 0.1 for the two ependymomas: one of each class right at 0.5.
    y = ["astrocytoma", "astrocytoma", "ependymoma", "ependymoma"]
    astro = np.array([0.9, 0.4, 0.6, 0.1])
    prob = np.stack([astro, 1 - astro], axis=1)
    scores = classification_scores(y, prob, CLASSES)
    # AUC: 3 of the 4 (astrocytoma, ependymoma) pairs ranked right.
    assert scores == {"accuracy": 0.5, "sensitivity": 0.5, "specificity": 0.5, "auc": 0.75}
    assert confusion(y, prob, CLASSES).tolist() == [[1, 1], [1, 1]]


def test_three_classes_match_scikit_learn():
    rng = np.random.default_rng(3)
    classes = ["astrocytoma", "ependymoma", "hemangioblastoma"]
    y = np.array(classes * 10, dtype=object)
    prob = rng.dirichlet([1, 1, 1], size=len(y)) + 0.6 * (y[:, None] == np.array(classes)[None])
    prob /= prob.sum(axis=1, keepdims=True)
    scores = classification_scores(y, prob, classes)
    predicted = np.array(classes, dtype=object)[prob.argmax(axis=1)]
    assert scores["accuracy"] == pytest.approx(np.mean(predicted == y))
    assert scores["sensitivity"] == pytest.approx(recall_score(y, predicted, labels=classes, average="macro"))
    specificity = [recall_score(y != c, predicted != c) for c in classes]  # one-vs-rest true-negative rate
    assert scores["specificity"] == pytest.approx(np.mean(specificity))
    assert scores["auc"] == pytest.approx(roc_auc_score(y, prob, multi_class="ovr", labels=classes))


def test_undefined_metrics_are_nan_and_bad_input_is_named():
    prob = np.array([[0.8, 0.2], [0.3, 0.7]])
    scores = classification_scores(["ependymoma", "ependymoma"], prob, CLASSES)
    assert math.isnan(scores["sensitivity"]) and math.isnan(scores["auc"]) and scores["specificity"] == 0.5
    with pytest.raises(ValueError, match=r"true classes \['glioma'\] are not among"):
        classification_scores(["glioma", "ependymoma"], prob, CLASSES)
    with pytest.raises(ValueError, match=r"probabilities of shape \(2, 2\) for 3 subjects"):
        classification_scores(["ependymoma"] * 3, prob, CLASSES)


def _delong_by_definition(y, scores):
    """DeLong's variance from its O(m n) definition: psi over every (positive, negative) pair."""
    pos, neg = scores[y], scores[~y]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    return psi.mean(), np.var(v10, ddof=1) / len(pos) + np.var(v01, ddof=1) / len(neg)


def test_delong_matches_its_definition_with_ties():
    rng = np.random.default_rng(0)
    y = rng.random(60) < 0.4
    scores = np.round(rng.random(60) + 0.5 * y, 1)  # rounded: many ties
    auc, variance = delong_variance(y, scores)
    expected_auc, expected_variance = _delong_by_definition(y, scores)
    assert auc == pytest.approx(expected_auc) == pytest.approx(roc_auc_score(y, scores))
    assert variance == pytest.approx(expected_variance)
    low, high = delong_ci(y, scores)
    assert low == pytest.approx(auc - 1.959964 * math.sqrt(variance), abs=1e-6) and high <= 1


def test_delong_test_of_two_classifiers():
    rng = np.random.default_rng(1)
    y = rng.random(80) < 0.5
    good = rng.random(80) + 1.5 * y
    poor = rng.random(80) + 0.2 * y
    same = delong_test(y, good, good)
    assert same["z"] == 0 and same["p"] == 1 and same["auc_diff"] == 0
    result = delong_test(y, good, poor)
    assert result["auc_a"] == pytest.approx(roc_auc_score(y, good)) and result["auc_diff"] > 0.2
    assert result["p"] < 0.001 and delong_test(y, poor, good)["z"] == pytest.approx(-result["z"])
    with pytest.raises(ValueError, match="needs positive and negative subjects"):
        delong_test(np.ones(5, bool), good[:5], poor[:5])


def test_bootstrap_intervals_are_seeded_and_hold_the_estimate():
    rng = np.random.default_rng(2)
    y = np.array(CLASSES * 20, dtype=object)
    astro = np.clip(rng.normal(0.5, 0.2, len(y)) + 0.25 * (y == "astrocytoma"), 0, 1)
    prob = np.stack([astro, 1 - astro], axis=1)
    scores = classification_scores(y, prob, CLASSES)
    ci = bootstrap_ci(y, prob, CLASSES, n_boot=500, seed=7)
    assert ci == bootstrap_ci(y, prob, CLASSES, n_boot=500, seed=7)
    for metric, (low, high) in ci.items():
        assert low <= scores[metric] <= high and high - low < 0.5, metric
    # The bootstrap AUC interval is close to DeLong's on the same subjects.
    delong = delong_ci(y == "astrocytoma", astro)
    assert ci["auc"] == pytest.approx(delong, abs=0.05)
