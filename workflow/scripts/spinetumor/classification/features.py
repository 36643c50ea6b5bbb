"""Measured lesion features for the transparent tumour-type classifier (torch-free).

From one unit's label map (the reference for training subjects, the
segmentation model's prediction for test subjects), its T2w and its T1w on
the T2w grid, and its cord mask, all on the native T2w grid:

* ``tumor_mm3``, ``edema_mm3``, ``cavity_mm3``, ``whole_mm3``: volumes;
* ``tumor_fraction``: tumour core volume over the whole lesion's;
* ``t1w_enhancement``: mean T1w in the tumour core over the mean T1w of the
  cord outside the lesion (gadolinium uptake: weak in astrocytomas, moderate
  in ependymomas, intense in haemangioblastoma nodules);
* ``t2w_ratio``: the same ratio on the T2w;
* ``has_cavity``, ``has_edema``: 1 when present, else 0;
* ``extent_mm``: the whole lesion's extent along the superior-inferior world
  axis (voxel centres plus one voxel).

A ratio without tumour or without lesion-free cord is NaN; the classifier
decides what to do with it (:data:`FEATURES` lists the columns in order).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import nibabel as nib
import numpy as np

from spinetumor import LABELS
from spinetumor.io import voxel_sizes

__all__ = ["FEATURES", "lesion_features"]

#: The features, in column order.
FEATURES: tuple[str, ...] = (
    "tumor_mm3",
    "edema_mm3",
    "cavity_mm3",
    "whole_mm3",
    "tumor_fraction",
    "t1w_enhancement",
    "t2w_ratio",
    "has_cavity",
    "has_edema",
    "extent_mm",
)


def _ratio(image: np.ndarray, inside: np.ndarray, reference: np.ndarray) -> float:
    if not inside.any() or not reference.any():
        return math.nan
    denominator = float(image[reference].mean())
    return float(image[inside].mean()) / denominator if denominator else math.nan


def _extent_si(mask: np.ndarray, affine: np.ndarray) -> float:
    """Extent of ``mask`` along world z (superior), voxel centres plus one voxel's z-length."""
    if not mask.any():
        return 0.0
    z = np.asarray(affine)[2, :3] @ np.vstack(np.nonzero(mask)) + np.asarray(affine)[2, 3]
    return float(z.max() - z.min() + np.abs(np.asarray(affine)[2, :3]).max())


def lesion_features(images: Mapping[str, nib.Nifti1Image]) -> dict[str, float]:
    """:data:`FEATURES` of one unit.

    Args:
        images: ``dseg`` (0 background, :data:`spinetumor.LABELS`), ``T2w``,
            ``T1w`` (on the T2w grid) and ``cord`` (mask), on one grid.

    Raises:
        ValueError: images on different grids (shape or affine).
    """
    dseg_img = images["dseg"]
    shape, affine = dseg_img.shape, np.asarray(dseg_img.affine, dtype=np.float64)
    for name, img in images.items():
        if img.shape != shape or not np.allclose(img.affine, affine, atol=1e-3):
            raise ValueError(f"{name} is not on the label map's grid ({img.shape} vs {shape})")
    dseg = np.asarray(dseg_img.dataobj)
    t2w, t1w = (images[c].get_fdata(dtype=np.float32) for c in ("T2w", "T1w"))
    voxel = float(np.prod(voxel_sizes(affine)))
    masks = {name: dseg == value for name, value in LABELS.items()}
    whole = dseg > 0
    normal_cord = (np.asarray(images["cord"].dataobj) > 0) & ~whole
    volumes = {f"{name}_mm3": float(mask.sum() * voxel) for name, mask in masks.items()}
    return {
        **volumes,
        "whole_mm3": float(whole.sum() * voxel),
        "tumor_fraction": float(masks["tumor"].sum() / whole.sum()) if whole.any() else math.nan,
        "t1w_enhancement": _ratio(t1w, masks["tumor"], normal_cord),
        "t2w_ratio": _ratio(t2w, masks["tumor"], normal_cord),
        "has_cavity": float(masks["cavity"].any()),
        "has_edema": float(masks["edema"].any()),
        "extent_mm": _extent_si(whole, affine),
    }
