"""NIfTI and table I/O that never leaves a half-written file behind."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

__all__ = ["atomic_path", "load_nifti", "save_nifti", "write_json", "voxel_sizes"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` and move it into place on success.

    The temporary file keeps the final suffix (``.nii.gz`` included), so writers
    that infer the format from the name still work. On error the temporary file
    is removed and ``path`` is left untouched.

    Args:
        path: Final destination.

    Yields:
        The temporary path to write to.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(final.suffixes) or ".tmp"
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name.split('.')[0]}.", suffix=suffix, dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp creates 0600 files; give the result the usual umask-based mode.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()


def load_nifti(path: str | os.PathLike[str]) -> nib.Nifti1Image:
    """Load a NIfTI-1/2 file as a ``Nifti1Image`` (data stays lazy).

    Args:
        path: ``.nii`` or ``.nii.gz`` file.

    Returns:
        The image.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file cannot be read as NIfTI.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: file not found")
    try:
        img = nib.load(str(path))
    except Exception as exc:  # nibabel raises many types for corrupt files
        raise ValueError(f"{path}: not a readable NIfTI file ({exc})") from exc
    if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
        raise ValueError(f"{path}: not a NIfTI image ({type(img).__name__})")
    return img


def save_nifti(
    data: np.ndarray,
    affine: np.ndarray,
    path: str | os.PathLike[str],
    *,
    dtype: np.dtype | type | None = None,
    header: nib.Nifti1Header | None = None,
) -> Path:
    """Write ``data`` with ``affine`` atomically, as a NIfTI-1 file.

    Both the sform and qform are set to ``affine`` (code 1, scanner), so every
    reader agrees on the geometry.

    Args:
        data: Array to write.
        affine: 4x4 voxel-to-world (RAS+, mm) matrix.
        path: Destination (``.nii.gz`` recommended).
        dtype: On-disk data type; defaults to ``data.dtype``.
        header: Optional header to copy fields (e.g. units) from.

    Returns:
        The destination path.
    """
    arr = np.asarray(data)
    if dtype is not None:
        arr = arr.astype(dtype, copy=False)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    hdr = header.copy() if header is not None else None
    img = nib.Nifti1Image(arr, np.asarray(affine, dtype=float), header=hdr)
    img.set_data_dtype(arr.dtype)
    img.set_sform(affine, code=1)
    img.set_qform(affine, code=1)
    img.header.set_xyzt_units("mm", "sec")
    if hdr is None or arr.dtype.kind in "biu":
        img.header.set_slope_inter(1.0, 0.0)
    with atomic_path(path) as tmp:
        nib.save(img, str(tmp))
    return Path(path)


def write_json(obj: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")
    return Path(path)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


def voxel_sizes(affine: np.ndarray) -> np.ndarray:
    """Voxel edge lengths in mm along each array axis, whatever the orientation.

    Args:
        affine: 4x4 voxel-to-world matrix.

    Returns:
        Array of 3 positive floats (the norms of the affine's columns).
    """
    return np.sqrt((np.asarray(affine, dtype=float)[:3, :3] ** 2).sum(axis=0))
