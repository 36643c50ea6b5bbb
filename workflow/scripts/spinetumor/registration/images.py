"""Reading images with SimpleITK, writing them back as NIfTI, and resampling onto the T2w grid.

Transforms follow ITK: they map points of the fixed (T2w) physical space to
the moving (T1w) physical space, in ITK's LPS millimetres.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import nibabel as nib
import numpy as np
import SimpleITK as sitk

from spinetumor.io import atomic_path, load_nifti

__all__ = [
    "check_geometry",
    "last_line",
    "read_header",
    "read_image",
    "resample_onto",
    "resample_to_t2w",
    "sitk_threads",
    "to_nifti",
    "write_transform",
]

logger = logging.getLogger(__name__)

_INTERPOLATORS: dict[str, int] = {"linear": sitk.sitkLinear, "nearest": sitk.sitkNearestNeighbor}


def read_image(path: Path, subject: str, role: str) -> sitk.Image:
    """Read a 3D (or single-volume 4D) image as float32 with SimpleITK.

    Args:
        path: NIfTI file.
        subject: Subject label, for error messages.
        role: ``"T2w"``, ``"T1w"``... for error messages.

    Returns:
        The 3D float32 image with its physical geometry.

    Raises:
        ValueError: the file is missing or unreadable, or is not one 3D volume.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"sub-{subject}: {role} image {path} does not exist")
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise ValueError(f"sub-{subject}: cannot read {role} image {path}: {last_line(exc)}") from exc
    if image.GetDimension() == 4:
        size = list(image.GetSize())
        if size[3] != 1:
            raise ValueError(f"sub-{subject}: {role} image {path} has {size[3]} volumes, expected one")
        image = sitk.Extract(image, size[:3] + [0], [0, 0, 0, 0])
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise ValueError(f"sub-{subject}: {role} image {path} is not a scalar 3D image")
    return sitk.Cast(image, sitk.sitkFloat32)


def read_header(path: Path, subject: str, role: str) -> nib.Nifti1Image:
    """Read a NIfTI with nibabel; the T2w's affine and shape define the output grid."""
    try:
        return load_nifti(path)
    except (FileNotFoundError, ValueError) as exc:
        raise ValueError(f"sub-{subject}: cannot read {role} image {path}: {exc}") from exc


def last_line(exc: BaseException) -> str:
    """ITK exceptions carry a long trace; the last non-empty line says what went wrong."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def check_geometry(image: sitk.Image, affine: np.ndarray, path: Path) -> None:
    """Warn when SimpleITK and nibabel disagree on where the voxels are.

    They can when a file's sform and qform differ; the output is written with
    nibabel's affine, which the rest of the pipeline uses.
    """
    lps_to_ras = np.diag([-1.0, -1.0, 1.0])
    direction = np.asarray(image.GetDirection()).reshape(3, 3)
    itk_linear = lps_to_ras @ direction @ np.diag(image.GetSpacing())
    itk_origin = lps_to_ras @ np.asarray(image.GetOrigin())
    gap = max(np.abs(itk_linear - affine[:3, :3]).max(), np.abs(itk_origin - affine[:3, 3]).max())
    if gap > 1e-3:
        logger.warning(
            "%s: SimpleITK and nibabel geometries differ by %.3g (sform/qform mismatch?)", path, gap
        )


def to_nifti(image: sitk.Image, affine: np.ndarray, dtype: np.dtype | type = np.float32) -> nib.Nifti1Image:
    """Wrap a SimpleITK image lying on a NIfTI's grid as a NIfTI with that affine.

    ``GetArrayFromImage`` returns (z, y, x) while nibabel indexes (x, y, z);
    both keep the file's voxel order, so a transpose is all it takes.
    """
    data = np.ascontiguousarray(sitk.GetArrayFromImage(image).transpose(2, 1, 0))
    if np.dtype(dtype).kind in "iu":
        data = np.rint(data)
    out = nib.Nifti1Image(data.astype(dtype, copy=False), affine)
    out.set_sform(affine, code=1)
    out.set_qform(affine, code=1)
    return out


@contextlib.contextmanager
def sitk_threads(threads: int) -> Iterator[None]:
    """Use ``threads`` for every SimpleITK filter inside the block, then restore."""
    previous = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
    try:
        yield
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(previous)


def resample_onto(
    moving: sitk.Image, fixed: sitk.Image, transform: sitk.Transform, interpolator: int = sitk.sitkLinear
) -> sitk.Image:
    """Resample ``moving`` on the grid of ``fixed`` through ``transform`` (0 outside).

    Args:
        moving: Image to resample (T1w or a T1w-space mask).
        fixed: Image defining the output grid (T2w).
        transform: Fixed-to-moving physical transform.
        interpolator: ``sitk.sitkLinear`` for images, ``sitk.sitkNearestNeighbor``
            for label maps.

    Returns:
        The resampled image, with the pixel type of ``moving``.
    """
    return sitk.Resample(moving, fixed, transform, interpolator, 0.0, moving.GetPixelID())


def resample_to_t2w(
    moving: Path,
    t2w: Path,
    transform: sitk.Transform,
    interpolation: str = "linear",
    subject: str = "",
) -> nib.Nifti1Image:
    """Bring a T1w-space image or label map onto the T2w grid.

    Args:
        moving: T1w-space NIfTI (the T1w itself, a mask or a label map).
        t2w: T2w NIfTI; the output has its affine and 3D shape.
        transform: T2w-to-T1w physical transform, as returned by
            :func:`register_t1w_to_t2w` or read from its ``.tfm`` file.
        interpolation: ``"linear"`` (float32 output) or ``"nearest"`` (label
            maps; the output keeps the file's on-disk data type).
        subject: Subject label, used in messages.

    Returns:
        The resampled image.

    Raises:
        ValueError: an image cannot be read or ``interpolation`` is unknown.
    """
    if interpolation not in _INTERPOLATORS:
        raise ValueError(f"interpolation must be one of {sorted(_INTERPOLATORS)}, got {interpolation!r}")
    reference = read_header(Path(t2w), subject, "T2w")
    dtype = np.float32
    if interpolation == "nearest":
        dtype = read_header(Path(moving), subject, "T1w-space").get_data_dtype()
    fixed = read_image(Path(t2w), subject, "T2w")
    moving_image = read_image(Path(moving), subject, "T1w-space")
    resampled = resample_onto(moving_image, fixed, transform, _INTERPOLATORS[interpolation])
    return to_nifti(resampled, reference.affine, dtype)


def write_transform(transform: sitk.Transform, path: Path) -> None:
    """Write an ITK transform file atomically (the temporary name keeps ``.tfm``)."""
    with atomic_path(path) as tmp:
        sitk.WriteTransform(transform, str(tmp))
