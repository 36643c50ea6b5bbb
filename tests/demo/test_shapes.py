"""Partial-volume primitives (spinetumor.demo.shapes)."""

from __future__ import annotations

import numpy as np

from spinetumor.demo.shapes import ellipse, paint, ramp, wave_noise


def test_ramp_is_one_pixel_wide_and_half_on_the_edge():
    frac = ramp(np.float32([-1.0, -0.25, 0.0, 0.25, 1.0]), 1.0)
    np.testing.assert_allclose(frac, [1.0, 0.75, 0.5, 0.25, 0.0])


def test_paint_blends_in_place():
    image = np.float32([1.0, 1.0, 1.0])
    paint(image, np.float32([0.0, 0.5, 1.0]), 3.0)
    np.testing.assert_allclose(image, [1.0, 2.0, 3.0])


def test_ellipse_distance_is_exact_on_the_axes():
    d, rho = ellipse(np.float32([0.0, 6.0, 0.0, 0.0]), np.float32([0.0, 0.0, 3.0, 2.0]), 4.0, 2.0)
    np.testing.assert_allclose(d[1:], [2.0, 1.0, 0.0], atol=1e-3)  # outside by 2 and 1 mm, on the edge
    assert d[0] < 0  # the centre is inside
    np.testing.assert_allclose(rho, [0.0, 1.5, 1.5, 1.0])


def test_wave_noise_has_unit_variance_and_no_waves_give_zero():
    rng = np.random.default_rng(0)
    coords = [np.float32(rng.uniform(-100, 100, 50_000)) for _ in range(3)]
    waves = [(*rng.normal(size=3), rng.uniform(0, 2 * np.pi)) for _ in range(8)]
    field = wave_noise(coords, waves)
    assert 0.8 < float(field.var()) < 1.2 and abs(float(field.mean())) < 0.1
    assert not wave_noise(coords, []).any()
