"""Tests of spinetumor.registration.registration: known misalignments, outputs, real pairs, bad input.

The phantom is analytic, in world millimetres (RAS+), so that the T1w-like
image can be rendered exactly as the T2w anatomy seen through a known rigid
motion, without interpolating a thick-slice image:

* a curved cord (intermediate on both contrasts) in a CSF tube that is bright
  on T2w and dark on T1w, as in real scans;
* vertebral bodies (T1w brighter) and discs (T2w bright, T1w dark) in front;
* fat blobs (bright on both), alternately left and right, so rotations about
  the S-I axis are observable;
* Gaussian noise: flat regions would otherwise make local correlation 0/0.

The T2w is int16 on a PSR-like grid (0.7 x 0.7 x 3 mm, thick R-L slices); the
T1w is float32 on another grid (AS-L, 0.8 x 0.8 x 3 mm, shifted field of view).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import yaml

from spinetumor.registration.registration import (
    RegistrationResult,
    RegistrationSettings,
    register_t1w_to_t2w,
    registration_table,
    resample_to_t2w,
    run_registration,
    transform_error,
)
from tests.conftest import REPO

LPS = np.diag([-1.0, -1.0, 1.0])  # RAS <-> LPS (its own inverse)
# (T2w, T1w) intensities of each tissue.
TISSUES = {
    "muscle": (0.25, 0.35),
    "csf": (1.0, 0.08),
    "cord": (0.5, 0.55),
    "vertebra": (0.45, 0.7),
    "disc": (0.85, 0.2),
    "fat": (0.9, 0.95),
}
NOISE_SD = 0.02


# ---------------------------------------------------------------------- phantom


def _inside(distance_mm: np.ndarray, width_mm: float = 0.6) -> np.ndarray:
    """Soft indicator of a signed distance (positive inside)."""
    return 1.0 / (1.0 + np.exp(-np.clip(distance_mm / width_mm, -50, 50)))


def _ellipse(u: np.ndarray, v: np.ndarray, a: float, b: float) -> np.ndarray:
    """Approximate signed distance to an ellipse of semi-axes a, b."""
    return (1.0 - np.sqrt((u / a) ** 2 + (v / b) ** 2)) * min(a, b)


def phantom_intensity(ras: np.ndarray, contrast: int) -> np.ndarray:
    """Phantom intensity at RAS points (..., 3); contrast 0 = T2w, 1 = T1w."""
    x, y, z = ras[..., 0], ras[..., 1], ras[..., 2]
    yc = 4.0 * np.sin(2 * np.pi * z / 120.0)  # the cord curves in the sagittal plane
    image = np.full(x.shape, TISSUES["muscle"][contrast])

    def paint(fraction: np.ndarray, tissue: str) -> None:
        nonlocal image
        image = image * (1 - fraction) + TISSUES[tissue][contrast] * fraction

    level = np.mod(z + 11.0, 22.0)
    body = _inside(np.minimum(level - 2.5, 19.5 - level))
    block = _inside(np.minimum(14 - np.abs(x), 9 - np.abs(y - yc - 19)))
    paint(block * (1 - body), "disc")
    paint(block * body, "vertebra")
    index = np.floor((z + 11.0) / 22.0)
    side = np.where(np.mod(index, 2) == 0, 1.0, -1.0)
    paint(
        _inside(5.0 - np.sqrt((x - 12 * side) ** 2 + (y - yc + 11) ** 2 + ((z - 22 * index) / 1.5) ** 2)),
        "fat",
    )
    paint(_inside(_ellipse(x, y - yc + 13, 4.0, 2.5)), "fat")
    paint(_inside(_ellipse(x, y - yc, 9.0, 6.5)), "csf")
    paint(_inside(_ellipse(x - 0.5, y - yc + 0.3, 6.5, 4.0)), "cord")
    return image


def _sagittal_affine(
    shape: tuple[int, int, int], axes: np.ndarray, spacing: tuple[float, ...], centre_ras: np.ndarray
) -> np.ndarray:
    """Affine whose columns are ``axes`` (unit RAS vectors) times ``spacing``, centred on ``centre_ras``."""
    affine = np.eye(4)
    affine[:3, :3] = axes * np.asarray(spacing)
    affine[:3, 3] = centre_ras - affine[:3, :3] @ ((np.asarray(shape) - 1) / 2)
    return affine


def _voxel_points(shape: tuple[int, int, int], affine: np.ndarray, through_slice_mm: float) -> np.ndarray:
    """RAS voxel centres plus two points +-1/3 of the slice thickness away (partial volume)."""
    ijk = np.stack(np.meshgrid(*[np.arange(n, dtype=float) for n in shape], indexing="ij"), -1)
    centres = ijk @ affine[:3, :3].T + affine[:3, 3]
    normal = affine[:3, 2] / np.linalg.norm(affine[:3, 2])
    return np.stack([centres + o * normal for o in (-through_slice_mm / 3, 0.0, through_slice_mm / 3)], -2)


def rigid_lps(
    rotation_deg: tuple[float, float, float], translation_mm: tuple[float, float, float]
) -> sitk.Transform:
    """An Euler transform (ITK LPS, fixed-to-moving) rotating about the world origin."""
    transform = sitk.Euler3DTransform()
    transform.SetRotation(*np.radians(rotation_deg))
    transform.SetTranslation(translation_mm)
    return transform


def _apply_inverse(transform: sitk.Euler3DTransform, points_lps: np.ndarray) -> np.ndarray:
    """Vectorised T^-1 of an Euler transform: p = M^T (q - c - t) + c."""
    matrix = np.asarray(transform.GetMatrix()).reshape(3, 3)
    centre, shift = np.asarray(transform.GetCenter()), np.asarray(transform.GetTranslation())
    return (points_lps - centre - shift) @ matrix + centre


@dataclass
class PhantomPair:
    t2w: Path
    t1w: Path
    truth: sitk.Euler3DTransform
    object_points_lps: np.ndarray  # T2w voxel centres inside the structures
    t1w_expected_on_t2w: np.ndarray  # noise-free T1w contrast on the T2w grid (x, y, z)


def make_phantom_pair(
    out_dir: Path,
    truth: sitk.Euler3DTransform,
    t2w_shape: tuple[int, int, int] = (96, 144, 16),
    t2w_spacing: tuple[float, float, float] = (0.7, 0.7, 3.0),
    t1w_shape: tuple[int, int, int] = (88, 130, 16),
    t1w_spacing: tuple[float, float, float] = (0.8, 0.8, 3.0),
    t1w_4d: bool = False,
    seed: int = 0,
) -> PhantomPair:
    """Write a T2w/T1w phantom pair whose T1w anatomy is moved by ``truth``.

    ``truth`` maps T2w physical points to T1w physical points (ITK LPS): the
    T1w voxel at q shows the anatomy of the T2w point ``truth^-1(q)``.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    # T2w: axes posterior, superior, right (like sub-errsm30).
    psr = np.array([[0.0, 0, 1], [-1, 0, 0], [0, 1, 0]])
    t2w_affine = _sagittal_affine(t2w_shape, psr, t2w_spacing, np.zeros(3))
    t2w_points = _voxel_points(t2w_shape, t2w_affine, t2w_spacing[2])
    t2w = phantom_intensity(t2w_points, 0).mean(-1)
    # T1w: axes anterior, superior, left, field of view shifted by a few mm.
    asl = np.array([[0.0, 0, -1], [1, 0, 0], [0, 1, 0]])
    t1w_affine = _sagittal_affine(t1w_shape, asl, t1w_spacing, np.array([1.5, -2.0, 3.0]))
    t1w_points = _voxel_points(t1w_shape, t1w_affine, t1w_spacing[2])
    t1w = phantom_intensity(_apply_inverse(truth, t1w_points @ LPS) @ LPS, 1).mean(-1)

    t2w_data = np.round((t2w + rng.normal(0, NOISE_SD, t2w.shape)) * 1000).astype(np.int16)
    t1w_data = ((t1w + rng.normal(0, NOISE_SD, t1w.shape)) * 1000).astype(np.float32)
    if t1w_4d:
        t1w_data = t1w_data[..., None]
    paths = out_dir / "t2w.nii.gz", out_dir / "t1w.nii.gz"
    nib.save(nib.Nifti1Image(t2w_data, t2w_affine), paths[0])
    nib.save(nib.Nifti1Image(t1w_data, t1w_affine), paths[1])

    structured = np.abs(t2w - TISSUES["muscle"][0]) > 0.1
    centres_ras = np.argwhere(structured) @ t2w_affine[:3, :3].T + t2w_affine[:3, 3]
    expected = phantom_intensity(t2w_points, 1).mean(-1)
    return PhantomPair(paths[0], paths[1], truth, centres_ras @ LPS, expected)


