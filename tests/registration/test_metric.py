"""Tests of spinetumor.registration.metric: how many voxels a level samples, and seeds."""

from __future__ import annotations

import pytest

from spinetumor.registration.metric import _sampling_fraction, itk_seed
from spinetumor.registration.settings import RegistrationSettings


def test_sampling_fraction_between_the_floor_and_the_cap() -> None:
    settings = RegistrationSettings(sampling_percentage=0.25, max_samples=20_000)
    assert _sampling_fraction(settings, 40_000, 1.0) == pytest.approx(0.25)  # 10,000 samples
    assert _sampling_fraction(settings, 10_000, 1.0) == pytest.approx(0.5)  # at least 5,000
    assert _sampling_fraction(settings, 1_000_000, 1.0) == pytest.approx(0.02)  # at most 20,000
    assert _sampling_fraction(settings, 1_000_000, 0.01) == pytest.approx(0.5)  # of the masked voxels
    assert _sampling_fraction(settings, 1_000, 1.0) == 1.0


def test_itk_seeds_are_never_zero() -> None:
    # SimpleITK reads a seed of 0 as "seed from the clock".
    assert itk_seed(0) != 0 and itk_seed(2**32 - 2) != 0
    assert itk_seed(0) != itk_seed(1)
