"""Paired statistics of a model comparison: bootstrap interval of a mean difference, Wilcoxon test."""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import stats

__all__ = ["bootstrap_ci", "wilcoxon_p"]


def bootstrap_ci(differences: np.ndarray, n_boot: int, seed: int) -> tuple[float, float]:
    """95 % percentile bootstrap interval of the mean; ``NaN`` for fewer than 2 values."""
    if len(differences) < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(differences), size=(n_boot, len(differences)))
    low, high = np.percentile(differences[draws].mean(axis=1), [2.5, 97.5])
    return float(low), float(high)


def wilcoxon_p(differences: np.ndarray) -> float:
    """Two-sided paired Wilcoxon signed-rank p; ``NaN`` when n < 2 or all differences are 0."""
    if len(differences) < 2 or not np.any(differences != 0):
        return math.nan
    with warnings.catch_warnings():
        # scipy warns when zeros or ties force the normal approximation; that is expected here.
        warnings.simplefilter("ignore", UserWarning)
        return float(stats.wilcoxon(differences).pvalue)
