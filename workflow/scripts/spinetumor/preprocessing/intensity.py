"""Intensity steps: one image channel in, one out; label maps are never touched.

Each contrast is its own channel, so statistics never mix T1w and T2w.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import SimpleITK as sitk
import torch
from monai.data import MetaTensor
from monai.transforms import AdjustContrast, NormalizeIntensity, ScaleIntensity

from spinetumor.io import voxel_sizes
from spinetumor.preprocessing.volumes import Stack

__all__ = ["apply_intensity", "n4_correct"]

logger = logging.getLogger(__name__)

# N4 fits a cubic B-spline, which needs at least order + 1 = 4 samples per axis;
# thin axes (a few thick sagittal slices) are shrunk less rather than below that.
_N4_MIN_SHRUNK_VOXELS = 4


def _gamma(channel: MetaTensor, step: Mapping[str, Any], threads: int) -> MetaTensor:
    return AdjustContrast(gamma=step["gamma"])(channel)


def _scale_intensity(channel: MetaTensor, step: Mapping[str, Any], threads: int) -> MetaTensor:
    return ScaleIntensity(minv=step["minv"], maxv=step["maxv"])(channel)


def _zscore(channel: MetaTensor, step: Mapping[str, Any], threads: int) -> MetaTensor:
    return NormalizeIntensity(nonzero=step["nonzero"])(channel)


def _clip_percentiles(channel: MetaTensor, step: Mapping[str, Any], threads: int) -> MetaTensor:
    values = channel.detach().cpu().numpy()
    sample = values[values != 0] if step["nonzero"] else values.ravel()
    if sample.size == 0:
        return channel
    low, high = np.percentile(sample, [step["lower"], step["upper"]])
    return channel.clamp(float(low), float(high))


def _n4(channel: MetaTensor, step: Mapping[str, Any], threads: int) -> MetaTensor:
    spacing = voxel_sizes(np.asarray(channel.affine))
    corrected = n4_correct(
        channel[0].detach().cpu().numpy(),
        spacing,
        shrink_factor=step["shrink_factor"],
        iterations=step["iterations"],
        convergence=step["convergence"],
        mask=step["mask"],
        threads=threads,
    )
    out = channel.clone()
    out[0] = torch.as_tensor(corrected)
    return out


def _n4_mask(image: sitk.Image, how: str) -> sitk.Image:
    # N4 works on log intensities, so non-positive voxels can never be in the mask.
    positive = image > 0
    if how == "otsu":
        # insideValue=0, outsideValue=1: the bright side of Otsu's threshold is 1.
        mask = sitk.OtsuThreshold(image, 0, 1) * positive
        if sitk.GetArrayViewFromImage(mask).any():
            return sitk.Cast(mask, sitk.sitkUInt8)
        logger.warning("n4: empty Otsu mask, falling back to all positive voxels")
    return sitk.Cast(positive, sitk.sitkUInt8)


def n4_correct(
    volume: np.ndarray,
    spacing: Sequence[float],
    *,
    shrink_factor: int = 4,
    iterations: Sequence[int] = (50, 50, 30),
    convergence: float = 0.001,
    mask: str = "otsu",
    threads: int = 1,
) -> np.ndarray:
    """N4 bias-field correction fitted on a shrunk copy, applied at full resolution.

    Args:
        volume: 3D array (any axis order; ``spacing`` must follow it).
        spacing: Voxel sizes in mm along the array axes.
        shrink_factor: Subsampling factor for the fit; an axis is never shrunk below
            4 voxels.
        iterations: Maximum iterations per fitting level (its length is the number
            of levels).
        convergence: Convergence threshold of each level.
        mask: ``"otsu"`` (bright side of Otsu's threshold) or ``"nonzero"``;
            non-positive voxels are always excluded.
        threads: Threads for SimpleITK.

    Returns:
        Float32 array: ``volume / exp(log_bias)``; unchanged if no voxel is positive.
    """
    image = sitk.GetImageFromArray(np.ascontiguousarray(volume.transpose(2, 1, 0), dtype=np.float32))
    image.SetSpacing([float(s) for s in spacing])
    shrink = [max(1, min(shrink_factor, size // _N4_MIN_SHRUNK_VOXELS)) for size in image.GetSize()]
    small = sitk.Shrink(image, shrink)
    # The mask is only used by the fit, so it is thresholded on the shrunk image
    # (same Otsu threshold up to sampling, a fraction of the cost).
    fit_mask = _n4_mask(small, mask)
    if not sitk.GetArrayViewFromImage(fit_mask).any():
        logger.warning("n4: no positive voxel, volume left unchanged")
        return np.asarray(volume, dtype=np.float32)
    corrector = sitk.N4BiasFieldCorrectionImageFilter()
    corrector.SetMaximumNumberOfIterations([int(n) for n in iterations])
    corrector.SetConvergenceThreshold(float(convergence))
    corrector.SetNumberOfThreads(int(threads))
    corrector.Execute(small, fit_mask)
    # The B-spline bias lives in physical space, so it can be evaluated on the
    # full-resolution grid even though it was fitted on the shrunk one.
    log_bias = corrector.GetLogBiasFieldAsImage(image)
    corrected = image / sitk.Exp(log_bias)
    return sitk.GetArrayFromImage(corrected).transpose(2, 1, 0).astype(np.float32)


_INTENSITY: dict[str, Callable[[MetaTensor, Mapping[str, Any], int], MetaTensor]] = {
    "gamma": _gamma,
    "n4": _n4,
    "scale_intensity": _scale_intensity,
    "zscore": _zscore,
    "clip_percentiles": _clip_percentiles,
}


def apply_intensity(stack: Stack, step: Mapping[str, Any], threads: int) -> None:
    """Run one intensity step on each image channel on its own (labels are left alone)."""
    fn = _INTENSITY[step["name"]]
    # Each contrast is its own channel: statistics must never mix T1w and T2w.
    channels = [fn(stack.images[c : c + 1], step, threads) for c in range(stack.images.shape[0])]
    stack.images = MetaTensor(
        torch.cat([_plain(ch) for ch in channels], dim=0),
        affine=stack.images.affine,
    )


def _plain(channel: torch.Tensor) -> torch.Tensor:
    # Re-wrapping MetaTensors would carry their metadata and trigger MONAI's
    # "affine will be overwritten" warning; the stack's affine is set explicitly.
    tensor = channel.as_tensor() if isinstance(channel, MetaTensor) else channel
    return tensor.to(torch.float32)
