"""The image-similarity metric and the optimiser of one pyramid level.

* ``"mattes"``: Mattes mutual information. It assumes no intensity relation,
  so CSF being bright on T2w and dark on T1w does not matter.
* ``"correlation"``: global normalised cross-correlation. It assumes a
  positive linear relation, which CSF and discs break; kept for comparison.
* ``"ants_cc"``: ANTs neighbourhood cross-correlation (the paper's metric).
  It squares the local correlation, so locally anti-correlated tissue still
  pulls the right way, but every sample costs a (2r+1)^3 neighbourhood.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import SimpleITK as sitk

from spinetumor.registration.pyramid import Level
from spinetumor.registration.settings import RegistrationSettings

__all__ = ["itk_seed", "level_method", "metric_at"]

#: Smallest optimiser step (about mm of physical shift) before a level stops.
_MIN_STEP = 1e-2
#: Fewest metric samples per level (unless the level has fewer usable voxels).
_MIN_SAMPLES = 5_000


def itk_seed(seed: int) -> int:
    """Map a seed into ITK's non-zero 32-bit range: SimpleITK reads 0 as 'seed from the clock'."""
    return seed % (2**32 - 1) + 1


def _sampling_fraction(settings: RegistrationSettings, n_voxels: int, kept_fraction: float) -> float:
    """Fraction of a level's voxels to sample.

    ``sampling_percentage`` of the voxels the metric may use (those inside the
    mask), but at least ``_MIN_SAMPLES`` so the coarse levels of small or
    mostly zero-filled scans keep a usable histogram, and at most
    ``max_samples`` so large scans stay fast.
    """
    usable = max(n_voxels * kept_fraction, 1.0)
    wanted = min(max(settings.sampling_percentage * usable, _MIN_SAMPLES), settings.max_samples)
    return min(1.0, wanted / usable)


def _configure_metric(
    method: sitk.ImageRegistrationMethod, settings: RegistrationSettings, fraction: float
) -> None:
    """Set the metric and its seeded random sampling of ``fraction`` of the voxels."""
    if settings.metric == "mattes":
        method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=settings.mattes_bins)
    elif settings.metric == "correlation":
        method.SetMetricAsCorrelation()
    else:
        method.SetMetricAsANTSNeighborhoodCorrelation(radius=settings.cc_radius)
    # Gradients at the sampled points only: precomputing gradient images of a
    # 512x512 scan costs more than a whole level with 20,000 samples.
    method.MetricUseFixedImageGradientFilterOff()
    method.MetricUseMovingImageGradientFilterOff()
    if fraction < 1.0:
        method.SetMetricSamplingStrategy(method.RANDOM)
        method.SetMetricSamplingPercentage(fraction, itk_seed(settings.seed))
    else:
        method.SetMetricSamplingStrategy(method.NONE)


def _configure_optimizer(method: sitk.ImageRegistrationMethod, settings: RegistrationSettings) -> None:
    """Regular-step gradient descent whose unit step is about 1 mm of physical shift.

    Physical-shift scales put angles, translations and matrix entries on one
    footing; the step halves whenever the gradient turns back, and a level
    ends once it falls under ``_MIN_STEP``, far below a voxel.
    """
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=settings.learning_rate,
        minStep=_MIN_STEP,
        numberOfIterations=settings.iterations,
        relaxationFactor=0.5,
        gradientMagnitudeTolerance=1e-8,
    )
    method.SetOptimizerScalesFromPhysicalShift()


def level_method(
    level: Level, transform: sitk.Transform, settings: RegistrationSettings
) -> sitk.ImageRegistrationMethod:
    """A registration method for one pyramid level, updating ``transform`` in place."""
    method = sitk.ImageRegistrationMethod()
    method.SetNumberOfThreads(settings.threads)
    fraction = _sampling_fraction(settings, level.fixed.GetNumberOfPixels(), level.kept_fraction)
    _configure_metric(method, settings, fraction)
    if level.mask is not None:
        method.SetMetricFixedMask(level.mask)
    _configure_optimizer(method, settings)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetInitialTransform(transform, inPlace=True)
    return method


def metric_at(
    level: Level,
    transform: sitk.Transform,
    settings: RegistrationSettings,
    offset_mm: Sequence[float] = (0.0, 0.0, 0.0),
) -> float:
    """Metric of ``transform`` followed by a shift, on one level.

    It is evaluated on a new affine copy, with regular sampling: evaluating
    with random sampling, or with a method holding the result itself, made
    later registrations in the same process differ by up to 0.01 mm, not
    reproducibly.
    """
    linear = transform.Downcast()
    copy = sitk.AffineTransform(3)
    copy.SetCenter(linear.GetCenter())
    copy.SetMatrix(linear.GetMatrix())
    copy.SetTranslation(tuple(np.asarray(linear.GetTranslation()) + np.asarray(offset_mm, dtype=float)))
    method = level_method(level, copy, settings)
    method.SetMetricSamplingStrategy(method.REGULAR)
    return float(method.MetricEvaluate(level.fixed, level.moving))
