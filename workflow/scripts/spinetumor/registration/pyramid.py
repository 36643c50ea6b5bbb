"""The image pyramid shared by every stage, and where on the T2w the metric may sample.

The image pyramid is built here rather than by ``ImageRegistrationMethod``,
whose shrink factors are isotropic in voxels: on a sagittal 0.6 x 0.6 x 3.7 mm
scan a factor of 4 would leave a handful of 15 mm slices. Each axis is binned
only as far as needed to approach ``factor x finest spacing``.

The T2w's zero filling outside the acquired field of view (blocks of exact
zeros of at least 1 cm^3, as in sub-unf01) is left out of the metric: it has
no counterpart in the T1w, and once smoothed it makes false edges. Scattered
zero voxels of dark background are image, not filling.

The metric samples only the T2w that the T1w can come to cover (its field of
view through the header alignment, widened by the search range): a T2w field
of view several times the T1w's costs nothing.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from spinetumor.registration.settings import RegistrationSettings

__all__ = [
    "Level",
    "build_pyramid",
    "check_level",
    "fixed_centre",
    "footprint",
    "mask_centre",
    "overlap_centre",
]

logger = logging.getLogger(__name__)

#: Coarse pyramid levels keep at least this many voxels along every axis.
_MIN_LEVEL_SIZE = 8
#: Smallest block of exact zeros taken for zero filling (mm^3).
_MIN_FILLING_MM3 = 1000.0
#: Fewest T2w voxels the T1w must cover on a level for the search to use it.
_MIN_COVERED = 1_000
#: Largest pyramid level (T2w voxels) on which results are compared and checked.
_MAX_CHECK_VOXELS = 1_000_000


@dataclass(frozen=True)
class Level:
    """One pyramid level: images, and where the metric may sample the T2w.

    Attributes:
        fixed: Binned and smoothed T2w.
        moving: Binned and smoothed T1w.
        mask: uint8 mask on the ``fixed`` grid, or None for everywhere.
        kept_fraction: Fraction of ``fixed`` inside ``mask``.
    """

    fixed: sitk.Image
    moving: sitk.Image
    mask: sitk.Image | None
    kept_fraction: float


def build_pyramid(fixed: sitk.Image, moving: sitk.Image, settings: RegistrationSettings) -> list[Level]:
    """Pyramid levels from coarse to fine, shared by every stage.

    Both images go towards ``factor x`` the finest T2w spacing, so a T1w on a
    finer grid costs no more than the T2w. A level's mask keeps the T2w
    voxels that the T1w may come to cover (its field of view widened by the
    search range); with ``ignore_fixed_zeros``, only those whose smoothing
    footprint lies wholly in the non-zero part of the T2w: blurred zero
    filling would make false edges.
    """
    finest = min(fixed.GetSpacing())
    nonzero = _not_zero_filling(fixed)
    use_zeros_mask = settings.ignore_fixed_zeros and _mask_is_useful(nonzero)
    margin = 2 * settings.search_range_mm
    levels = []
    for factor, sigma in zip(settings.shrink_factors, settings.smoothing_sigmas_mm, strict=True):
        fixed_level = _downsample(fixed, factor * finest, sigma)
        moving_level = _downsample(moving, factor * finest, sigma)
        mask = footprint(moving, fixed_level, margin)
        if use_zeros_mask:
            inside = sitk.GreaterEqual(_downsample(nonzero, factor * finest, sigma), 0.999)
            mask = sitk.And(mask, sitk.Cast(inside, sitk.sitkUInt8))
        kept = float(sitk.GetArrayViewFromImage(mask).mean())
        if kept < 0.01:  # nothing left to sample: fall back to the whole level
            logger.warning("the T1w field of view barely overlaps the T2w; the metric samples all of it")
            mask, kept = None, 1.0
        elif kept > 0.999:
            mask, kept = None, 1.0
        levels.append(Level(fixed_level, moving_level, mask, kept))
    return _informative(levels, moving)


def _informative(levels: list[Level], moving: sitk.Image) -> list[Level]:
    """``levels`` without the coarse ones on which the T1w covers fewer than ``_MIN_COVERED`` T2w voxels.

    On a level that coarse the metric cannot tell vertebral levels apart: a
    T1w block of 42 x 40 x 32 mm covers 840 voxels of 4 mm, where a match one
    vertebra off scored better than the truth (2 mm voxels ranked them
    right), so the search started there missed. The finest level is always kept.
    """
    covered = [int(sitk.GetArrayFromImage(footprint(moving, level.fixed, 0.0)).sum()) for level in levels]
    first = next((i for i, n in enumerate(covered) if n >= _MIN_COVERED), len(levels) - 1)
    if first:
        logger.info(
            "the T1w covers only %d T2w voxels of the coarsest level: it starts at level %d",
            covered[0],
            first,
        )
    return levels[first:]


def _level_shrink(image: sitk.Image, target_mm: float) -> list[int]:
    """Per-axis bin factors that bring each spacing towards ``target_mm``.

    A thick-slice axis is left alone when it is already coarser than the
    target, and no axis is binned below ``_MIN_LEVEL_SIZE`` voxels.
    """
    shrink = []
    for size, spacing in zip(image.GetSize(), image.GetSpacing(), strict=True):
        factor = max(1, math.floor(target_mm / spacing + 1e-6))
        shrink.append(min(factor, max(1, size // _MIN_LEVEL_SIZE)))
    return shrink


def _smooth(image: sitk.Image, sigma_mm: float) -> sitk.Image:
    """Gaussian smoothing with a physical sigma (sampled kernel: exact for sub-voxel sigmas too)."""
    if sigma_mm <= 0:
        return image
    return sitk.DiscreteGaussian(
        image, variance=sigma_mm**2, maximumKernelWidth=64, maximumError=0.01, useImageSpacing=True
    )


def _downsample(image: sitk.Image, target_mm: float, sigma_mm: float) -> sitk.Image:
    """One pyramid level: bin-average towards ``target_mm`` voxels, then smooth.

    Binning first keeps the smoothing of large images cheap, and bin averaging
    also anti-aliases levels whose sigma is 0.
    """
    shrink = _level_shrink(image, target_mm)
    if max(shrink) > 1:
        image = sitk.BinShrink(image, shrink)
    return _smooth(image, sigma_mm)


def _not_zero_filling(fixed: sitk.Image) -> sitk.Image:
    """float32 mask, 0 on the T2w's zero filling and 1 elsewhere.

    Zero filling is a connected block of exact zeros of at least
    ``_MIN_FILLING_MM3``; dark background quantised to 0 in scattered voxels
    (1.6 % of sub-errsm30's T2w, in blobs of at most 49 voxels) is image, not
    filling: masking it out with the smoothing margin left 13 % of the
    coarsest level to the metric, and the optimiser nearly blind.
    """
    voxel_mm3 = float(np.prod(fixed.GetSpacing()))
    components = sitk.ConnectedComponent(sitk.Equal(fixed, 0.0))
    filling = sitk.RelabelComponent(components, minimumObjectSize=math.ceil(_MIN_FILLING_MM3 / voxel_mm3))
    return sitk.Cast(sitk.Equal(filling, 0), sitk.sitkFloat32)


def _mask_is_useful(nonzero: sitk.Image) -> bool:
    """True when the T2w has zero filling to ignore, and enough else to register."""
    kept = float(sitk.GetArrayViewFromImage(nonzero).mean())
    if kept < 0.05:
        logger.warning("only %.1f %% of the T2w is non-zero; the metric will use zeros too", 100 * kept)
    return 0.05 <= kept < 1.0


def footprint(moving: sitk.Image, grid: sitk.Image, margin_mm: float) -> sitk.Image:
    """uint8 mask on ``grid`` of the moving field of view, widened by ``margin_mm`` on every side.

    The field of view is taken through the header alignment; the margin is
    the distance the search may move it, so every T2w voxel the T1w can come
    to cover is kept, and none of a T2w field of view several times larger.
    """
    spacing = np.asarray(moving.GetSpacing())
    pad = np.ceil(margin_mm / spacing).astype(int)
    direction = np.asarray(moving.GetDirection()).reshape(3, 3)
    box = sitk.Image([int(n) for n in np.asarray(moving.GetSize()) + 2 * pad], sitk.sitkUInt8) + 1
    box.SetSpacing(moving.GetSpacing())
    box.SetDirection(moving.GetDirection())
    box.SetOrigin(tuple(np.asarray(moving.GetOrigin()) - direction @ (pad * spacing)))
    return sitk.Resample(box, grid, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)


def fixed_centre(fixed: sitk.Image) -> tuple[float, ...]:
    """Physical centre of the fixed image's field of view."""
    return tuple(fixed.TransformContinuousIndexToPhysicalPoint([(s - 1) / 2.0 for s in fixed.GetSize()]))


def mask_centre(mask: sitk.Image) -> tuple[float, ...]:
    """Physical centre of a uint8 mask's voxels (of its image when empty)."""
    inside = np.argwhere(sitk.GetArrayViewFromImage(mask) > 0)
    if len(inside) == 0:
        return fixed_centre(mask)
    return tuple(mask.TransformContinuousIndexToPhysicalPoint(inside.mean(axis=0)[::-1].tolist()))


def overlap_centre(fixed: sitk.Image, moving: sitk.Image) -> tuple[float, ...]:
    """Centre of the part of the T2w that the T1w covers (header alignment): the rotation centre.

    Rotating about the middle of what both images see keeps angles and
    translations apart even when the T2w's field of view is several times
    the T1w's; without overlap, the T2w's centre.
    """
    return mask_centre(footprint(moving, fixed, 0.0))


def check_level(pyramid: Sequence[Level]) -> Level:
    """The finest level of at most ``_MAX_CHECK_VOXELS`` T2w voxels (else the coarsest).

    Results are compared and checked there: regular sampling, which keeps
    evaluations reproducible, walks every voxel (0.4 s for 512 x 512 x 16).
    """
    small = [level for level in pyramid if level.fixed.GetNumberOfPixels() <= _MAX_CHECK_VOXELS]
    return small[-1] if small else pyramid[0]
