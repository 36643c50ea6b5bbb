"""Drawing a subject's parameters (spinetumor.demo.sampling)."""

from __future__ import annotations

import pytest

from spinetumor import LABELS
from spinetumor.demo.params import PATHOLOGIES
from spinetumor.demo.sampling import subject_parameters
from tests.demo.demo_fixtures import SEED


def test_parameters_depend_on_seed_and_index_only():
    assert subject_parameters(4, SEED) == subject_parameters(4, SEED)
    assert subject_parameters(4, SEED) != subject_parameters(4, SEED + 1)
    assert subject_parameters(4, SEED) != subject_parameters(5, SEED)


def test_bad_index_or_seed_is_refused():
    with pytest.raises(ValueError, match="1..999"):
        subject_parameters(0, SEED)
    with pytest.raises(ValueError, match="seed must be >= 0"):
        subject_parameters(1, -1)


def test_pathologies_cycle_and_counts_match_the_lesions():
    for index in range(1, 7):
        p = subject_parameters(index, SEED)
        assert p.pathology == PATHOLOGIES[(index - 1) % 3]
        labels = [les.label for les in p.lesions]
        assert p.n_lesions == labels.count(LABELS["tumor"]) >= 1
        assert p.has_edema == (LABELS["edema"] in labels)
        assert p.has_cavity == (LABELS["cavity"] in labels)
        assert p.t2w.tissue_factors != p.t1w.tissue_factors


def test_lesion_mix_over_many_subjects():
    params = [subject_parameters(i, SEED) for i in range(1, 25)]
    assert [p.pathology for p in params].count("ependymoma") == 8  # types cycle by index
    # About half with edema, two thirds with a cavity (binomial, 24 draws: +-2.5 sd).
    assert 6 <= sum(p.has_edema for p in params) <= 18
    assert 11 <= sum(p.has_cavity for p in params) <= 22
    assert any(p.n_lesions > 1 for p in params) and any(p.n_lesions == 1 for p in params)
    lengths = [2 * les.radii_uns_mm[2] for p in params for les in p.lesions if les.label == 1]
    assert min(lengths) < 10.0 < 40.0 < max(lengths)  # under 1 cm to several vertebral levels
