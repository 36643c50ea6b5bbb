"""Classification metrics with 95 % confidence intervals, as Zhuo et al. (2022) report them.

Per task (a set of classes, e.g. astrocytoma vs ependymoma), from each test
subject's true class and predicted class probabilities:

* ``accuracy``: the share of subjects whose most probable class is right;
* ``sensitivity`` and ``specificity``: of the *first* class of a two-class
  task (``A vs B``: A is the positive class); with more classes, the mean
  over the classes of each one-vs-rest value (macro average);
* ``auc``: the area under the ROC curve of the first class's probability
  (two classes), or the macro average of the one-vs-rest AUCs (scikit-learn's
  ``roc_auc_score(..., multi_class="ovr")``, computed here by ranks so that the
  bootstrap stays fast; the tests check both against scikit-learn).

Confidence intervals: a seeded percentile bootstrap over subjects for every
metric (:func:`bootstrap_ci`), and for a two-class AUC also DeLong's
(:func:`delong_ci`; DeLong et al. 1988, with the midrank algorithm of Sun &
Xu 2014), which :func:`delong_test` uses to compare two classifiers' AUCs
on the same subjects. DeLong is written here because no maintained package
of the pinned set has it; the tests check it against its O(n·m) definition.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

__all__ = [
    "METRICS",
    "bootstrap_ci",
    "classification_scores",
    "confusion",
    "delong_ci",
    "delong_test",
    "delong_variance",
    "one_vs_rest_auc",
    "rank_auc",
]

#: The metrics of :func:`classification_scores`, in table order.
METRICS: tuple[str, ...] = ("accuracy", "sensitivity", "specificity", "auc")


def _predicted(prob: np.ndarray, classes: Sequence[Any]) -> np.ndarray:
    return np.asarray(classes, dtype=object)[np.argmax(prob, axis=1)]


def _check(y_true: Sequence[Any], prob: np.ndarray, classes: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=object)
    p = np.asarray(prob, dtype=np.float64)
    if p.ndim != 2 or p.shape != (len(y), len(classes)) or len(classes) < 2:
        raise ValueError(
            f"probabilities of shape {p.shape} for {len(y)} subjects and classes {list(classes)}"
        )
    unknown = sorted({str(v) for v in y} - {str(c) for c in classes})
    if unknown:
        raise ValueError(f"true classes {unknown} are not among the task's classes {list(classes)}")
    return y, p


def confusion(y_true: Sequence[Any], prob: np.ndarray, classes: Sequence[Any]) -> np.ndarray:
    """The confusion matrix: rows the true class, columns the predicted one, in ``classes`` order."""
    y, p = _check(y_true, prob, classes)
    return _confusion(_codes(y, classes), p)


def _codes(y: np.ndarray, classes: Sequence[Any]) -> np.ndarray:
    lookup = {str(c): k for k, c in enumerate(classes)}
    return np.array([lookup[str(v)] for v in y], dtype=np.int64)


def _confusion(codes: np.ndarray, p: np.ndarray) -> np.ndarray:
    k = p.shape[1]
    return np.bincount(codes * k + np.argmax(p, axis=1), minlength=k * k).reshape(k, k)


def rank_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """The AUC of ``score`` for the ``positive`` subjects (Mann-Whitney, ties counted half); NaN without
    both positives and negatives. It equals scikit-learn's ``roc_auc_score``, in a fraction of its time
    (the bootstrap calls it thousands of times)."""
    m = int(positive.sum())
    n = len(positive) - m
    if m == 0 or n == 0:
        return math.nan
    ranks = stats.rankdata(score)
    return float((ranks[positive].sum() - m * (m + 1) / 2) / (m * n))


def classification_scores(
    y_true: Sequence[Any], prob: np.ndarray, classes: Sequence[Any]
) -> dict[str, float]:
    """:data:`METRICS` of one task (see the module's definitions).

    Args:
        y_true: Each subject's true class.
        prob: ``(subjects, classes)`` predicted probabilities (rows need not sum to 1).
        classes: The task's classes; the first is the positive class of a two-class task.

    Returns:
        The metrics; a metric undefined on these subjects (no positive, or a
        single class for the AUC) is NaN.
    """
    y, p = _check(y_true, prob, classes)
    return _scores(_codes(y, classes), p)


def _scores(codes: np.ndarray, p: np.ndarray) -> dict[str, float]:
    matrix = _confusion(codes, p)
    n = matrix.sum()
    k_classes = p.shape[1]
    recall, specificity = [], []
    for k in range(k_classes):
        tp, fn = matrix[k, k], matrix[k].sum() - matrix[k, k]
        fp = matrix[:, k].sum() - tp
        tn = n - tp - fn - fp
        recall.append(tp / (tp + fn) if tp + fn else math.nan)
        specificity.append(tn / (tn + fp) if tn + fp else math.nan)
    two = k_classes == 2
    return {
        "accuracy": float(np.trace(matrix) / n) if n else math.nan,
        "sensitivity": float(recall[0] if two else np.mean(recall)),
        "specificity": float(specificity[0] if two else np.mean(specificity)),
        "auc": _auc(codes, p),
    }


def _auc(codes: np.ndarray, p: np.ndarray) -> float:
    """The first class's AUC (two classes), or the macro mean of the one-vs-rest AUCs (NaN if a class is absent)."""
    if p.shape[1] == 2:
        return rank_auc(codes == 0, p[:, 0])
    p = p / p.sum(axis=1, keepdims=True)  # as scikit-learn's one-vs-rest AUC, on rows summing to 1
    aucs = [rank_auc(codes == k, p[:, k]) for k in range(p.shape[1])]
    return math.nan if any(math.isnan(a) for a in aucs) else float(np.mean(aucs))


def one_vs_rest_auc(y_true: Sequence[Any], prob: np.ndarray, classes: Sequence[Any]) -> dict[str, float]:
    """Each class's AUC against the others (its own probability as the score)."""
    y, p = _check(y_true, prob, classes)
    codes = _codes(y, classes)
    return {str(c): rank_auc(codes == k, p[:, k]) for k, c in enumerate(classes)}


def bootstrap_ci(
    y_true: Sequence[Any],
    prob: np.ndarray,
    classes: Sequence[Any],
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap intervals of every metric, resampling subjects with replacement (seeded).

    A resample where a metric is undefined (e.g. one class only, for the AUC)
    is left out of that metric's interval; a metric defined in fewer than half
    of the resamples gets ``(nan, nan)``.
    """
    y, p = _check(y_true, prob, classes)
    codes = _codes(y, classes)
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {m: [] for m in METRICS}
    for _ in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        for metric, value in _scores(codes[idx], p[idx]).items():
            if not math.isnan(value):
                draws[metric].append(value)
    alpha = (1 - level) / 2
    return {
        m: (float(np.quantile(v, alpha)), float(np.quantile(v, 1 - alpha)))
        if len(v) >= n_boot / 2
        else (math.nan,) * 2
        for m, v in draws.items()
    }


def _midrank(x: np.ndarray) -> np.ndarray:
    return stats.rankdata(x, method="average")


def _structural(positive: np.ndarray, negative: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """AUC and DeLong's structural components V10 (per positive) and V01 (per negative)."""
    m, n = len(positive), len(negative)
    both = _midrank(np.concatenate([positive, negative]))
    rank_pos, rank_neg = _midrank(positive), _midrank(negative)
    v10 = (both[:m] - rank_pos) / n
    v01 = 1.0 - (both[m:] - rank_neg) / m
    return float(v10.mean()), v10, v01


def _split(y_positive: Sequence[bool], scores: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_positive, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    if y.all() or not y.any():
        raise ValueError("DeLong's AUC needs positive and negative subjects")
    return s[y], s[~y]


def delong_variance(y_positive: Sequence[bool], scores: Sequence[float]) -> tuple[float, float]:
    """The AUC of ``scores`` for the positives and its DeLong variance."""
    auc, v10, v01 = _structural(*_split(y_positive, scores))
    return auc, float(np.var(v10, ddof=1) / len(v10) + np.var(v01, ddof=1) / len(v01))


def delong_ci(
    y_positive: Sequence[bool], scores: Sequence[float], level: float = 0.95
) -> tuple[float, float]:
    """DeLong's interval of the AUC (normal approximation, clipped to [0, 1])."""
    auc, variance = delong_variance(y_positive, scores)
    half = stats.norm.ppf(0.5 + level / 2) * math.sqrt(variance)
    return max(0.0, auc - half), min(1.0, auc + half)


def delong_test(
    y_positive: Sequence[bool], scores_a: Sequence[float], scores_b: Sequence[float]
) -> dict[str, float]:
    """DeLong's paired test of two classifiers' AUCs on the same subjects.

    Returns:
        ``auc_a``, ``auc_b``, their difference ``auc_diff`` (a - b), its standard error ``se``,
        ``z`` and the two-sided ``p`` (1 when the two are identical).
    """
    (pos_a, neg_a), (pos_b, neg_b) = _split(y_positive, scores_a), _split(y_positive, scores_b)
    auc_a, v10_a, v01_a = _structural(pos_a, neg_a)
    auc_b, v10_b, v01_b = _structural(pos_b, neg_b)
    s10 = np.cov(np.vstack([v10_a, v10_b]))
    s01 = np.cov(np.vstack([v01_a, v01_b]))
    covariance = s10 / len(v10_a) + s01 / len(v01_a)
    variance = covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1]
    diff = auc_a - auc_b
    if variance <= 0:
        z, p = (0.0, 1.0) if diff == 0 else (math.copysign(math.inf, diff), 0.0)
    else:
        z = diff / math.sqrt(variance)
        p = float(2 * stats.norm.sf(abs(z)))
    se = math.sqrt(max(variance, 0.0))
    return {"auc_a": auc_a, "auc_b": auc_b, "auc_diff": diff, "se": se, "z": float(z), "p": p}