# --------------------------------------------------------------------- fixtures

TRUTH = ((3.0, 0.0, 3.0), (2.0, -1.5, 2.0))  # 3 deg about L-R and S-I, 3.2 mm
# Rz(a) Rx(a) has trace cos^2 a + 2 cos a, hence its angle (about 4.24 deg).
TRUTH_ANGLE_DEG = float(
    np.degrees(np.arccos((np.cos(np.radians(3)) ** 2 + 2 * np.cos(np.radians(3)) - 1) / 2))
)


@pytest.fixture(scope="module")
def phantom(tmp_path_factory: pytest.TempPathFactory) -> PhantomPair:
    return make_phantom_pair(tmp_path_factory.mktemp("phantom"), rigid_lps(*TRUTH))


@pytest.fixture(scope="module")
def mattes_result(phantom: PhantomPair) -> RegistrationResult:
    return register_t1w_to_t2w(phantom.t2w, phantom.t1w, RegistrationSettings(metric="mattes"), subject="ph")


def _subsample(points: np.ndarray, n: int = 8000) -> np.ndarray:
    return points[:: max(1, len(points) // n)]


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 0.5, b > 0.5
    return 2.0 * float((a & b).sum()) / float(a.sum() + b.sum())


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
        mattes_result.transform, phantom.truth, _subsample(phantom.object_points_lps)
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
        result.transform, phantom.truth, _subsample(phantom.object_points_lps)
    )
    assert error_mm < 1.0
    assert error_deg < 1.0


def test_global_correlation_is_misled_by_the_csf_inversion(phantom: PhantomPair) -> None:
    # CSF is the largest structure and is bright on T2w, dark on T1w: a metric
    # rewarding a positive linear relation prefers to slide CSF off CSF.
    settings = RegistrationSettings(metric="correlation", max_displacement_mm=1000.0)
    result = register_t1w_to_t2w(phantom.t2w, phantom.t1w, settings, subject="ph")
    error_mm, _ = transform_error(result.transform, phantom.truth, _subsample(phantom.object_points_lps))
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
    demo = pytest.importorskip("spinetumor.demo.jobs")
    paths = demo.write_subject(tmp_path, 2, 0)
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
    start_mm, _ = transform_error(sitk.Euler3DTransform(), truth, _subsample(cord_lps))
    error_mm, error_deg = transform_error(result.transform, truth, _subsample(cord_lps))
    assert start_mm > 2.0
    assert error_mm < 1.0
    assert error_deg < 1.0


# --------------------------------------------------------------- 2. outputs, I/O


def test_run_registration_writes_consistent_outputs(phantom: PhantomPair, tmp_path: Path) -> None:
    out_image = tmp_path / "out" / "sub-ph_space-T2w_T1w.nii.gz"
    out_tfm = tmp_path / "out" / "sub-ph_from-T2w_to-T1w_xfm.tfm"
    out_png = tmp_path / "out" / "sub-ph_qc.png"
    out_json = tmp_path / "out" / "sub-ph_registration.json"
    summary = run_registration(
        phantom.t2w,
        phantom.t1w,
        out_image,
        out_tfm,
        out_png,
        RegistrationSettings(stages=("rigid",)),
        subject="ph",
        out_summary=out_json,
    )

    t2w, image = nib.load(phantom.t2w), nib.load(out_image)
    assert image.shape == t2w.shape
    np.testing.assert_allclose(image.affine, t2w.affine, atol=1e-5)
    assert image.get_data_dtype() == np.float32
    transform = sitk.ReadTransform(str(out_tfm))
    moved = np.asarray(transform.TransformPoint((1.0, 2.0, 3.0)))
    assert np.linalg.norm(moved - (1.0, 2.0, 3.0)) > 1.0  # the phantom's 3 mm shift, not identity
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out_png.stat().st_size > 10_000
    assert json.loads(out_json.read_text())["metric"] == "mattes"
    assert summary["transform_type"] == "Euler3DTransform"
    assert summary["rigid_rotation_deg"] == pytest.approx(TRUTH_ANGLE_DEG, abs=1.0)
    assert sorted(p.name for p in out_image.parent.iterdir()) == sorted(
        [out_image.name, out_tfm.name, out_png.name, out_json.name]
    )  # no temporary files left behind


def test_resampling_puts_each_voxel_at_its_world_position(tmp_path: Path) -> None:
    # A bright cube at a known RAS point on an RAS grid, resampled onto a PSR
    # grid: the cube must land where the T2w affine says that point is.
    moving = np.zeros((40, 40, 40), np.float32)
    moving[18:23, 8:13, 28:33] = 100.0  # voxel centre (20, 10, 30)
    moving_affine = np.diag([1.0, 1.0, 1.0, 1.0])
    moving_affine[:3, 3] = (-20.0, -20.0, -20.0)
    cube_ras = np.array([0.0, -10.0, 10.0])
    fixed_affine = _sagittal_affine(
        (50, 50, 20), np.array([[0.0, 0, 1], [-1, 0, 0], [0, 1, 0]]), (0.8, 0.8, 2.0), np.zeros(3)
    )
    nib.save(nib.Nifti1Image(moving, moving_affine), tmp_path / "moving.nii.gz")
    nib.save(nib.Nifti1Image(np.zeros((50, 50, 20), np.int16), fixed_affine), tmp_path / "fixed.nii.gz")

    def centroid_ras(transform: sitk.Transform) -> np.ndarray:
        out = resample_to_t2w(tmp_path / "moving.nii.gz", tmp_path / "fixed.nii.gz", transform)
        data = np.asarray(out.dataobj)
        np.testing.assert_allclose(out.affine, fixed_affine, atol=1e-6)
        ijk = (np.argwhere(data > 0) * data[data > 0][:, None]).sum(0) / data[data > 0].sum()
        return fixed_affine[:3, :3] @ ijk + fixed_affine[:3, 3]

    np.testing.assert_allclose(centroid_ras(sitk.Euler3DTransform()), cube_ras, atol=0.3)
    # A T2w point p is looked up at p + d (LPS) in the T1w, so the cube shows
    # at (cube - d) in LPS: d = (2, 0, 3) moves it 2 mm right (+x in RAS) and
    # 3 mm down.
    shift = sitk.TranslationTransform(3, (2.0, 0.0, 3.0))
    np.testing.assert_allclose(centroid_ras(shift), cube_ras + np.array([2.0, 0.0, -3.0]), atol=0.3)


def test_single_volume_4d_and_int16_inputs(tmp_path: Path) -> None:
    pair = make_phantom_pair(tmp_path, rigid_lps((0.0, 0.0, 0.0), (1.0, 0.0, 0.0)), t1w_4d=True)
    assert nib.load(pair.t1w).ndim == 4 and nib.load(pair.t2w).get_data_dtype() == np.int16
    settings = RegistrationSettings(stages=("rigid",), shrink_factors=(2, 1), smoothing_sigmas_mm=(1.0, 0.0))
    result = register_t1w_to_t2w(pair.t2w, pair.t1w, settings, subject="4d")
    assert result.t1w_on_t2w.shape == nib.load(pair.t2w).shape
    assert result.t1w_on_t2w.get_data_dtype() == np.float32
    error_mm, _ = transform_error(result.transform, pair.truth, _subsample(pair.object_points_lps))
    assert error_mm < 1.0


def test_same_seed_same_result(phantom: PhantomPair) -> None:
    settings = RegistrationSettings(
        stages=("rigid",), shrink_factors=(4,), smoothing_sigmas_mm=(2.0,), sampling_percentage=0.05
    )
    first = register_t1w_to_t2w(phantom.t2w, phantom.t1w, settings)
    second = register_t1w_to_t2w(phantom.t2w, phantom.t1w, settings)
    assert first.transform.GetParameters() == second.transform.GetParameters()


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
    dice_headers = _dice(np.asarray(headers.dataobj), t2w_cord)
    dice_registered = _dice(np.asarray(registered.dataobj), t2w_cord)
    print(
        f"sub-{subject}: cord Dice headers {dice_headers:.3f}, registered {dice_registered:.3f}, "
        f"{result.seconds:.1f} s"
    )
    # sub-unf01's two masks are the same file on the same grid (Dice 1 before);
    # sub-errsm30's overlap about 0.85 before (README).
    assert dice_registered >= dice_headers - 0.05


# ------------------------------------------------- 4. capture range on real pairs
#
# The real T1w header is moved rigidly about the T1w's centre; the truth is
# that motion after the registration of the unmoved pair (which the checks
# above compare with the manual cord masks). The residual is the largest
# distance between the found and true transforms at the T2w cord voxels.
# "Headers only" would be 7-26 mm off at the cord for these offsets.


def moved_t1w(t1w: Path, out: Path, rotation_deg, translation_mm, crop_mm=None) -> sitk.Transform:
    """Write ``t1w`` with its header moved rigidly about its centre (RAS), optionally cropped first.

    Args:
        t1w: T1w NIfTI.
        out: Output NIfTI.
        rotation_deg: Euler angles (deg) about the RAS axes.
        translation_mm: RAS shift (mm).
        crop_mm: Keep only this extent (mm) per voxel axis around the centre
            (None: all), making the T2w's field of view several times the T1w's.

    Returns:
        The motion as a fixed-to-moving transform in ITK LPS: a point x of
        the old T1w world lies at ``motion(x)`` in the new one.
    """
    image = nib.load(t1w)
    if crop_mm is not None:
        size = np.asarray(image.shape[:3])
        keep = np.minimum(size, np.round(np.asarray(crop_mm) / image.header.get_zooms()[:3]).astype(int))
        first = (size - keep) // 2
        image = image.slicer[tuple(slice(f, f + k) for f, k in zip(first, keep, strict=True))]
    centre = image.affine[:3, :3] @ ((np.asarray(image.shape[:3]) - 1) / 2) + image.affine[:3, 3]
    euler = sitk.Euler3DTransform()
    euler.SetRotation(*np.radians(rotation_deg))
    rotation = np.asarray(euler.GetMatrix()).reshape(3, 3)
    motion = np.eye(4)
    motion[:3, :3] = rotation
    motion[:3, 3] = centre - rotation @ centre + np.asarray(translation_mm, dtype=float)
    nib.save(nib.Nifti1Image(np.asarray(image.dataobj), motion @ image.affine, image.header), out)
    flip = np.diag([-1.0, -1.0, 1.0, 1.0])
    motion_lps = flip @ motion @ flip
    truth = sitk.AffineTransform(3)
    truth.SetMatrix(motion_lps[:3, :3].ravel().tolist())
    truth.SetTranslation(motion_lps[:3, 3].tolist())
    return truth


@dataclass
class RealPair:
    t2w: Path
    t1w: Path
    cord_lps: np.ndarray  # T2w cord-mask voxel centres (ITK LPS mm)
    reference: sitk.Transform  # registration of the unmoved pair


@pytest.fixture(scope="module", params=["errsm30", "unf01"])
def real_pair(request: pytest.FixtureRequest) -> RealPair:
    """A real pair and the registration of its unmoved images, once per module (or a skip)."""
    from tests import conftest

    real_spine = conftest.REAL_SPINE
    if not real_spine.is_dir():
        pytest.skip(f"real data not found at {real_spine} (../shared must sit beside the repo)")
    subject = request.param
    anat = real_spine / f"sub-{subject}" / "anat"
    t2w, t1w = anat / f"sub-{subject}_T2w.nii.gz", anat / f"sub-{subject}_T1w.nii.gz"
    labels = real_spine / "derivatives" / "labels" / f"sub-{subject}" / "anat"
    cord = nib.load(labels / f"sub-{subject}_T2w_seg-manual.nii.gz")
    cord_ras = np.argwhere(np.asarray(cord.dataobj) > 0) @ cord.affine[:3, :3].T + cord.affine[:3, 3]
    result = register_t1w_to_t2w(t2w, t1w, RegistrationSettings(), subject=subject)
    assert result.ok, result.failures
    return RealPair(t2w, t1w, cord_ras @ LPS, result.transform)


# (rotation deg, translation mm) in RAS. The second is the issue's 12 mm case
# that ended 11.4 mm off on sub-errsm30; the third is 10 deg and 15 mm. The
# 16 mm-thick axial sub-unf01 slab tilted by 8 deg leaves a thin wedge of
# overlap: that case ends 0.7-1.1 mm off with the default seed and 3.5 mm
# with others (benchmarks/RESULTS.md), so its large motions here are in-plane.
OFFSETS = {
    "errsm30": [((4, -3, 2), (3, -4, 5)), ((8, 5, -4), (6, 6, -8)), ((10, -10, 10), (15, -15, 10))],
    "unf01": [((4, -3, 2), (3, -4, 5)), ((2, -2, 10), (15, -15, 3))],
}


def _residual_mm(pair: RealPair, t1w: Path, motion: sitk.Transform, reference=None) -> tuple[float, float]:
    """(headers-only error, residual after registration), mm, at the T2w cord voxels."""
    truth = sitk.CompositeTransform([motion, reference or pair.reference])  # the reference first
    result = register_t1w_to_t2w(pair.t2w, t1w, RegistrationSettings(), subject="moved")
    assert result.ok, result.failures
    start, _ = transform_error(sitk.Euler3DTransform(), truth, pair.cord_lps)
    residual, _ = transform_error(result.transform, truth, pair.cord_lps)
    return start, residual


def test_real_pairs_recover_rigid_offsets_up_to_10_deg_and_15_mm(real_pair: RealPair, tmp_path: Path) -> None:
    subject = real_pair.t2w.name.split("_")[0].removeprefix("sub-")
    for rotation, translation in OFFSETS[subject]:
        motion = moved_t1w(real_pair.t1w, tmp_path / "t1w.nii.gz", rotation, translation)
        start, residual = _residual_mm(real_pair, tmp_path / "t1w.nii.gz", motion)
        print(f"sub-{subject} {rotation} deg {translation} mm: {start:.1f} mm at the cord -> {residual:.2f}")
        assert start > 5.0
        assert residual < 1.0, (rotation, translation)


def test_real_t1w_covering_a_small_part_of_the_t2w(real_pair: RealPair, tmp_path: Path) -> None:
    # Clinical T1w often cover less than the T2w: the T1w cut to a block
    # with a fifth to a sixth of the T2w's field of view, moved by 7-15 mm at
    # the cord. A small block fits the T2w a little differently (the neck
    # bends between series), so the truth starts from the unmoved block's
    # registration, which must stay near the whole T1w's.
    subject = real_pair.t2w.name.split("_")[0].removeprefix("sub-")
    crop_mm, offsets = {
        # T2w 60 x 55 x 52 mm
        "errsm30": ((30, 30, 30), [((4, -3, 2), (3, -4, 5)), ((8, 5, -4), (6, 6, -8))]),
        # T2w 131 x 141 x 16 mm
        "unf01": ((64, 64, 16), [((1, -1, 8), (5, -6, 2))]),
    }[subject]
    t2w = nib.load(real_pair.t2w)
    assert np.prod(t2w.shape) * np.prod(t2w.header.get_zooms()) > 4 * np.prod(crop_mm)
    moved_t1w(real_pair.t1w, tmp_path / "block.nii.gz", (0, 0, 0), (0, 0, 0), crop_mm)
    block = register_t1w_to_t2w(real_pair.t2w, tmp_path / "block.nii.gz", RegistrationSettings(), subject)
    assert block.ok, block.failures
    assert transform_error(block.transform, real_pair.reference, real_pair.cord_lps)[0] < 1.5
    for rotation, translation in offsets:
        motion = moved_t1w(real_pair.t1w, tmp_path / "t1w.nii.gz", rotation, translation, crop_mm)
        start, residual = _residual_mm(real_pair, tmp_path / "t1w.nii.gz", motion, block.transform)
        print(f"sub-{subject} block {crop_mm}, {rotation} {translation} mm: {start:.1f} -> {residual:.2f}")
        assert start > 5.0
        assert residual < 1.0


def test_failed_registration_is_flagged_in_summary_and_qc(real_spine: Path, tmp_path: Path) -> None:
    # A "T1w" of smooth noise on the real T1w's grid: nothing to match.
    anat = real_spine / "sub-errsm30" / "anat"
    t1w = nib.load(anat / "sub-errsm30_T1w.nii.gz")
    rng = np.random.default_rng(0)
    from scipy import ndimage

    noise = ndimage.gaussian_filter(rng.normal(size=t1w.shape), 3) * 1000 + 500
    nib.save(nib.Nifti1Image(noise.astype(np.float32), t1w.affine), tmp_path / "noise.nii.gz")
    out = tmp_path / "out"
    summary = run_registration(
        anat / "sub-errsm30_T2w.nii.gz",
        tmp_path / "noise.nii.gz",
        out / "t1w.nii.gz",
        out / "xfm.tfm",
        out / "qc.png",
        RegistrationSettings(),
        subject="noise",
        out_summary=out / "t1w.json",
    )
    assert summary["registration_ok"] is False and summary["failure_reasons"]
    assert json.loads((out / "t1w.json").read_text())["registration_ok"] is False
    import matplotlib.image

    rgb = matplotlib.image.imread(out / "qc.png")[..., :3]
    red = (rgb[..., 0] > 0.8) & (rgb[..., 1] < 0.2) & (rgb[..., 2] < 0.2)
    assert red.mean() > 0.05  # the red frame and banner


def test_huge_offset_is_flagged(real_pair: RealPair, tmp_path: Path) -> None:
    # 25 deg and 40 mm: beyond the search, and beyond what a session moves.
    moved_t1w(real_pair.t1w, tmp_path / "t1w.nii.gz", (25, 0, 0), (0, 40, 0))
    result = register_t1w_to_t2w(real_pair.t2w, tmp_path / "t1w.nii.gz", RegistrationSettings(), "far")
    assert not result.ok


def test_registration_table_puts_failures_first(tmp_path: Path) -> None:
    base = {
        "metric": "mattes",
        "final_metric_value": -0.2,
        "rigid_translation_mm_lps": [3.0, 4.0, 0.0],
        "rigid_rotation_deg": 2.0,
        "transform_type": "Euler3DTransform",
        "seconds": 1.5,
    }
    (tmp_path / "a.json").write_text(json.dumps({**base, "registration_ok": True, "failure_reasons": []}))
    (tmp_path / "b.json").write_text(
        json.dumps({**base, "registration_ok": False, "failure_reasons": ["one", "two"]})
    )
    summaries = {"sub-a": tmp_path / "a.json", "sub-b": tmp_path / "b.json"}
    table = registration_table(summaries, tmp_path / "r.tsv")
    written = pd.read_csv(tmp_path / "r.tsv", sep="\t", keep_default_na=False)
    assert written["unit"].tolist() == ["sub-b", "sub-a"] == table["unit"].tolist()
    assert written["registration_ok"].tolist() == [False, True]
    assert written["failure_reasons"].tolist() == ["one; two", ""]
    assert written["rigid_translation_mm"].tolist() == [5.0, 5.0]


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


# ---------------------------------------------------------- settings and maths


def test_settings_from_config() -> None:
    assert RegistrationSettings.from_config(None) == RegistrationSettings()
    settings = RegistrationSettings.from_config(
        {"metric": "ANTS_CC", "shrink_factors": [2, 1], "smoothing_sigmas_mm": [1, 0], "learning_rate": 2}
    )
    assert settings.metric == "ants_cc"
    assert settings.shrink_factors == (2, 1) and settings.smoothing_sigmas_mm == (1.0, 0.0)
    assert settings.learning_rate == 2.0 and settings.mattes_bins == 32
    with pytest.raises(ValueError, match="metric 'mutual_info' is unknown"):
        RegistrationSettings.from_config({"metric": "mutual_info"})
    with pytest.raises(ValueError, match="stages"):
        RegistrationSettings.from_config({"stages": ["affine", "rigid"]})
    with pytest.raises(ValueError, match="equal length"):
        RegistrationSettings.from_config({"shrink_factors": [4, 2, 1], "smoothing_sigmas_mm": [1, 0]})
    with pytest.raises(ValueError, match="mattes_bins"):
        RegistrationSettings.from_config({"mattes_bins": 32.5})


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


def test_the_schema_defaults_are_the_settings_defaults() -> None:
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    keys = schema["properties"]["registration"]["properties"]
    code = RegistrationSettings()
    for key, spec in keys.items():
        default = spec["default"]
        assert getattr(code, key) == (tuple(default) if isinstance(default, list) else default), key
    # Every failure check and the search can be set from the config.
    assert {"search_range_mm", "max_displacement_mm", "min_overlap", "min_mutual_information"} <= set(keys)
