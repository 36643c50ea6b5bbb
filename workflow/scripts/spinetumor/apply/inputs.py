"""The scans given to ``spinetumor predict``: checked before anything runs, and the outputs' names (torch-free)."""

from __future__ import annotations

import os
from pathlib import Path

import nibabel as nib
import numpy as np

__all__ = ["InputError", "check_image", "output_stem"]


class InputError(ValueError):
    """A scan that cannot be segmented: the file and the problem."""


def check_image(path: str | os.PathLike[str] | None, contrast: str) -> Path:
    """``path`` after checking that it is a readable 3D NIfTI image.

    Args:
        path: The image, or None when the option was not given.
        contrast: ``T2w`` or ``T1w``, for messages.

    Raises:
        InputError: no file given, no such file, not NIfTI, not 3D, or empty.
    """
    if path is None:
        raise InputError(f"the model needs a {contrast} image; give it with --{contrast.lower()}")
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{contrast} {path}: no such file")
    try:
        img = nib.load(path)
    except Exception as exc:  # nibabel raises several types for a file it cannot read
        raise InputError(f"{contrast} {path}: not a NIfTI image ({exc})") from exc
    if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
        raise InputError(f"{contrast} {path}: not a NIfTI image ({type(img).__name__})")
    if len(img.shape) != 3:
        raise InputError(
            f"{contrast} {path}: a {len(img.shape)}D image of shape {img.shape}; give one 3D volume"
        )
    if min(img.shape) < 1 or not np.isfinite(np.asarray(img.affine)).all():
        raise InputError(f"{contrast} {path}: empty image or unusable affine")
    return path


def output_stem(t2w: str | os.PathLike[str]) -> str:
    """The outputs' name stem, from the T2w's file name: ``sub-01_T2w.nii.gz`` -> ``sub-01``."""
    name = Path(t2w).name
    for suffix in (".nii.gz", ".nii"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return name.removesuffix("_T2w") or name
