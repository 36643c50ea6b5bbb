"""Tests for spinetumor.inference.result: timings and writing a hand-built prediction."""

from __future__ import annotations

import time

import nibabel as nib
import numpy as np
import pytest

from spinetumor.inference.result import (
    TIMING_STEPS,
    Prediction,
    new_timings,
    nifti_image,
    save_prediction,
    timed,
)


def test_new_timings_are_zero_for_every_step():
    assert new_timings() == {step: 0.0 for step in TIMING_STEPS}
    assert TIMING_STEPS[0] == "load" and TIMING_STEPS[-1] == "save"


def test_timed_adds_up_and_counts_a_failing_block():
    timings = new_timings()
    with timed(timings, "stage1"):
        time.sleep(0.01)
    first = timings["stage1"]
    with pytest.raises(RuntimeError), timed(timings, "stage1"):
        time.sleep(0.01)
        raise RuntimeError
    assert first >= 0.01 and timings["stage1"] >= first + 0.01
    assert timings["stage2"] == 0.0


def test_nifti_image_keeps_the_dtype():
    img = nifti_image(np.zeros((2, 2, 2), np.uint8), np.eye(4))
    assert img.get_data_dtype() == np.uint8


def prediction() -> Prediction:
    """A 4 x 4 x 4 native grid at 2 mm whose preprocessed grid is the same space at 1 mm."""
    native_affine = np.diag([2.0, 2.0, 2.0, 1.0])
    prep_affine = np.diag([1.0, 1.0, 1.0, 1.0])
    prep_affine[:3, 3] = -0.5  # voxel centres of the 1 mm grid inside the 2 mm voxels
    dseg = np.zeros((4, 4, 4), np.uint8)
    dseg[1, 2, 3] = 2
    probs = np.zeros((1, 8, 8, 8), np.float32)
    probs[0, 2:4, 4:6, 6:8] = 0.75
    return Prediction(
        dseg=nifti_image(dseg, native_affine),
        dseg_preprocessed=np.zeros((8, 8, 8), np.uint8),
        probabilities=probs,
        probabilities_native=None,
        channels=("edema",),
        cord_mask=None,
        cord_mask_native=None,
        crop_box=((0, 0, 0), (8, 8, 8)),
        preprocessed_affine=prep_affine,
        native_ref=nifti_image(np.zeros((4, 4, 4), np.float32), native_affine),
        timings=new_timings(),
    )


def test_save_prediction_writes_dseg_and_resamples_the_probabilities(tmp_path):
    result = prediction()
    written = save_prediction(result, tmp_path / "dseg.nii.gz", tmp_path / "probseg.nii.gz")
    dseg = nib.load(str(written["dseg"]))
    assert dseg.get_data_dtype() == np.uint8
    np.testing.assert_array_equal(np.asarray(dseg.dataobj), np.asarray(result["dseg"].dataobj))
    np.testing.assert_allclose(dseg.affine, result["native_ref"].affine)
    probs = nib.load(str(written["probabilities"]))
    assert probs.shape == (4, 4, 4, 1) and probs.get_data_dtype() == np.float32
    assert probs.get_fdata()[1, 2, 3, 0] == pytest.approx(0.75, abs=1e-5)
    assert probs.get_fdata().sum() == pytest.approx(0.75, abs=1e-4)
    assert result["timings"]["save"] > 0


def test_save_prediction_without_probabilities_writes_the_dseg_only(tmp_path):
    written = save_prediction(prediction(), tmp_path / "dseg.nii.gz")
    assert set(written) == {"dseg"} and [p.name for p in tmp_path.iterdir()] == ["dseg.nii.gz"]
