"""The transparent tumour-type classifier: logistic regression on measured lesion features.

scikit-learn's pipeline: missing values (a ratio without tumour core) take
the training subjects' median, features are standardised, and a
multinomial logistic regression (L2, C = 1, classes weighted by their
frequency) is fitted. It has nothing to tune, so it learns from the split's
training and validation subjects together; the split's test subjects are
only predicted.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from spinetumor.classification.features import FEATURES

__all__ = ["fit_baseline", "predict_baseline"]


def fit_baseline(features: pd.DataFrame, classes: Sequence[str], seed: int = 0) -> Pipeline:
    """Fit on ``features`` (:data:`FEATURES` columns and ``true_class``), rows whose class is one of ``classes``.

    Raises:
        ValueError: a class of the task has no training subject.
    """
    rows = features[features["true_class"].isin(classes)]
    missing = [c for c in classes if c not in set(rows["true_class"])]
    if missing:
        raise ValueError(f"no training subject of class {missing}")
    model = make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(C=1.0, class_weight="balanced", max_iter=5000, random_state=seed),
    )
    model.fit(rows[list(FEATURES)].to_numpy(dtype=float), rows["true_class"].to_numpy())
    return model


def predict_baseline(model: Pipeline, features: pd.DataFrame, classes: Sequence[str]) -> np.ndarray:
    """``(rows, classes)`` probabilities, columns in ``classes`` order."""
    prob = model.predict_proba(features[list(FEATURES)].to_numpy(dtype=float))
    order = [list(model.classes_).index(c) for c in classes]
    return prob[:, order]
