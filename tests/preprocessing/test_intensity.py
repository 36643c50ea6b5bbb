"""Intensity steps: hand-computed on a 2x2x2 volume holding 0..7, each channel on its own."""

from __future__ import annotations

import numpy as np

from spinetumor.preprocessing.intensity import n4_correct
from spinetumor.preprocessing.preprocessing import preprocess_volumes
from spinetumor.preprocessing.volumes import SubjectVolumes
from tests.preprocessing.helpers import RAMP8, arr, img, make_affine, run_intensity, single_step


def test_gamma_follows_formula():
    out = arr(run_intensity(single_step("gamma", gamma=2.0))["T2w"])
    # ((x - 0) / 7) ** 2 * 7 + 0 = x**2 / 7
    np.testing.assert_allclose(out, RAMP8**2 / 7.0, rtol=1e-5, atol=1e-5)


def test_scale_intensity_maps_to_range():
    out = arr(run_intensity(single_step("scale_intensity", minv=0.0, maxv=1.0))["T2w"])
    np.testing.assert_allclose(out, RAMP8 / 7.0, atol=1e-6)
    out = arr(run_intensity(single_step("scale_intensity", minv=-1.0, maxv=1.0))["T2w"])
    np.testing.assert_allclose(out, RAMP8 / 3.5 - 1.0, atol=1e-6)


def test_zscore_mean0_std1_and_nonzero_variant():
    out = arr(run_intensity(single_step("zscore", nonzero=False))["T2w"])
    np.testing.assert_allclose(out, (RAMP8 - 3.5) / np.sqrt(5.25), atol=1e-5)  # population std
    assert abs(out.mean()) < 1e-6 and abs(out.std() - 1.0) < 1e-5
    sparse = np.array([0, 0, 2, 4, 0, 0, 2, 4], dtype=np.float32).reshape(2, 2, 2)
    out = arr(run_intensity(single_step("zscore", nonzero=True), t2w=sparse)["T2w"])
    # non-zero voxels: mean 3, std 1; zeros stay zero
    np.testing.assert_allclose(out, np.array([0, 0, -1, 1, 0, 0, -1, 1]).reshape(2, 2, 2), atol=1e-6)


def test_clip_percentiles():
    out = arr(run_intensity(single_step("clip_percentiles", lower=0.0, upper=50.0))["T2w"])
    np.testing.assert_allclose(out, np.minimum(RAMP8, 3.5))


def test_intensity_steps_are_per_channel_and_skip_labels():
    t1w = 10.0 * RAMP8 + 100.0
    dseg = np.array([0, 1, 2, 3, 0, 1, 2, 3], dtype=np.uint8).reshape(2, 2, 2)
    out = run_intensity(single_step("scale_intensity"), t1w=t1w, dseg=dseg)
    np.testing.assert_allclose(arr(out["T1w"]), RAMP8 / 7.0, atol=1e-6)
    np.testing.assert_allclose(arr(out["T2w"]), RAMP8 / 7.0, atol=1e-6)
    np.testing.assert_array_equal(arr(out["dseg"]), dseg)
    assert out["T1w"].get_data_dtype() == np.float32 and out["dseg"].get_data_dtype() == np.uint8


def test_n4_removes_smooth_multiplicative_bias():
    shape, zooms = (64, 64, 24), (1.0, 1.0, 2.0)
    affine = make_affine("RAS", zooms, shape)
    i, j, k = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    body = (i**2 + j**2) < 0.7
    truth = np.where(body, 100.0, 5.0)
    bias = np.exp(0.35 * i - 0.25 * j**2 + 0.15 * k)
    biased = (truth * bias).astype(np.float32)
    chain = single_step("n4", shrink_factor=4, iterations=[50, 50, 30], convergence=0.001)
    vols = SubjectVolumes(img(biased, affine), None, None, None)
    corrected = arr(preprocess_volumes(vols, chain)["T2w"])
    region = (i**2 + j**2) < 0.5  # well inside the uniform body
    cv_before = biased[region].std() / biased[region].mean()
    cv_after = corrected[region].std() / corrected[region].mean()
    assert cv_before > 0.1
    assert cv_after < 0.3 * cv_before, (cv_before, cv_after)


def test_n4_leaves_a_volume_without_positive_voxels_unchanged():
    volume = -np.arange(4 * 5 * 6, dtype=np.float64).reshape(4, 5, 6)
    out = n4_correct(volume, (1.0, 1.0, 2.0))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, volume.astype(np.float32))
