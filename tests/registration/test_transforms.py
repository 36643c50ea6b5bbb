"""Tests of spinetumor.registration.transforms: the rigid part of a transform, and transform errors."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from spinetumor.registration.transforms import rigid_parameters, transform_error
from tests.registration.phantoms import rigid_lps


def test_transform_error_hand_computed() -> None:
    points = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])
    shift = sitk.TranslationTransform(3, (1.0, 2.0, 2.0))
    assert transform_error(shift, sitk.Euler3DTransform(), points) == pytest.approx((3.0, 0.0), abs=1e-6)
    quarter_turn = rigid_lps((0.0, 0.0, 90.0), (0.0, 0.0, 0.0))
    # Unit points turned by 90 deg move by sqrt(2).
    assert transform_error(quarter_turn, sitk.Euler3DTransform(), points) == pytest.approx(
        (2**0.5, 90.0), abs=1e-6
    )
    with pytest.raises(ValueError, match="reference_points_mm"):
        transform_error(shift, shift, np.zeros((0, 3)))


def test_rigid_parameters_about_a_centre() -> None:
    # 90 deg about z (LPS) about the origin moves the point (10, 0, 0) to (0, 10, 0), plus the shift.
    turn = rigid_lps((0.0, 0.0, 90.0), (1.0, 2.0, 3.0))
    translation, angles, angle = rigid_parameters(turn, (10.0, 0.0, 0.0))
    np.testing.assert_allclose(translation, (-10.0 + 1.0, 10.0 + 2.0, 3.0), atol=1e-9)
    np.testing.assert_allclose(angles, (0.0, 0.0, 90.0), atol=1e-9)
    assert angle == pytest.approx(90.0)
    # The rigid part of an affine is its nearest rotation: a pure stretch has none.
    stretch = sitk.AffineTransform(3)
    stretch.SetMatrix((1.1, 0, 0, 0, 0.9, 0, 0, 0, 1.0))
    assert rigid_parameters(stretch, (0.0, 0.0, 0.0))[2] == pytest.approx(0.0, abs=1e-6)
