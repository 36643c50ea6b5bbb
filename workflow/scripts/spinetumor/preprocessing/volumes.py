"""One subject's co-registered volumes, and their life as MetaTensors during a chain.

All volumes of a subject (T2w, T1w, the ``dseg`` lesion map and the cord mask)
live on the T2w grid. During a chain the images (interpolated linearly) and
the label maps (nearest neighbour) are two channel-first MetaTensors on one
grid, whose affine MONAI keeps up to date; at the end they become NIfTI images
again, each with its world affine.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import nibabel as nib
import numpy as np
import torch
from monai.data import MetaTensor

from spinetumor import LABELS
from spinetumor.io import voxel_sizes
from spinetumor.layout import CONTRASTS

__all__ = [
    "IMAGE_KEYS",
    "LABEL_KEYS",
    "SubjectVolumes",
    "Stack",
    "check_grids",
    "stack_volumes",
    "to_images",
    "to_nifti",
]

logger = logging.getLogger(__name__)

#: Output keys of interpolated (intensity) volumes, in channel order.
IMAGE_KEYS: tuple[str, ...] = CONTRASTS
#: Output keys of label volumes (nearest-neighbour), in channel order.
LABEL_KEYS: tuple[str, ...] = ("dseg", "cord")

# Affines of two inputs "share a grid" when they differ by less than this (mm):
# headers written by different tools round the qform/sform differently.
_GRID_ATOL_MM = 1e-3


@dataclass
class SubjectVolumes:
    """One subject's co-registered volumes, all on the T2w grid.

    Attributes:
        t2w: T2-weighted image (defines the native grid).
        t1w: T1-weighted image already resampled onto the T2w grid, or None.
        dseg: Lesion label map (0 background, 1 tumour, 2 edema, 3 cavity), or None.
        cord: Binary spinal cord mask, or None.
    """

    t2w: nib.Nifti1Image
    t1w: nib.Nifti1Image | None = None
    dseg: nib.Nifti1Image | None = None
    cord: nib.Nifti1Image | None = None

    def named(self) -> dict[str, nib.Nifti1Image]:
        """Return the volumes that are present, keyed by output name."""
        pairs = {"T2w": self.t2w, "T1w": self.t1w, "dseg": self.dseg, "cord": self.cord}
        return {key: img for key, img in pairs.items() if img is not None}


@dataclass
class Stack:
    """Images and label maps as two channel-first MetaTensors on one grid."""

    images: MetaTensor
    image_keys: list[str]
    labels: MetaTensor | None
    label_keys: list[str]

    @property
    def affine(self) -> np.ndarray:
        """The grid's voxel-to-world matrix (float64)."""
        return np.asarray(self.images.affine, dtype=np.float64)

    @property
    def shape(self) -> tuple[int, int, int]:
        """The grid's shape."""
        return tuple(int(n) for n in self.images.shape[1:])  # type: ignore[return-value]


def _volume_array(img: nib.Nifti1Image, key: str) -> np.ndarray:
    shape = tuple(img.shape)
    # Tools often write 3D volumes as (X, Y, Z, 1).
    while len(shape) > 3 and shape[-1] == 1:
        shape = shape[:-1]
    if len(shape) != 3:
        raise ValueError(f"{key}: expected a 3D volume, got shape {img.shape}")
    values = np.asarray(img.get_fdata(dtype=np.float32)).reshape(shape)
    if key in IMAGE_KEYS:
        if not np.all(np.isfinite(values)):
            logger.warning("%s: replacing non-finite intensities with 0", key)
            values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
        return values
    if key == "cord":
        return (values > 0.5).astype(np.float32)
    labels = np.rint(values)
    if not np.allclose(values, labels) or labels.min() < 0 or labels.max() > max(LABELS.values()):
        found = np.unique(values)[:10].tolist()
        raise ValueError(f"dseg: labels must be integers in 0..{max(LABELS.values())}, found {found}")
    return labels.astype(np.float32)


def _same_grid(img: nib.Nifti1Image, ref: nib.Nifti1Image) -> bool:
    return img.shape[:3] == ref.shape[:3] and np.allclose(img.affine, ref.affine, atol=_GRID_ATOL_MM)


def _grid_mismatch(name: str, img: nib.Nifti1Image, ref_name: str, ref: nib.Nifti1Image) -> ValueError:
    return ValueError(
        f"{name}: grid {tuple(img.shape[:3])} {''.join(nib.aff2axcodes(img.affine))} "
        f"voxels {np.round(voxel_sizes(img.affine), 3).tolist()} mm does not match the T2w grid "
        f"{tuple(ref.shape[:3])} {''.join(nib.aff2axcodes(ref.affine))} ({ref_name}); "
        "register/resample it onto the T2w grid first"
    )


def check_grids(named: Mapping[str, nib.Nifti1Image], sources: Mapping[str, str] | None = None) -> None:
    """Check that every volume shares the T2w grid.

    Args:
        named: Volumes keyed by output name (``T2w`` among them).
        sources: What to call each volume in the error (e.g. its file); its key by default.

    Raises:
        ValueError: a volume is on another grid (the message names it and both grids).
    """
    sources = sources or {key: key for key in named}
    ref = named["T2w"]
    for key, img in named.items():
        if key != "T2w" and not _same_grid(img, ref):
            raise _grid_mismatch(sources[key], img, sources["T2w"], ref)


def _metatensor(arrays: Sequence[np.ndarray], affine: np.ndarray) -> MetaTensor:
    data = torch.as_tensor(np.stack(arrays, axis=0))
    return MetaTensor(data, affine=torch.as_tensor(affine, dtype=torch.float64))


def stack_volumes(vols: SubjectVolumes) -> Stack:
    """The volumes as two channel-first MetaTensors (images, labels) on the T2w grid."""
    named = vols.named()
    affine = np.asarray(vols.t2w.affine, dtype=np.float64)
    image_keys = [k for k in IMAGE_KEYS if k in named]
    label_keys = [k for k in LABEL_KEYS if k in named]
    images = _metatensor([_volume_array(named[k], k) for k in image_keys], affine)
    labels = _metatensor([_volume_array(named[k], k) for k in label_keys], affine) if label_keys else None
    return Stack(images, image_keys, labels, label_keys)


def to_images(stack: Stack) -> dict[str, nib.Nifti1Image]:
    """The stack's channels as NIfTI images: images float32, labels rounded to uint8."""
    affine = stack.affine
    out: dict[str, nib.Nifti1Image] = {}
    images = stack.images.detach().cpu().numpy().astype(np.float32)
    for c, key in enumerate(stack.image_keys):
        out[key] = to_nifti(images[c], affine)
    if stack.labels is not None:
        labels = np.rint(stack.labels.detach().cpu().numpy()).astype(np.uint8)
        for c, key in enumerate(stack.label_keys):
            out[key] = to_nifti(labels[c], affine)
    return out


def to_nifti(data: np.ndarray, affine: np.ndarray) -> nib.Nifti1Image:
    """A NIfTI image of ``data`` with ``affine`` as its sform and qform, in mm."""
    img = nib.Nifti1Image(data, affine)
    img.set_data_dtype(data.dtype)
    img.set_sform(affine, code=1)
    img.set_qform(affine, code=1)
    img.header.set_xyzt_units("mm", "sec")
    return img
