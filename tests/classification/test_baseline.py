"""The feature classifier: learns separable classes, refuses a task with a class it never saw."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spinetumor.classification.baseline import fit_baseline, predict_baseline
from spinetumor.classification.features import FEATURES


def _features(n, seed):
    rng = np.random.default_rng(seed)
    classes = np.array(["astrocytoma", "ependymoma", "hemangioblastoma"])[np.arange(n) % 3]
    table = pd.DataFrame(rng.normal(size=(n, len(FEATURES))), columns=list(FEATURES))
    table["t1w_enhancement"] = np.select(
        [classes == "astrocytoma", classes == "ependymoma"], [1.2, 1.9], 2.5
    ) + 0.05 * rng.normal(size=n)
    table.loc[::5, "t2w_ratio"] = np.nan  # a ratio without tumour core: imputed
    return table.assign(true_class=classes)


def test_the_classifier_learns_the_enhancement_and_orders_its_columns():
    classes = ["hemangioblastoma", "astrocytoma", "ependymoma"]
    model = fit_baseline(_features(60, 0), classes)
    test = _features(30, 1)
    prob = predict_baseline(model, test, classes)
    assert prob.shape == (30, 3) and np.allclose(prob.sum(axis=1), 1)
    assert np.mean(np.array(classes)[prob.argmax(axis=1)] == test.true_class) > 0.9


def test_a_class_without_training_subject_is_refused():
    train = _features(30, 0)
    with pytest.raises(ValueError, match=r"no training subject of class \['glioma'\]"):
        fit_baseline(train, ["astrocytoma", "glioma"])
