"""Tests of spinetumor.registration.register: known misalignments recovered, real pairs, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from spinetumor.registration.images import resample_to_t2w
from spinetumor.registration.register import RegistrationResult, register_t1w_to_t2w
from spinetumor.registration.settings import RegistrationSettings
from spinetumor.registration.transforms import transform_error
from tests.registration.phantoms import (
    LPS,
    TRUTH,
    TRUTH_ANGLE_DEG,
    PhantomPair,
    dice,
    make_phantom_pair,
    rigid_lps,
    subsample,
)


@pytest.fixture(scope="module")
def phantom(tmp_path_factory: pytest.TempPathFactory) -> PhantomPair:
    return make_phantom_pair(tmp_path_factory.mktemp("phantom"), rigid_lps(*TRUTH))


@pytest.fixture(scope="module")
def mattes_result(phantom: PhantomPair) -> RegistrationResult:
    return register_t1w_to_t2w(phantom.t2w, phantom.t1w, RegistrationSettings(metric="mattes"), subject="ph")


# ------------------------------------------------- 1. known misalignment recovered


def test_phantom_starts_misaligned(phantom: PhantomPair) -> None:
    # 3 deg about two axes is 4.24 deg in all; up to ~50 mm from the centre
    # that adds a few mm to the 3.2 mm shift.
    start_mm, start_deg = transform_error(sitk.Euler3DTransform(), phantom.truth, phantom.object_points_lps)
    assert start_mm > 4.0
    assert start_deg == pytest.approx(TRUTH_ANGLE_DEG, abs=0.01)


def test_mattes_recovers_known_rigid_misalignment(
    phantom: PhantomPair, mattes_result: RegistrationResult
) -> None:
    error_mm, error_deg = transform_error(
        mattes_result.transform, phantom.truth, subsample(phantom.object_points_lps)
    )
    assert error_mm < 1.0
    assert error_deg < 1.0
    assert [s.stage for s in mattes_result.stages] == ["rigid", "affine"]
    assert all(s.accepted for s in mattes_result.stages)
    assert mattes_result.metric_value < 0  # ITK minimises the negative mutual information


def test_ants_cc_recovers_known_rigid_misalignment(phantom: PhantomPair) -> None:
    # Squared local correlation does not mind the CSF inversion. Rigid stage
    # only: every sample costs a 5x5x5 neighbourhood.
    settings = RegistrationSettings(metric="ants_cc", stages=("rigid",))
    result = register_t1w_to_t2w(phantom.t2w, phantom.t1w, settings, subject="ph")
    error_mm, error_deg = transform_error(
        result.transform, phantom.truth, subsample(phantom.object_points_lps)
    )
    assert error_mm < 1.0
    assert error_deg < 1.0


def test_global_correlation_is_misled_by_the_csf_inversion(phantom: PhantomPair) -> None:
    # CSF is the largest structure and is bright on T2w, dark on T1w: a metric
    # rewarding a positive linear relation prefers to slide CSF off CSF.
    settings = RegistrationSettings(metric="correlation", max_displacement_mm=1000.0)
    result = register_t1w_to_t2w(phantom.t2w, phantom.t1w, settings, subject="ph")
    error_mm, _ = transform_error(result.transform, phantom.truth, subsample(phantom.object_points_lps))
    assert error_mm > 2.0


def test_registered_t1w_shows_the_t1w_anatomy_on_the_t2w_grid(
    phantom: PhantomPair, mattes_result: RegistrationResult
) -> None:
    # Checks transform direction, axis order and affine together: the output
    # must look like the noise-free T1w contrast rendered on the T2w grid.
    registered = np.asarray(mattes_result.t1w_on_t2w.dataobj)
    header_only = np.asarray(resample_to_t2w(phantom.t1w, phantom.t2w, sitk.Euler3DTransform()).dataobj)
    inside = np.zeros(registered.shape, bool)
    inside[8:-8, 8:-8, 2:-2] = True  # away from the edges of the T1w field of view
    corr_registered = np.corrcoef(registered[inside], phantom.t1w_expected_on_t2w[inside])[0, 1]
    corr_header = np.corrcoef(header_only[inside], phantom.t1w_expected_on_t2w[inside])[0, 1]
    assert corr_registered > 0.95
    assert corr_registered > corr_header + 0.1


def test_demo_subject_misalignment_recovered(tmp_path: Path) -> None:
    from spinetumor.demo.jobs import write_subject

    paths = write_subject(tmp_path, 2, 0)
    misalignment = json.loads(Path(paths["t1w_json"]).read_text())["SyntheticMisalignment"]
    flip = np.diag([-1.0, -1.0, 1.0, 1.0])
    matrix_lps = flip @ np.asarray(misalignment["matrix_ras"]) @ flip  # RAS map -> ITK LPS
    truth = sitk.AffineTransform(3)
    truth.SetMatrix(matrix_lps[:3, :3].ravel().tolist())
    truth.SetTranslation(matrix_lps[:3, 3].tolist())

    t2w = nib.load(paths["t2w"])
    cord = np.asarray(nib.load(paths["cord"]).dataobj) > 0
    cord_lps = (np.argwhere(cord) @ t2w.affine[:3, :3].T + t2w.affine[:3, 3]) @ LPS
    result = register_t1w_to_t2w(paths["t2w"], paths["t1w"], RegistrationSettings(), subject="demo")
    start_mm, _ = transform_error(sitk.Euler3DTransform(), truth, subsample(cord_lps))
    error_mm, error_deg = transform_error(result.transform, truth, subsample(cord_lps))
    assert start_mm > 2.0
    assert error_mm < 1.0
    assert error_deg < 1.0


def test_single_volume_4d_and_int16_inputs(tmp_path: Path) -> None:
    pair = make_phantom_pair(tmp_path, rigid_lps((0.0, 0.0, 0.0), (1.0, 0.0, 0.0)), t1w_4d=True)
    assert nib.load(pair.t1w).ndim == 4 and nib.load(pair.t2w).get_data_dtype() == np.int16
    settings = RegistrationSettings(stages=("rigid",), shrink_factors=(2, 1), smoothing_sigmas_mm=(1.0, 0.0))
    result = register_t1w_to_t2w(pair.t2w, pair.t1w, settings, subject="4d")
    assert result.t1w_on_t2w.shape == nib.load(pair.t2w).shape
    assert result.t1w_on_t2w.get_data_dtype() == np.float32
    error_mm, _ = transform_error(result.transform, pair.truth, subsample(pair.object_points_lps))
    assert error_mm < 1.0


def test_same_seed_same_result(phantom: PhantomPair) -> None:
    settings = RegistrationSettings(
        stages=("rigid",), shrink_factors=(4,), smoothing_sigmas_mm=(2.0,), sampling_percentage=0.05
    )
    first = register_t1w_to_t2w(phantom.t2w, phantom.t1w, settings)
    second = register_t1w_to_t2w(phantom.t2w, phantom.t1w, settings)
    assert first.transform.GetParameters() == second.transform.GetParameters()


# ----------------------------------------------------------------- 3. real pairs


@pytest.mark.parametrize("subject", ["unf01", "errsm30"])
def test_real_pair_cord_overlap_not_worse_than_headers(real_spine: Path, subject: str) -> None:
    anat = real_spine / f"sub-{subject}" / "anat"
    labels = real_spine / "derivatives" / "labels" / f"sub-{subject}" / "anat"
    t2w, t1w = anat / f"sub-{subject}_T2w.nii.gz", anat / f"sub-{subject}_T1w.nii.gz"
    t1w_cord = labels / f"sub-{subject}_T1w_seg-manual.nii.gz"
    t2w_cord = np.asarray(nib.load(labels / f"sub-{subject}_T2w_seg-manual.nii.gz").dataobj)

    result = register_t1w_to_t2w(t2w, t1w, RegistrationSettings(), subject=subject)
    headers = resample_to_t2w(t1w_cord, t2w, sitk.Euler3DTransform(), "nearest", subject)
    registered = resample_to_t2w(t1w_cord, t2w, result.transform, "nearest", subject)
    dice_headers = dice(np.asarray(headers.dataobj), t2w_cord)
    dice_registered = dice(np.asarray(registered.dataobj), t2w_cord)
    print(
        f"sub-{subject}: cord Dice headers {dice_headers:.3f}, registered {dice_registered:.3f}, "
        f"{result.seconds:.1f} s"
    )
    # sub-unf01's two masks are the same file on the same grid (Dice 1 before);
    # sub-errsm30's overlap about 0.85 before (README).
    assert dice_registered >= dice_headers - 0.05


# ------------------------------------------------------------------ 5. bad input


def test_missing_file_names_subject_and_file(phantom: PhantomPair, tmp_path: Path) -> None:
    missing = tmp_path / "sub-x_T1w.nii.gz"
    with pytest.raises(ValueError, match=r"sub-x: .*sub-x_T1w\.nii\.gz"):
        register_t1w_to_t2w(phantom.t2w, missing, RegistrationSettings(), subject="x")


def test_corrupt_file_names_subject_and_file(phantom: PhantomPair, tmp_path: Path) -> None:
    corrupt = tmp_path / "sub-y_T2w.nii.gz"
    corrupt.write_bytes(b"this is not a NIfTI file" * 20)
    with pytest.raises(ValueError, match=r"sub-y: .*sub-y_T2w\.nii\.gz"):
        register_t1w_to_t2w(corrupt, phantom.t1w, RegistrationSettings(), subject="y")


def test_several_volumes_is_an_error(phantom: PhantomPair, tmp_path: Path) -> None:
    # A trailing singleton axis is dropped by ITK; two volumes cannot be registered.
    two_volumes = tmp_path / "sub-z_T1w.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 8, 2), np.float32), np.eye(4)), two_volumes)
    with pytest.raises(ValueError, match=r"sub-z: T1w image .*sub-z_T1w\.nii\.gz has 2 volumes"):
        register_t1w_to_t2w(phantom.t2w, two_volumes, RegistrationSettings(), subject="z")
