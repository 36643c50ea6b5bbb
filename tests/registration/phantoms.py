"""Test data of the registration tests (and its benchmarks): an analytic phantom pair and real pairs.

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

Real pairs (``../shared/data/real-spine``) are moved by rewriting the T1w's
header (:func:`moved_t1w`), so that the truth is known.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import SimpleITK as sitk

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


def sagittal_affine(
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
    t2w_affine = sagittal_affine(t2w_shape, psr, t2w_spacing, np.zeros(3))
    t2w_points = _voxel_points(t2w_shape, t2w_affine, t2w_spacing[2])
    t2w = phantom_intensity(t2w_points, 0).mean(-1)
    # T1w: axes anterior, superior, left, field of view shifted by a few mm.
    asl = np.array([[0.0, 0, -1], [1, 0, 0], [0, 1, 0]])
    t1w_affine = sagittal_affine(t1w_shape, asl, t1w_spacing, np.array([1.5, -2.0, 3.0]))
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


TRUTH = ((3.0, 0.0, 3.0), (2.0, -1.5, 2.0))  # 3 deg about L-R and S-I, 3.2 mm
# Rz(a) Rx(a) has trace cos^2 a + 2 cos a, hence its angle (about 4.24 deg).
TRUTH_ANGLE_DEG = float(
    np.degrees(np.arccos((np.cos(np.radians(3)) ** 2 + 2 * np.cos(np.radians(3)) - 1) / 2))
)


def subsample(points: np.ndarray, n: int = 8000) -> np.ndarray:
    """Every k-th point, so that at most about ``n`` remain."""
    return points[:: max(1, len(points) // n)]


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice overlap of two masks thresholded at 0.5."""
    a, b = a > 0.5, b > 0.5
    return 2.0 * float((a & b).sum()) / float(a.sum() + b.sum())


# ------------------------------------------------------------------- real pairs


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


def real_paths(real_spine: Path, subject: str) -> tuple[Path, Path, np.ndarray]:
    """A real subject's T2w, T1w, and T2w cord-mask voxel centres (ITK LPS mm)."""
    anat = real_spine / f"sub-{subject}" / "anat"
    t2w, t1w = anat / f"sub-{subject}_T2w.nii.gz", anat / f"sub-{subject}_T1w.nii.gz"
    labels = real_spine / "derivatives" / "labels" / f"sub-{subject}" / "anat"
    cord = nib.load(labels / f"sub-{subject}_T2w_seg-manual.nii.gz")
    cord_ras = np.argwhere(np.asarray(cord.dataobj) > 0) @ cord.affine[:3, :3].T + cord.affine[:3, 3]
    return t2w, t1w, cord_ras @ LPS
