"""Tests of spinetumor.registration.checks: a stage's result refused, a result flagged."""

from __future__ import annotations

from pathlib import Path

import pytest
import SimpleITK as sitk

from spinetumor.registration.checks import _rival_failure, scaling_change, shared_fraction, stage_objection
from spinetumor.registration.register import register_t1w_to_t2w
from spinetumor.registration.search import StageInfo
from spinetumor.registration.settings import RegistrationSettings
from tests.registration.phantoms import (
    TRUTH,
    PhantomPair,
    make_phantom_pair,
    moved_t1w,
    real_paths,
    rigid_lps,
)


@pytest.fixture(scope="module")
def phantom(tmp_path_factory: pytest.TempPathFactory) -> PhantomPair:
    return make_phantom_pair(tmp_path_factory.mktemp("phantom"), rigid_lps(*TRUTH))


def test_scaling_change_is_the_largest_stretch_or_shrink() -> None:
    affine = sitk.AffineTransform(3)
    affine.SetMatrix((1.1, 0, 0, 0, 0.95, 0, 0, 0, 1.0))
    assert scaling_change(affine, (10.0, -5.0, 3.0)) == pytest.approx(0.1)
    assert scaling_change(rigid_lps((10.0, 0.0, 5.0), (3.0, 0.0, 0.0)), (0.0, 0.0, 0.0)) < 1e-9


def test_shared_fraction_is_of_the_smaller_field_of_view() -> None:
    moved = sitk.Image(10, 10, 4, sitk.sitkUInt8)  # a 10 x 10 x 8 mm slab of 2 mm slices
    moved.SetSpacing((1.0, 1.0, 2.0))
    moved[:, :, :1] = 1  # the T1w covers 2 of its 8 mm
    big = sitk.Image(20, 20, 20, sitk.sitkFloat32)
    assert shared_fraction(moved, big) == pytest.approx(0.25)
    small = sitk.Image(5, 5, 2, sitk.sitkFloat32)
    small.SetSpacing((2.0, 2.0, 2.0))  # 400 mm^3, smaller than the 800 mm^3 slab: half of it shared
    assert shared_fraction(moved, small) == pytest.approx(0.5)


def test_a_rival_match_nearly_as_good_is_flagged() -> None:
    settings = RegistrationSettings(min_rival_contrast=0.1)
    close = StageInfo("rigid", -0.3, (1,), ("",), 0.1, True, 21.0, 0.05)
    assert "ambiguous match: the rigid search found a second match 21 mm away" in _rival_failure(
        close, settings
    )
    assert _rival_failure(StageInfo("rigid", -0.3, (1,), ("",), 0.1, True, 21.0, 0.2), settings) == ""
    assert _rival_failure(StageInfo("affine", -0.3, (1,), ("",), 0.1), settings) == ""


def test_a_later_stage_is_refused_when_worse_or_scaling_too_much() -> None:
    fixed = sitk.Image(10, 10, 10, sitk.sitkFloat32)
    rigid = StageInfo("rigid", -0.30, (1,), ("",), 0.1)
    settings = RegistrationSettings(max_scaling_change=0.05)
    stretch = sitk.AffineTransform(3)
    stretch.SetMatrix((1.08, 0, 0, 0, 1, 0, 0, 0, 1))
    better = StageInfo("affine", -0.35, (1,), ("",), 0.1)
    worse = StageInfo("affine", -0.25, (1,), ("",), 0.1)
    assert stage_objection(sitk.AffineTransform(3), better, [rigid], fixed, settings) is None
    assert "worse than" in stage_objection(sitk.AffineTransform(3), worse, [rigid], fixed, settings)
    assert "scales by 8 %" in stage_objection(stretch, better, [rigid], fixed, settings)


def test_implausible_affine_falls_back_to_rigid(phantom: PhantomPair) -> None:
    settings = RegistrationSettings(shrink_factors=(4,), smoothing_sigmas_mm=(2.0,), max_scaling_change=1e-9)
    result = register_t1w_to_t2w(phantom.t2w, phantom.t1w, settings, subject="ph")
    assert [s.accepted for s in result.stages] == [True, False]
    assert result.transform.GetName() == "Euler3DTransform"


def test_too_large_a_motion_is_flagged(phantom: PhantomPair) -> None:
    settings = RegistrationSettings(
        stages=("rigid",), shrink_factors=(4,), smoothing_sigmas_mm=(2.0,), max_displacement_mm=0.5
    )
    result = register_t1w_to_t2w(phantom.t2w, phantom.t1w, settings, subject="ph")
    assert not result.ok
    assert any("limits 0.5 mm" in reason for reason in result.failures)


@pytest.mark.parametrize("subject", ["errsm30", "unf01"])
def test_huge_offset_is_flagged(real_spine: Path, subject: str, tmp_path: Path) -> None:
    # 25 deg and 40 mm: beyond the search, and beyond what a session moves.
    t2w, t1w, _ = real_paths(real_spine, subject)
    moved_t1w(t1w, tmp_path / "t1w.nii.gz", (25, 0, 0), (0, 40, 0))
    result = register_t1w_to_t2w(t2w, tmp_path / "t1w.nii.gz", RegistrationSettings(), "far")
    assert not result.ok
