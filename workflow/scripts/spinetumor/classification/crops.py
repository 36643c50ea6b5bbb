"""The deep classifier's input: one unit's lesion region on a fixed grid.

:func:`lesion_crop`, per unit, on its native T2w grid:

1. the region: the whole lesion's bounding box (labels 1-3 of the label map
   given: the reference for training and validation units, the segmentation
   model's prediction for test units) plus ``margin_mm`` on each side. A
   label map without lesion gives the cord mask's box instead, with a logged
   warning and ``crop_from = "cord"`` in the unit's record; without cord
   either, the unit is an error;
2. the region's images (the ``contrasts``) and lesion mask are reoriented to
   SAR (axes superior-inferior, anterior-posterior, right-left: the sagittal
   slice axis last) and resampled to ``spacing_mm`` (MONAI, as in the
   preprocessing chains: images linear, the mask nearest);
3. each channel is z-scored over the region, then the region is cut or
   zero-padded to ``crop_shape`` around the lesion's centre, so that the
   lesion sits in the middle of every crop;
4. :func:`samples` gives the network's inputs: in 2D every sagittal slice of
   the crop that holds lesion (the centre slice when none does), in 3D the
   crop itself.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import nibabel as nib
import numpy as np
import torch
from monai.data import MetaTensor
from monai.transforms import Orientation, Spacing

from spinetumor.inference.masks import bounding_box
from spinetumor.io import voxel_sizes
from spinetumor.preprocessing.chains import RAS_LABELS

__all__ = ["AXCODES", "LesionCrop", "centre_crop", "lesion_crop", "samples"]

logger = logging.getLogger(__name__)

#: The crop's orientation: superior, anterior, right (sagittal slices along the last axis).
AXCODES = "SAR"


@dataclass
class LesionCrop:
    """One unit's crop.

    Attributes:
        image: ``(channels, *crop_shape)`` float32, z-scored per channel.
        lesion: ``crop_shape`` boolean: the lesion of the label map it was cut from (the cord mask
            when ``crop_from`` is ``cord``).
        crop_from: ``lesion``, or ``cord`` when the label map had no lesion.
    """

    image: np.ndarray
    lesion: np.ndarray
    crop_from: str


def centre_crop(array: np.ndarray, centre: Sequence[int], shape: Sequence[int]) -> np.ndarray:
    """The ``shape`` block of ``array``'s last axes whose middle voxel (``n // 2``) is ``centre``; zero outside."""
    spatial = array.shape[-len(shape) :]
    out = np.zeros((*array.shape[: -len(shape)], *shape), dtype=array.dtype)
    src, dst = [Ellipsis], [Ellipsis]
    for c, n, size in zip(centre, shape, spatial, strict=True):
        start = int(c) - n // 2
        lo, hi = max(start, 0), min(start + n, size)
        if hi <= lo:
            return out
        src.append(slice(lo, hi))
        dst.append(slice(lo - start, hi - start))
    out[tuple(dst)] = array[tuple(src)]
    return out


def _region(unit: str, dseg: np.ndarray, cord: np.ndarray) -> tuple[np.ndarray, str]:
    lesion = dseg > 0
    if lesion.any():
        return lesion, "lesion"
    if not cord.any():
        raise ValueError(f"{unit}: neither lesion nor cord in its label maps: nowhere to crop")
    logger.warning("%s: no lesion in its label map: cropped around its cord mask", unit)
    return cord > 0, "cord"


def _check_grid(unit: str, images: Mapping[str, nib.Nifti1Image]) -> None:
    reference = images["dseg"]
    for name, img in images.items():
        if img.shape != reference.shape or not np.allclose(img.affine, reference.affine, atol=1e-3):
            raise ValueError(
                f"{unit}: {name} is not on the label map's grid ({img.shape} vs {reference.shape})"
            )


def _resampled(stack: np.ndarray, affine: np.ndarray, spacing_mm: Sequence[float], mode: str) -> np.ndarray:
    tensor = MetaTensor(torch.from_numpy(stack), affine=torch.as_tensor(affine, dtype=torch.float64))
    tensor = Orientation(axcodes=AXCODES, labels=RAS_LABELS)(tensor)
    padding = "border" if mode == "bilinear" else "zeros"
    tensor = Spacing(pixdim=spacing_mm, mode=mode, padding_mode=padding, dtype=np.float32)(tensor)
    return np.asarray(tensor.array)


def _zscore(image: np.ndarray) -> np.ndarray:
    mean = image.mean(axis=(1, 2, 3), keepdims=True)
    std = image.std(axis=(1, 2, 3), keepdims=True)
    return ((image - mean) / np.where(std > 0, std, 1.0)).astype(np.float32)


def lesion_crop(
    unit: str,
    images: Mapping[str, nib.Nifti1Image],
    contrasts: Sequence[str],
    spacing_mm: Sequence[float],
    crop_shape: Sequence[int],
    margin_mm: float,
) -> LesionCrop:
    """One unit's crop (see the module's steps).

    Args:
        unit: The unit's id (for messages).
        images: ``dseg`` (the label map to crop around), ``cord`` (mask) and the ``contrasts``, on one grid.
        contrasts: The image channels, in order.
        spacing_mm: The crop's voxel size (superior-inferior, anterior-posterior, right-left).
        crop_shape: The crop's shape, same axes.
        margin_mm: Context around the region's bounding box.

    Raises:
        ValueError: images on different grids, or neither lesion nor cord.
    """
    _check_grid(unit, images)
    dseg_img = images["dseg"]
    mask, crop_from = _region(unit, np.asarray(dseg_img.dataobj), np.asarray(images["cord"].dataobj))
    pad = [int(np.ceil(margin_mm / v)) for v in voxel_sizes(dseg_img.affine)]
    box = bounding_box(mask, pad=pad)
    affine = np.asarray(dseg_img.slicer[box].affine, dtype=np.float64)
    channels = np.stack([images[c].dataobj[box] for c in contrasts]).astype(np.float32)
    image = _zscore(_resampled(channels, affine, spacing_mm, "bilinear"))
    lesion = _resampled(mask[box][None].astype(np.float32), affine, spacing_mm, "nearest")[0] > 0.5
    centre = (
        [(s.start + s.stop - 1) // 2 for s in bounding_box(lesion)]
        if lesion.any()
        else [n // 2 for n in lesion.shape]
    )
    return LesionCrop(
        image=centre_crop(image, centre, crop_shape),
        lesion=centre_crop(lesion, centre, crop_shape),
        crop_from=crop_from,
    )


def samples(crop: LesionCrop, dims: int) -> np.ndarray:
    """The network's inputs of one unit: ``(n, channels, *spatial)``.

    2D: the sagittal slices (last axis) that hold lesion, or the centre slice
    when none does (a lesion lost to resampling, or a crop around the cord).
    """
    if dims == 3:
        return crop.image[None]
    slices = np.flatnonzero(crop.lesion.any(axis=(0, 1))) if crop.crop_from == "lesion" else []
    if not len(slices):
        slices = [crop.image.shape[-1] // 2]
    return np.stack([crop.image[..., k] for k in slices])
