"""Shared helpers of the preprocessing tests: grids, phantoms and measures in world coordinates."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

from spinetumor.io import save_nifti
from spinetumor.preprocessing.preprocessing import preprocess_volumes
from spinetumor.preprocessing.volumes import SubjectVolumes

_WORLD_AXIS = {"R": (0, 1.0), "L": (0, -1.0), "A": (1, 1.0), "P": (1, -1.0), "S": (2, 1.0), "I": (2, -1.0)}

#: A 2x2x2 volume holding 0..7, for hand-computed intensity steps.
RAMP8 = np.arange(8, dtype=np.float32).reshape(2, 2, 2)

NATIVE_GRIDS = {
    # sagittal acquisitions: thick slices along R-L, two different non-RAS layouts
    "PSR": ((0.6, 0.6, 3.7), (160, 200, 16)),
    "LPS": ((3.7, 0.6, 0.6), (16, 160, 200)),
}


def make_affine(
    axcodes: str,
    zooms: tuple[float, float, float],
    shape: tuple[int, int, int],
    centre: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> np.ndarray:
    """Affine with the given axis codes and voxel sizes whose grid centre lies at ``centre``."""
    affine = np.eye(4)
    affine[:3, :3] = 0.0
    for axis, code in enumerate(axcodes):
        world, sign = _WORLD_AXIS[code]
        affine[world, axis] = sign * zooms[axis]
    middle = (np.asarray(shape) - 1) / 2.0
    affine[:3, 3] = np.asarray(centre) - affine[:3, :3] @ middle
    return affine


def world(affine: np.ndarray, ijk: np.ndarray) -> np.ndarray:
    return affine[:3, :3] @ np.asarray(ijk, dtype=float) + affine[:3, 3]


def img(data: np.ndarray, affine: np.ndarray) -> nib.Nifti1Image:
    return nib.Nifti1Image(np.asarray(data), affine)


def arr(image: nib.Nifti1Image) -> np.ndarray:
    return np.asanyarray(image.dataobj)


def world_centroid(image: nib.Nifti1Image, value: int = 1) -> np.ndarray:
    return world(image.affine, np.argwhere(arr(image) == value).mean(axis=0))


def ramp(affine: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A linear function of world coordinates: trilinear interpolation reproduces it exactly."""
    ijk = np.indices(shape).reshape(3, -1).astype(float)
    xyz = affine[:3, :3] @ ijk + affine[:3, 3:4]
    return (2.0 * xyz[0] - 1.0 * xyz[1] + 0.5 * xyz[2] + 10.0).reshape(shape).astype(np.float32)


def assert_ramp_preserved(before: nib.Nifti1Image, after: nib.Nifti1Image) -> None:
    """Output voxels that map inside the input grid must carry the ramp at their world position."""
    out_shape = after.shape
    expected = ramp(after.affine, out_shape)
    to_input = np.linalg.solve(before.affine, after.affine)
    ijk = np.indices(out_shape).reshape(3, -1).astype(float)
    coords = to_input[:3, :3] @ ijk + to_input[:3, 3:4]
    upper = np.asarray(before.shape)[:, None] - 1
    inside = np.all((coords >= -1e-6) & (coords <= upper + 1e-6), axis=0).reshape(out_shape)
    assert inside.sum() > 0.3 * inside.size
    np.testing.assert_allclose(arr(after)[inside], expected[inside], atol=2e-3 * np.abs(expected).max())


def ellipsoid(
    affine: np.ndarray, shape: tuple[int, int, int], centre: np.ndarray, radii_mm: tuple[float, float, float]
) -> np.ndarray:
    """Binary ellipsoid defined in world (RAS) coordinates."""
    ijk = np.indices(shape).reshape(3, -1).astype(float)
    xyz = affine[:3, :3] @ ijk + affine[:3, 3:4]
    r = (((xyz - np.asarray(centre)[:, None]) / np.asarray(radii_mm)[:, None]) ** 2).sum(axis=0)
    return (r <= 1.0).reshape(shape).astype(np.uint8)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(bool), b.astype(bool)
    return 2.0 * (a & b).sum() / (a.sum() + b.sum())


def hausdorff_mm(a: np.ndarray, b: np.ndarray, zooms: np.ndarray) -> float:
    """Symmetric Hausdorff distance between two masks (largest boundary displacement)."""
    a, b = a.astype(bool), b.astype(bool)
    to_b = ndimage.distance_transform_edt(~b, sampling=zooms)
    to_a = ndimage.distance_transform_edt(~a, sampling=zooms)
    return float(max(to_b[a].max(), to_a[b].max()))


def single_step(name: str, **params) -> list[dict]:
    return [{"name": name, **params}]


def oblique(affine: np.ndarray, degrees: float) -> np.ndarray:
    t = np.deg2rad(degrees)
    rot = np.eye(4)
    rot[:2, :2] = [[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]
    return rot @ affine


def run_intensity(steps, t2w=RAMP8, t1w=None, dseg=None):
    affine = np.diag([0.5, 0.5, 3.0, 1.0])
    vols = SubjectVolumes(
        img(t2w, affine),
        None if t1w is None else img(t1w, affine),
        None if dseg is None else img(dseg, affine),
        None,
    )
    return preprocess_volumes(vols, steps)


def native_case(axcodes: str):
    zooms, shape = NATIVE_GRIDS[axcodes]
    affine = make_affine(axcodes, zooms, shape, centre=(2.0, -5.0, 30.0))
    lesion = ellipsoid(affine, shape, centre=np.array([3.0, -1.0, 38.0]), radii_mm=(11.0, 13.0, 26.0))
    body = ellipsoid(affine, shape, centre=np.array([2.0, -5.0, 30.0]), radii_mm=(40.0, 42.0, 70.0))
    t2w = (80.0 * body + 60.0 * lesion + 5.0).astype(np.float32)
    return affine, shape, lesion, t2w


def write_subject(tmp_path: Path, shift_t1w: bool = False):
    affine, shape, lesion, t2w = native_case("PSR")
    t1_affine = affine.copy()
    if shift_t1w:
        t1_affine[:3, 3] += 0.5
    paths = {
        "T2w": save_nifti(t2w.astype(np.int16), affine, tmp_path / "sub-01_T2w.nii.gz"),
        "T1w": save_nifti((t2w * 0.5).astype(np.int16), t1_affine, tmp_path / "sub-01_T1w.nii.gz"),
        "dseg": save_nifti(lesion, affine, tmp_path / "sub-01_dseg.nii.gz"),
        "cord": save_nifti(lesion, affine, tmp_path / "sub-01_cord.nii.gz"),
    }
    return affine, shape, paths
