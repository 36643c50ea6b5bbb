"""Tests for spinetumor.evaluation.statistics: bootstrap interval and Wilcoxon p, small hand-made samples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spinetumor.evaluation.statistics import bootstrap_ci, wilcoxon_p


def test_bootstrap_ci_is_undefined_below_two_values():
    assert all(math.isnan(v) for v in bootstrap_ci(np.array([0.3]), n_boot=100, seed=0))
    assert all(math.isnan(v) for v in bootstrap_ci(np.array([]), n_boot=100, seed=0))


def test_bootstrap_ci_of_a_constant_is_that_constant():
    assert bootstrap_ci(np.full(5, 0.25), n_boot=200, seed=0) == (0.25, 0.25)


def test_bootstrap_ci_is_seeded_and_brackets_the_mean():
    differences = np.array([0.1, 0.3, -0.2, 0.4, 0.0, 0.25])
    low, high = bootstrap_ci(differences, n_boot=2000, seed=7)
    assert (low, high) == bootstrap_ci(differences, n_boot=2000, seed=7)
    assert differences.min() <= low < differences.mean() < high <= differences.max()
    # Two values: every resampled mean is 0, 0.5 or 1, so the 95 % interval spans them all.
    assert bootstrap_ci(np.array([0.0, 1.0]), n_boot=2000, seed=0) == (0.0, 1.0)


def test_wilcoxon_p_exact_for_all_positive_differences():
    # 4 differences, all positive: the exact two-sided p is 2 / 2**4.
    assert wilcoxon_p(np.array([0.1, 0.2, 0.3, 0.4])) == pytest.approx(2 / 2**4)
    assert wilcoxon_p(np.array([-0.1, -0.2, -0.3, -0.4])) == pytest.approx(2 / 2**4)


def test_wilcoxon_p_undefined_without_differences():
    assert math.isnan(wilcoxon_p(np.array([0.0, 0.0, 0.0])))
    assert math.isnan(wilcoxon_p(np.array([0.5])))
