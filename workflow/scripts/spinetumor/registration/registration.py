"""Rigid-then-affine registration of the T1w onto the T2w of the same subject.

Lemay et al. (2021) register the Gd-enhanced T1w onto the sagittal T2w with
an affine transform and a cross-correlation metric (ANTs CC, through SCT's
``sct_register_multimodal``). This module does the same with SimpleITK, with
the image-similarity metric configurable:

* ``"mattes"``: Mattes mutual information. It assumes no intensity relation,
  so CSF being bright on T2w and dark on T1w does not matter.
* ``"correlation"``: global normalised cross-correlation. It assumes a
  positive linear relation, which CSF and discs break; kept for comparison.
* ``"ants_cc"``: ANTs neighbourhood cross-correlation (the paper's metric).
  It squares the local correlation, so locally anti-correlated tissue still
  pulls the right way, but every sample costs a (2r+1)^3 neighbourhood.

The optimisation starts from the headers' (scanner-space) alignment. A
moments-based translation is deliberately not used: it would replace the
scanner's alignment, usually good to a few millimetres, with a guess driven
by the two fields of view. Patients still move between series by several
millimetres and degrees, beyond what gradient descent from the headers
recovers (on sub-errsm30, 8/5/-4 deg with 6/6/-8 mm ended 11 mm off), so the
rigid stage first searches a grid of translations (``search_range_mm``,
``search_step_mm``) on the coarsest level and descends from the best few
points (``search_starts``), keeping the lowest metric among the ends that
keep most of the overlap (mutual information can improve by sliding the
images apart). Rotations are about the centre of the part of the T2w that
the T1w covers, and the metric samples only the T2w that the T1w can come to
cover: a T2w field of view several times the T1w's costs nothing and does
not couple angles with shifts.

The image pyramid is built here rather than by ``ImageRegistrationMethod``,
whose shrink factors are isotropic in voxels: on a sagittal 0.6 x 0.6 x 3.7 mm
scan a factor of 4 would leave a handful of 15 mm slices. Each axis is binned
only as far as needed to approach ``factor x finest spacing``.

The T2w's zero filling outside the acquired field of view (blocks of exact
zeros of at least 1 cm^3, as in sub-unf01) is left out of the metric: it has
no counterpart in the T1w, and once smoothed it makes false edges. Scattered
zero voxels of dark background are image, not filling.

An affine stage that ends with a worse metric than the rigid stage, or
scales the image by more than ``max_scaling_change``, is discarded for the
rigid result (thin slabs leave the affine poorly constrained). The final
result is then checked (:func:`_failures`): too large a motion, too little
overlap kept, too little mutual information, or a flat metric around the
result. A result failing a check is not an error: it is returned and
written with ``registration_ok: false`` and the reasons in its summary, a
red banner on its QC figure, a warning in the log and a row in the study's
registration table, so that it is never passed on silently and the QC
shows what went wrong.

Transforms follow ITK: they map points of the fixed (T2w) physical space to
the moving (T1w) physical space, in ITK's LPS millimetres.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import math
import textwrap
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd
import SimpleITK as sitk

from spinetumor.io import atomic_path, load_nifti, save_nifti, write_json

__all__ = [
    "METRICS",
    "RegistrationResult",
    "RegistrationSettings",
    "StageInfo",
    "qc_figure",
    "register_t1w_to_t2w",
    "registration_table",
    "resample_onto",
    "resample_to_t2w",
    "rigid_parameters",
    "run_registration",
    "transform_error",
]

logger = logging.getLogger(__name__)

#: Metric names accepted by :class:`RegistrationSettings`.
METRICS: tuple[str, ...] = ("mattes", "correlation", "ants_cc")
_STAGES: tuple[str, ...] = ("rigid", "affine")
#: Smallest optimiser step (about mm of physical shift) before a level stops.
_MIN_STEP = 1e-2
#: Coarse pyramid levels keep at least this many voxels along every axis.
_MIN_LEVEL_SIZE = 8
#: Fewest metric samples per level (unless the level has fewer usable voxels).
_MIN_SAMPLES = 5_000
#: Smallest block of exact zeros taken for zero filling (mm^3).
_MIN_FILLING_MM3 = 1000.0
#: Shift (mm) of the result at which the metric must have risen (failure check).
_PEAK_SHIFT_MM = 3.0
#: Largest pyramid level (T2w voxels) on which results are compared and checked.
_MAX_CHECK_VOXELS = 1_000_000
#: Metric samples per point of the search grid.
_GRID_SAMPLES = 5_000
#: Search starts that go on past the coarsest level.
_FINALISTS = 2
#: Search points keeping less than this fraction of the best overlap are not compared.
_MIN_OVERLAP = 0.8
_INTERPOLATORS: dict[str, int] = {"linear": sitk.sitkLinear, "nearest": sitk.sitkNearestNeighbor}


# ---------------------------------------------------------------------- settings


@dataclass(frozen=True)
class RegistrationSettings:
    """Knobs of the T1w-to-T2w registration (the ``registration`` config section).

    Attributes:
        metric: ``"mattes"``, ``"correlation"`` or ``"ants_cc"``.
        mattes_bins: Histogram bins of Mattes mutual information.
        cc_radius: Neighbourhood radius (voxels) of ANTs cross-correlation.
        shrink_factors: Pyramid factors, coarse to fine, relative to the
            finest voxel spacing of the T2w.
        smoothing_sigmas_mm: Gaussian sigma (mm) per pyramid level.
        sampling_percentage: Fraction of the voxels of a level sampled by the
            metric (random, seeded); 1.0 uses every voxel.
        max_samples: Cap on the samples per level, so a 512x512 scan costs
            no more than a small one.
        iterations: Maximum optimiser iterations per level and stage.
        learning_rate: First step of the regular-step gradient descent, in
            about mm of physical shift (the optimiser scales make it so).
        stages: Transform stages in order, an ordered subset of
            ``("rigid", "affine")``.
        max_scaling_change: An affine stage whose matrix scales any direction
            by more than this fraction is discarded for the rigid result (as
            is one that ends with a worse metric than the rigid stage).
        max_displacement_mm: Registration fails when it moves the centre of
            the part of the T2w that the T1w covers more than this from the
            header alignment (same-session scans do not move that much)...
        max_rotation_deg: ... or turns it by more than this.
        min_overlap: Registration fails when it keeps less than this
            fraction of the T2w voxels that the headers put inside the T1w.
        min_peak_contrast: Registration fails when shifting its result by
            3 mm along each axis worsens the metric by less than this
            fraction on average: a flat metric means no anatomy matched.
        min_mutual_information: With ``mattes``, registration fails when the
            final mutual information (nats) is under this.
        ignore_fixed_zeros: Leave the T2w's zero filling (blocks of exact
            zeros outside the acquired field of view, as in cropped or
            reformatted scans) out of the metric: it has no counterpart in
            the T1w.
        search_range_mm: The rigid stage first searches translations up to
            this far from the header alignment (0: no search).
        search_step_mm: Spacing of that search grid.
        search_starts: Descents started from the best points of the grid.
        seed: Seed of the random metric sampling.
        threads: Threads given to SimpleITK (1 makes runs bit-reproducible).
    """

    metric: str = "mattes"
    mattes_bins: int = 32
    cc_radius: int = 2
    shrink_factors: tuple[int, ...] = (4, 2, 1)
    smoothing_sigmas_mm: tuple[float, ...] = (2.0, 1.0, 0.0)
    sampling_percentage: float = 0.25
    max_samples: int = 20_000
    iterations: int = 200
    learning_rate: float = 1.0
    stages: tuple[str, ...] = ("rigid", "affine")
    max_scaling_change: float = 0.05
    max_displacement_mm: float = 30.0
    max_rotation_deg: float = 20.0
    min_overlap: float = 0.25
    min_peak_contrast: float = 0.05
    min_mutual_information: float = 0.04
    ignore_fixed_zeros: bool = True
    search_range_mm: float = 20.0
    search_step_mm: float = 5.0
    search_starts: int = 4
    seed: int = 0
    threads: int = 1

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ValueError(f"registration metric {self.metric!r} is unknown; choose one of {list(METRICS)}")
        if not self.shrink_factors or len(self.shrink_factors) != len(self.smoothing_sigmas_mm):
            raise ValueError(
                "registration shrink_factors and smoothing_sigmas_mm must be non-empty and of equal length, "
                f"got {self.shrink_factors} and {self.smoothing_sigmas_mm}"
            )
        if min(self.shrink_factors) < 1 or min(self.smoothing_sigmas_mm) < 0:
            raise ValueError("registration shrink factors must be >= 1 and smoothing sigmas >= 0")
        if not 0.0 < self.sampling_percentage <= 1.0:
            raise ValueError(
                f"registration sampling_percentage must be in (0, 1], got {self.sampling_percentage}"
            )
        positive = (
            "max_samples",
            "iterations",
            "learning_rate",
            "threads",
            "max_scaling_change",
            "max_displacement_mm",
            "max_rotation_deg",
            "search_step_mm",
            "search_starts",
        )
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"registration {name} must be positive, got {getattr(self, name)}")
        if (
            self.search_range_mm < 0
            or not 0 <= self.min_overlap <= 1
            or min(self.min_peak_contrast, self.min_mutual_information) < 0
        ):
            raise ValueError(
                "registration search_range_mm, min_overlap, min_peak_contrast and min_mutual_information "
                "must be >= 0 (min_overlap <= 1)"
            )
        if self.mattes_bins < 4 or self.cc_radius < 1:
            raise ValueError("registration mattes_bins must be >= 4 and cc_radius >= 1")
        ordered = [s for s in _STAGES if s in self.stages]
        if not self.stages or list(self.stages) != ordered:
            raise ValueError(
                f"registration stages must be an ordered subset of {list(_STAGES)}, got {self.stages}"
            )

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None) -> RegistrationSettings:
        """Build settings from a config mapping; missing keys keep their defaults.

        Args:
            cfg: The ``registration`` section of the config (``None`` gives
                the defaults). Lists become tuples; unknown keys are ignored
                with a warning, since the config schema is the gatekeeper.

        Returns:
            The validated settings.

        Raises:
            ValueError: the metric is unknown or a value has the wrong type or
                range.
        """
        cfg = dict(cfg or {})
        defaults = {f.name: f.default for f in fields(cls)}
        unknown = sorted(set(cfg) - set(defaults))
        if unknown:
            logger.warning("ignoring unknown registration settings: %s", ", ".join(unknown))
        kwargs = {
            name: _cast_like(name, value, defaults[name]) for name, value in cfg.items() if name in defaults
        }
        if "metric" in kwargs:
            kwargs["metric"] = kwargs["metric"].lower()
        return cls(**kwargs)


def _cast_like(name: str, value: Any, default: Any) -> Any:
    """Cast a YAML value to the type of the field's default (YAML writes 1 for 1.0)."""
    try:
        if isinstance(default, tuple):
            items = value if isinstance(value, (list, tuple)) else [value]
            return tuple(_cast_scalar(item, type(default[0])) for item in items)
        return _cast_scalar(value, type(default))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"registration setting {name}={value!r}: {exc}") from exc


def _cast_scalar(value: Any, kind: type) -> Any:
    if kind is bool:
        if not isinstance(value, bool):
            raise TypeError("expected true or false")
        return value
    if kind is int and (isinstance(value, bool) or float(value) != int(float(value))):
        raise ValueError("expected an integer")
    if kind is str and not isinstance(value, str):
        raise TypeError("expected a string")
    return kind(int(float(value))) if kind is int else kind(value)


# ----------------------------------------------------------------------- results


@dataclass(frozen=True)
class StageInfo:
    """What one transform stage did.

    Attributes:
        stage: ``"rigid"`` or ``"affine"``.
        metric_value: Metric at the end of the finest level (lower is better).
        iterations: Optimiser iterations per pyramid level.
        stop_conditions: Optimiser stop description per level.
        seconds: Wall time of the stage.
        accepted: False when the stage's result failed a sanity check and the
            previous stage's transform was kept.
    """

    stage: str
    metric_value: float
    iterations: tuple[int, ...]
    stop_conditions: tuple[str, ...]
    seconds: float
    accepted: bool = True


@dataclass
class RegistrationResult:
    """Outcome of :func:`register_t1w_to_t2w`.

    Attributes:
        transform: Maps T2w physical points (ITK LPS mm) to T1w physical points.
        t1w_on_t2w: The T1w resampled on the T2w grid (float32, linear), with
            the T2w file's affine and 3D shape.
        metric: Metric name.
        metric_value: Final metric value of the last accepted stage (lower is
            better).
        seconds: Wall time of the optimisation (reading and resampling excluded).
        stages: One :class:`StageInfo` per stage.
        failures: Why the result failed the checks (empty when it passed):
            the transform and image are still returned, for the QC figure.
    """

    transform: sitk.Transform
    t1w_on_t2w: nib.Nifti1Image
    metric: str
    metric_value: float
    seconds: float
    stages: list[StageInfo] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the result passed every check."""
        return not self.failures


# --------------------------------------------------------------------------- I/O


def _read_image(path: Path, subject: str, role: str) -> sitk.Image:
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
        raise ValueError(f"sub-{subject}: cannot read {role} image {path}: {_last_line(exc)}") from exc
    if image.GetDimension() == 4:
        size = list(image.GetSize())
        if size[3] != 1:
            raise ValueError(f"sub-{subject}: {role} image {path} has {size[3]} volumes, expected one")
        image = sitk.Extract(image, size[:3] + [0], [0, 0, 0, 0])
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise ValueError(f"sub-{subject}: {role} image {path} is not a scalar 3D image")
    return sitk.Cast(image, sitk.sitkFloat32)


def _read_header(path: Path, subject: str, role: str) -> nib.Nifti1Image:
    """Read a NIfTI with nibabel; the T2w's affine and shape define the output grid."""
    try:
        return load_nifti(path)
    except (FileNotFoundError, ValueError) as exc:
        raise ValueError(f"sub-{subject}: cannot read {role} image {path}: {exc}") from exc


def _last_line(exc: BaseException) -> str:
    """ITK exceptions carry a long trace; the last non-empty line says what went wrong."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def _check_geometry(image: sitk.Image, affine: np.ndarray, path: Path) -> None:
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


def _to_nifti(image: sitk.Image, affine: np.ndarray, dtype: np.dtype | type = np.float32) -> nib.Nifti1Image:
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
def _sitk_threads(threads: int) -> Iterator[None]:
    """Use ``threads`` for every SimpleITK filter inside the block, then restore."""
    previous = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
    try:
        yield
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(previous)


# ----------------------------------------------------------------------- pyramid


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


@dataclass(frozen=True)
class _Level:
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


def _footprint(moving: sitk.Image, grid: sitk.Image, margin_mm: float) -> sitk.Image:
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


def _pyramid(fixed: sitk.Image, moving: sitk.Image, settings: RegistrationSettings) -> list[_Level]:
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
        mask = _footprint(moving, fixed_level, margin)
        if use_zeros_mask:
            inside = sitk.GreaterEqual(_downsample(nonzero, factor * finest, sigma), 0.999)
            mask = sitk.And(mask, sitk.Cast(inside, sitk.sitkUInt8))
        kept = float(sitk.GetArrayViewFromImage(mask).mean())
        if kept < 0.01:  # nothing left to sample: fall back to the whole level
            logger.warning("the T1w field of view barely overlaps the T2w; the metric samples all of it")
            mask, kept = None, 1.0
        elif kept > 0.999:
            mask, kept = None, 1.0
        levels.append(_Level(fixed_level, moving_level, mask, kept))
    return levels


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


# ---------------------------------------------------------------- optimisation


def _fixed_centre(fixed: sitk.Image) -> tuple[float, ...]:
    """Physical centre of the fixed image's field of view."""
    return tuple(fixed.TransformContinuousIndexToPhysicalPoint([(s - 1) / 2.0 for s in fixed.GetSize()]))


def _overlap_centre(fixed: sitk.Image, moving: sitk.Image) -> tuple[float, ...]:
    """Centre of the part of the T2w that the T1w covers (header alignment): the rotation centre.

    Rotating about the middle of what both images see keeps angles and
    translations apart even when the T2w's field of view is several times
    the T1w's; without overlap, the T2w's centre.
    """
    return _mask_centre(_footprint(moving, fixed, 0.0))


def _initial_transform(
    stage: str, centre: Sequence[float], previous: sitk.Transform | None
) -> sitk.Transform:
    """A transform of kind ``stage`` about ``centre`` equal to ``previous``, or to the identity."""
    if stage == "rigid":
        rigid = sitk.Euler3DTransform()
        rigid.SetCenter(tuple(centre))
        return rigid
    affine = sitk.AffineTransform(3)
    affine.SetCenter(tuple(centre))
    if previous is not None:
        euler = sitk.Euler3DTransform(previous)
        affine.SetCenter(euler.GetCenter())
        affine.SetMatrix(euler.GetMatrix())
        affine.SetTranslation(euler.GetTranslation())
    return affine


def _itk_seed(seed: int) -> int:
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
        method.SetMetricSamplingPercentage(fraction, _itk_seed(settings.seed))
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


def _method(
    level: _Level, transform: sitk.Transform, settings: RegistrationSettings
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


def _grid_starts(
    method: sitk.ImageRegistrationMethod,
    level: _Level,
    overlap_mm: np.ndarray,
    settings: RegistrationSettings,
) -> list:
    """Rigid parameters of the best few points of a translation grid, best first.

    The metric is sampled every ``search_step_mm`` within ``search_range_mm``
    of the current transform on the coarsest level, and along each axis no
    further than half the images' overlap (``overlap_mm``, the extent in ITK
    physical axes), so a thin slab is not slid off its partner. Mutual information can
    improve by sliding the images apart, so only points that keep most of the
    best overlap compete; the starts kept are the lowest values at least two
    steps apart, so that they lie in different basins.
    """
    usable = max(level.fixed.GetNumberOfPixels() * level.kept_fraction, 1.0)
    if _GRID_SAMPLES < usable:
        method.SetMetricSamplingStrategy(method.RANDOM)
        method.SetMetricSamplingPercentage(_GRID_SAMPLES / usable, _itk_seed(settings.seed))
    most = round(settings.search_range_mm / settings.search_step_mm)
    steps = [max(0, min(most, int(half / settings.search_step_mm))) for half in overlap_mm / 2]
    method.SetOptimizerAsExhaustive([0, 0, 0, *steps], stepLength=settings.search_step_mm)
    method.SetOptimizerScales([1.0] * 6)
    grid: list[tuple[float, int, tuple[float, ...]]] = []
    method.AddCommand(
        sitk.sitkIterationEvent,
        lambda: grid.append(
            (
                method.GetMetricValue(),
                method.GetMetricNumberOfValidPoints(),
                tuple(method.GetOptimizerPosition()),
            )
        ),
    )
    method.Execute(level.fixed, level.moving)
    most = max(valid for _, valid, _ in grid)
    candidates = sorted(
        (value, position)
        for value, valid, position in grid
        if math.isfinite(value) and valid >= _MIN_OVERLAP * most
    )
    starts: list[np.ndarray] = []
    for _, position in candidates:
        point = np.asarray(position)
        if all(np.abs(point[3:] - s[3:]).max() >= 2 * settings.search_step_mm - 1e-6 for s in starts):
            starts.append(point)
        if len(starts) == settings.search_starts:
            break
    return starts


def _overlap_extent(level: _Level, moving: sitk.Image) -> np.ndarray:
    """How far (mm) the T1w can slide along each ITK physical axis and still cover the T2w overlap.

    The overlap (T2w voxels inside the T1w field of view) is measured along
    the T2w's own axes; a shift along a physical axis crosses grid axis j at
    the rate of their direction cosine, so an oblique thin slab is as thin
    along the physical axis nearest its normal.
    """
    inside = np.argwhere(sitk.GetArrayViewFromImage(_footprint(moving, level.fixed, 0.0)) > 0)[:, ::-1]
    if len(inside) == 0:
        return np.zeros(3)
    spacing = np.asarray(level.fixed.GetSpacing())
    extent = (inside.max(axis=0) - inside.min(axis=0) + 1) * spacing  # along grid axes j
    cosines = np.abs(np.asarray(level.fixed.GetDirection()).reshape(3, 3))  # [physical k, grid j]
    with np.errstate(divide="ignore"):
        return np.min(np.where(cosines > 1e-6, extent[None, :] / cosines, np.inf), axis=1)


def _check_level(pyramid: Sequence[_Level]) -> _Level:
    """The finest level of at most ``_MAX_CHECK_VOXELS`` T2w voxels (else the coarsest).

    Results are compared and checked there: regular sampling, which keeps
    evaluations reproducible, walks every voxel (0.4 s for 512 x 512 x 16).
    """
    small = [level for level in pyramid if level.fixed.GetNumberOfPixels() <= _MAX_CHECK_VOXELS]
    return small[-1] if small else pyramid[0]


def _descend(
    pyramid: Sequence[_Level], transform: sitk.Transform, settings: RegistrationSettings, check: _Level
) -> tuple[float, int, list[int], list[str]]:
    """Gradient descent over the pyramid, coarse to fine, updating ``transform`` in place.

    Returns:
        The metric value on the ``check`` level and the number of valid
        samples at the end of the last level, and the iterations and stop
        condition of each level.
    """
    iterations: list[int] = []
    stops: list[str] = []
    valid = [0]
    for level in pyramid:
        method = _method(level, transform, settings)
        # The count is only readable while the method runs (afterwards it crashes).
        method.AddCommand(
            sitk.sitkIterationEvent, lambda m=method: valid.__setitem__(0, m.GetMetricNumberOfValidPoints())
        )
        method.Execute(level.fixed, level.moving)
        iterations.append(method.GetOptimizerIteration())
        stops.append(method.GetOptimizerStopConditionDescription())
        logger.debug("level %s: %d iterations, %s", level.fixed.GetSize(), iterations[-1], stops[-1])
    # Evaluated again at the end, on the seeded samples of the finest level:
    # the same samples for every start and stage, so they compare fairly.
    return _metric_at(check, transform, settings), valid[0], iterations, stops


def _run_stage(
    stage: str,
    pyramid: Sequence[_Level],
    moving: sitk.Image,
    transform: sitk.Transform,
    settings: RegistrationSettings,
) -> StageInfo:
    """Optimise ``transform`` in place over the whole pyramid, coarse to fine.

    Gradient descent from the header alignment alone stops in a local optimum
    once real pairs are more than about 7 mm apart. The rigid stage therefore
    starts with a grid search of translations on the coarsest level
    (``_grid_starts``) and descends from each of its best few points; the
    lowest final metric wins among the ends that keep most of the overlap.
    """
    start = time.perf_counter()
    initial = transform.GetParameters()
    starts: list = []
    if stage == "rigid" and settings.search_range_mm > 0:
        level = pyramid[0]
        try:
            # Mattes whatever the metric: ANTs CC would cost minutes over the grid.
            method = _method(level, transform, replace(settings, metric="mattes"))
            starts = _grid_starts(method, level, _overlap_extent(level, moving), settings)
        except RuntimeError as exc:
            logger.warning(
                "grid search failed (%s); descending from the header alignment only", _last_line(exc)
            )
    # A tournament: every start descends the coarsest level, the best
    # ``_FINALISTS`` the middle levels, and the best one alone the finest,
    # which costs as much as all the others together.
    runs = [(tuple(float(v) for v in point), [], []) for point in starts or [initial]]
    value = float("nan")
    for index, level in enumerate(pyramid):
        ends = []
        for parameters, iterations, stops in runs:
            transform.SetParameters(parameters)
            check = _check_level(pyramid) if index == len(pyramid) - 1 else level
            value, valid, its, sts = _descend([level], transform, settings, check)
            ends.append((value, valid, transform.GetParameters(), iterations + its, stops + sts))
        most = max(end[1] for end in ends)
        ranked = sorted((end for end in ends if end[1] >= _MIN_OVERLAP * most), key=lambda end: end[0])
        if len(ends) > 1:
            summary = [(round(e[0], 4), e[1], [round(v, 3) for v in e[2]]) for e in ends]
            logger.debug("%s level %d (metric, valid samples, parameters): %s", stage, index, summary)
        keep = 1 if index >= len(pyramid) - 2 else _FINALISTS
        runs = [(end[2], end[3], end[4]) for end in ranked[:keep]]
        value = ranked[0][0]
    parameters, iterations, stops = runs[0]
    transform.SetParameters(parameters)
    return StageInfo(stage, value, tuple(iterations), tuple(stops), time.perf_counter() - start)


def _objection(
    candidate: sitk.Transform,
    info: StageInfo,
    previous: Sequence[StageInfo],
    fixed: sitk.Image,
    settings: RegistrationSettings,
) -> str | None:
    """Why a later stage's result should not replace the previous one, if it should not.

    Thin slabs leave the affine poorly constrained (sub-unf01, 16 mm thick,
    drifts to 8-10 % scaling, sometimes with a worse metric than the rigid
    start); same-session scans differ by far less than that.
    """
    accepted = [s for s in previous if s.accepted]
    if accepted and info.metric_value > accepted[-1].metric_value:
        return f"metric {info.metric_value:.4f} worse than {accepted[-1].metric_value:.4f}"
    scaling = _scaling_change(candidate, _fixed_centre(fixed))
    if scaling > settings.max_scaling_change:
        return f"scales by {100 * scaling:.0f} %, limit {100 * settings.max_scaling_change:.0f} %"
    return None


def _scaling_change(transform: sitk.Transform, centre: Sequence[float]) -> float:
    """Largest relative stretch or shrink of the transform's linear part."""
    singular_values = np.linalg.svd(_jacobian(transform, np.asarray(centre, dtype=float)), compute_uv=False)
    return float(np.abs(singular_values - 1.0).max())


def _optimise(
    fixed: sitk.Image, moving: sitk.Image, settings: RegistrationSettings, describe: str
) -> tuple[sitk.Transform, list[StageInfo], list[str]]:
    """Run every stage, keeping a stage's result only when it passes the sanity checks.

    Args:
        fixed: T2w image.
        moving: T1w image.
        settings: Registration settings.
        describe: "sub-X: registration of A onto B", the start of error messages.

    Returns:
        The final transform, one :class:`StageInfo` per stage, and the
        reasons the result failed the checks of :func:`_failures` (empty
        when it passed).

    Raises:
        ValueError: ITK fails.
    """
    pyramid = _pyramid(fixed, moving, settings)
    centre = _overlap_centre(fixed, moving)
    transform: sitk.Transform | None = None
    stages: list[StageInfo] = []
    for stage in settings.stages:
        candidate = _initial_transform(stage, centre, transform)
        try:
            info = _run_stage(stage, pyramid, moving, candidate, settings)
        except RuntimeError as exc:
            raise ValueError(f"{describe} failed in the {stage} stage: {_last_line(exc)}") from exc
        objection = _objection(candidate, info, stages, fixed, settings) if transform is not None else None
        if objection:
            logger.warning(
                "%s: %s stage rejected (%s), keeping the %s result",
                describe,
                stage,
                objection,
                stages[-1].stage,
            )
            info = replace(info, accepted=False)
        else:
            transform = candidate
        stages.append(info)
    assert transform is not None  # settings guarantee at least one stage
    failures = _failures(_check_level(pyramid), moving, transform, settings)
    for reason in failures:
        logger.warning("%s: REGISTRATION FAILED: %s", describe, reason)
    return transform, stages, failures


def _failures(
    level: _Level, moving: sitk.Image, transform: sitk.Transform, settings: RegistrationSettings
) -> list[str]:
    """Why the result cannot be trusted, if it cannot; checked on ``level`` (see ``_check_level``).

    * it moves the centre of the part of the T2w that the T1w covers by more
      than ``max_displacement_mm``, or turns by more than ``max_rotation_deg``
      (same-session scans do not move that much; corners of a large field of
      view would move by 30 mm for a 10 deg turn);
    * it keeps less than ``min_overlap`` of the T2w voxels that the headers
      put inside the T1w (mutual information gains by sliding images apart);
    * (``mattes``) the mutual information is under ``min_mutual_information``
      (about 0.02-0.03 nats for a T1w of smooth noise, 0.085-0.28 for the
      real pairs);
    * the metric barely changes when the result is shifted by
      ``_PEAK_SHIFT_MM`` along each axis: no anatomy is matched (unrelated
      images, or the T1w slid onto background).
    """
    failures = []
    region = _footprint(moving, level.fixed, 0.0)
    translation, _, angle = rigid_parameters(transform, _mask_centre(region))
    shift = float(np.linalg.norm(translation))
    if shift > settings.max_displacement_mm or angle > settings.max_rotation_deg:
        failures.append(
            f"moves the centre of the overlap by {shift:.1f} mm and turns by {angle:.1f} deg from the "
            f"header alignment (limits {settings.max_displacement_mm:g} mm, "
            f"{settings.max_rotation_deg:g} deg)"
        )
    moved = sitk.Resample(_footprint(moving, moving, 0.0), region, transform, sitk.sitkNearestNeighbor, 0)
    before = float(sitk.GetArrayViewFromImage(region).sum())
    kept = float(sitk.GetArrayViewFromImage(sitk.And(moved, region)).sum()) / max(before, 1.0)
    if kept < settings.min_overlap:
        failures.append(
            f"keeps {100 * kept:.0f} % of the overlap the headers give "
            f"(limit {100 * settings.min_overlap:.0f} %)"
        )
    value = _metric_at(level, transform, settings)
    if settings.metric == "mattes" and -value < settings.min_mutual_information:
        failures.append(
            f"mutual information {-value:.3f} nats (limit {settings.min_mutual_information:g}): "
            "the images share almost no structure"
        )
    peak = _peak_contrast(level, transform, settings, value)
    if peak < settings.min_peak_contrast:
        failures.append(
            f"the metric changes by {100 * peak:.1f} % when the result is shifted by {_PEAK_SHIFT_MM:g} mm "
            f"(limit {100 * settings.min_peak_contrast:.0f} %): no anatomy is matched"
        )
    return failures


def _mask_centre(mask: sitk.Image) -> tuple[float, ...]:
    """Physical centre of a uint8 mask's voxels (of its image when empty)."""
    inside = np.argwhere(sitk.GetArrayViewFromImage(mask) > 0)
    if len(inside) == 0:
        return _fixed_centre(mask)
    return tuple(mask.TransformContinuousIndexToPhysicalPoint(inside.mean(axis=0)[::-1].tolist()))


def _peak_contrast(
    level: _Level, transform: sitk.Transform, settings: RegistrationSettings, at_result: float
) -> float:
    """Mean relative rise of the metric when the result is shifted by ``_PEAK_SHIFT_MM`` along each axis.

    ``at_result`` is the metric at the result itself (:func:`_metric_at` on ``level``).
    """
    shifted = []
    for axis, sign in itertools.product(range(3), (-1.0, 1.0)):
        offset = np.zeros(3)
        offset[axis] = sign * _PEAK_SHIFT_MM
        try:
            shifted.append(_metric_at(level, transform, settings, offset))
        except RuntimeError:  # shifted off the T1w: as different as can be
            shifted.append(0.0)
    return (float(np.mean(shifted)) - at_result) / max(abs(at_result), 1e-12)


def _metric_at(
    level: _Level,
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
    method = _method(level, copy, settings)
    method.SetMetricSamplingStrategy(method.REGULAR)
    return float(method.MetricEvaluate(level.fixed, level.moving))


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


# ------------------------------------------------------------------- public API


def register_t1w_to_t2w(
    fixed_t2w: Path, moving_t1w: Path, settings: RegistrationSettings, subject: str = ""
) -> RegistrationResult:
    """Register the T1w onto the T2w, starting from the headers' alignment.

    Args:
        fixed_t2w: T2w NIfTI (fixed image; defines the output grid).
        moving_t1w: T1w NIfTI (moving image).
        settings: Registration settings.
        subject: Subject label (without ``sub-``), used in messages.

    Returns:
        The transform, the T1w on the T2w grid, the final metric and timings.

    Raises:
        ValueError: an image cannot be read or the registration fails; the
            message names the subject and the files.
    """
    fixed_t2w, moving_t1w = Path(fixed_t2w), Path(moving_t1w)
    reference = _read_header(fixed_t2w, subject, "T2w")
    fixed = _read_image(fixed_t2w, subject, "T2w")
    moving = _read_image(moving_t1w, subject, "T1w")
    _check_geometry(fixed, reference.affine, fixed_t2w)

    describe = f"sub-{subject}: registration of {moving_t1w} onto {fixed_t2w}"
    with _sitk_threads(settings.threads):
        start = time.perf_counter()
        transform, stages, failures = _optimise(fixed, moving, settings, describe)
        seconds = time.perf_counter() - start
        resampled = resample_onto(moving, fixed, transform)

    metric_value = [s.metric_value for s in stages if s.accepted][-1]
    logger.info(
        "sub-%s: %s registration in %.1f s, final metric %.4f",
        subject,
        settings.metric,
        seconds,
        metric_value,
    )
    return RegistrationResult(
        transform=transform,
        t1w_on_t2w=_to_nifti(resampled, reference.affine),
        metric=settings.metric,
        metric_value=metric_value,
        seconds=seconds,
        stages=stages,
        failures=failures,
    )


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
    reference = _read_header(Path(t2w), subject, "T2w")
    dtype = np.float32
    if interpolation == "nearest":
        dtype = _read_header(Path(moving), subject, "T1w-space").get_data_dtype()
    fixed = _read_image(Path(t2w), subject, "T2w")
    moving_image = _read_image(Path(moving), subject, "T1w-space")
    resampled = resample_onto(moving_image, fixed, transform, _INTERPOLATORS[interpolation])
    return _to_nifti(resampled, reference.affine, dtype)


def run_registration(
    t2w: Path,
    t1w: Path,
    out_image: Path,
    out_transform: Path,
    out_qc_png: Path,
    settings: RegistrationSettings,
    subject: str = "",
    out_summary: Path | None = None,
) -> dict[str, Any]:
    """Register, then write the resampled T1w, the transform and a QC figure.

    Every output is written atomically.

    Args:
        t2w: T2w NIfTI (fixed).
        t1w: T1w NIfTI (moving).
        out_image: T1w resampled on the T2w grid (``.nii.gz``, float32).
        out_transform: ITK transform file (``.tfm``), T2w-to-T1w.
        out_qc_png: Mid-sagittal QC figure.
        settings: Registration settings.
        subject: Subject label (without ``sub-``), for messages and the summary.
        out_summary: Optional JSON file receiving the summary.

    A result that fails the checks is still written, flagged: the summary
    says ``"registration_ok": false`` with the reasons, the QC figure carries
    a red banner, and the log a warning; the study's registration table
    (:func:`registration_table`) lists it.

    Returns:
        Summary: subject, ``registration_ok`` and ``failure_reasons``, metric,
        final value, seconds, per-stage details and the rigid part of the
        transform (translation in mm, rotation in deg).

    Raises:
        ValueError: an input cannot be read or ITK fails.
    """
    result = register_t1w_to_t2w(t2w, t1w, settings, subject=subject)
    image = result.t1w_on_t2w
    save_nifti(np.asarray(image.dataobj), image.affine, out_image, dtype=np.float32)
    _write_transform(result.transform, Path(out_transform))

    identity = sitk.Transform(3, sitk.sitkIdentity)
    with _sitk_threads(settings.threads):
        before = resample_to_t2w(t1w, t2w, identity, subject=subject)
    t2w_data = np.asarray(load_nifti(t2w).dataobj, dtype=np.float32).reshape(image.shape)
    qc_figure(
        nib.Nifti1Image(t2w_data, image.affine),
        image,
        out_qc_png,
        title=f"sub-{subject}: T1w on T2w ({settings.metric})",
        t1w_before_img=before,
        failures=result.failures,
    )

    summary = _summary(result, settings, subject)
    if out_summary is not None:
        write_json(summary, out_summary)
    return summary


#: Columns of the study's registration table, one row per unit.
TABLE_COLUMNS: tuple[str, ...] = (
    "unit",
    "registration_ok",
    "failure_reasons",
    "metric",
    "final_metric_value",
    "rigid_translation_mm",
    "rigid_rotation_deg",
    "transform_type",
)  # no run time: a result table is the same on every rerun (the time is in each unit's JSON)


def registration_table(summaries: Mapping[str, Path], out_tsv: Path) -> pd.DataFrame:
    """The study's registration table: one row per unit, failures first, from the JSON summaries.

    Args:
        summaries: Unit id (file prefix) -> the unit's registration summary
            JSON (``..._space-T2w_T1w.json``).
        out_tsv: Destination TSV (written atomically).

    Returns:
        The table (columns :data:`TABLE_COLUMNS`).
    """
    rows = []
    for unit, path in sorted(summaries.items()):
        summary = json.loads(Path(path).read_text())
        rows.append(
            {
                "unit": unit,
                "registration_ok": bool(summary.get("registration_ok", True)),
                "failure_reasons": "; ".join(summary.get("failure_reasons", [])),
                "metric": summary["metric"],
                "final_metric_value": summary["final_metric_value"],
                "rigid_translation_mm": round(float(np.linalg.norm(summary["rigid_translation_mm_lps"])), 3),
                "rigid_rotation_deg": summary["rigid_rotation_deg"],
                "transform_type": summary["transform_type"],
            }
        )
    table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS)).sort_values(
        ["registration_ok", "unit"], kind="stable"
    )
    failed = table.loc[~table["registration_ok"], "unit"].tolist()
    if failed:
        logger.warning("registration failed its checks for %d unit(s): %s", len(failed), ", ".join(failed))
    with atomic_path(out_tsv) as tmp:
        table.to_csv(tmp, sep="\t", index=False)
    return table


def _write_transform(transform: sitk.Transform, path: Path) -> None:
    """Write an ITK transform file atomically (the temporary name keeps ``.tfm``)."""
    with atomic_path(path) as tmp:
        sitk.WriteTransform(transform, str(tmp))


def _summary(result: RegistrationResult, settings: RegistrationSettings, subject: str) -> dict[str, Any]:
    """JSON-ready summary of a registration."""
    translation, angles, angle = rigid_parameters(result.transform, _transform_centre(result.transform))
    return {
        "subject": subject,
        "registration_ok": result.ok,
        "failure_reasons": list(result.failures),
        "metric": result.metric,
        "final_metric_value": result.metric_value,
        "seconds": round(result.seconds, 3),
        "transform_type": result.transform.GetName(),
        "rigid_translation_mm_lps": [round(v, 4) for v in translation],
        "rigid_rotation_deg": round(angle, 4),
        "rigid_euler_angles_deg_lps": [round(v, 4) for v in angles],
        "stages": [asdict(s) for s in result.stages],
        "settings": asdict(settings),
    }


# ------------------------------------------------------------- transform maths


def _transform_centre(transform: sitk.Transform) -> tuple[float, ...]:
    """Rotation centre of a matrix-offset transform, else the origin."""
    try:
        return tuple(transform.Downcast().GetCenter())
    except (AttributeError, RuntimeError):
        return (0.0, 0.0, 0.0)


def _jacobian(transform: sitk.Transform, point: np.ndarray, step_mm: float = 1.0) -> np.ndarray:
    """3x3 spatial Jacobian by central differences (exact for linear transforms)."""
    jac = np.empty((3, 3))
    for axis in range(3):
        delta = np.zeros(3)
        delta[axis] = step_mm
        plus = np.asarray(transform.TransformPoint(tuple(point + delta)))
        minus = np.asarray(transform.TransformPoint(tuple(point - delta)))
        jac[:, axis] = (plus - minus) / (2 * step_mm)
    return jac


def _nearest_rotation(matrix: np.ndarray) -> np.ndarray:
    """Rotation closest to ``matrix`` (polar decomposition), the rigid part of an affine."""
    u, _, vt = np.linalg.svd(matrix)
    if np.linalg.det(u @ vt) < 0:
        u[:, -1] *= -1
    return u @ vt


def _rotation_angle_deg(rotation: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip((np.trace(rotation) - 1.0) / 2.0, -1.0, 1.0))))


def rigid_parameters(
    transform: sitk.Transform, centre_mm: Sequence[float]
) -> tuple[list[float], list[float], float]:
    """Rigid part of a transform about a centre.

    Args:
        transform: Any 3D transform (exact for linear ones).
        centre_mm: Physical point (ITK LPS mm) about which rotation is measured.

    Returns:
        Translation of the centre (mm, LPS), Euler angles about x, y, z (deg,
        as ``Euler3DTransform`` defines them) and the total rotation angle (deg).
    """
    centre = np.asarray(centre_mm, dtype=float)
    translation = np.asarray(transform.TransformPoint(tuple(centre))) - centre
    rotation = _nearest_rotation(_jacobian(transform, centre))
    euler = sitk.Euler3DTransform()
    euler.SetMatrix(tuple(rotation.ravel()))
    angles = [math.degrees(a) for a in (euler.GetAngleX(), euler.GetAngleY(), euler.GetAngleZ())]
    return translation.tolist(), angles, _rotation_angle_deg(rotation)


def transform_error(
    estimated: sitk.Transform, truth: sitk.Transform, reference_points_mm: np.ndarray
) -> tuple[float, float]:
    """How far an estimated transform is from the truth.

    Args:
        estimated: Estimated fixed-to-moving transform.
        truth: True fixed-to-moving transform.
        reference_points_mm: (N, 3) fixed-space physical points (ITK LPS mm),
            e.g. voxel centres inside the object.

    Returns:
        The largest distance (mm) between where the two transforms send the
        points, and the rotation angle (deg) of the residual
        ``estimated o truth^-1`` (its rigid part, at the points' centroid).

    Raises:
        ValueError: ``reference_points_mm`` is not a non-empty (N, 3) array.
    """
    points = np.asarray(reference_points_mm, dtype=float)
    if points.ndim != 2 or points.shape[1] != 3 or len(points) == 0:
        raise ValueError(f"reference_points_mm must be a non-empty (N, 3) array, got shape {points.shape}")
    mapped_est = np.array([estimated.TransformPoint(tuple(p)) for p in points])
    mapped_true = np.array([truth.TransformPoint(tuple(p)) for p in points])
    max_mm = float(np.linalg.norm(mapped_est - mapped_true, axis=1).max())
    centroid = points.mean(axis=0)
    residual = _jacobian(estimated, centroid) @ np.linalg.inv(_jacobian(truth, centroid))
    return max_mm, _rotation_angle_deg(_nearest_rotation(residual))


# --------------------------------------------------------------------------- QC


_AXIS_NAMES = ("left - right", "posterior - anterior", "inferior - superior")


@dataclass(frozen=True)
class _View:
    """Middle slice across an image's thinnest extent, in RAS display order.

    Attributes:
        plane: 2D array, rows along ``axes[0]`` and columns along ``axes[1]``.
        axes: The two RAS axes shown (0 R-L, 1 A-P, 2 S-I).
        aspect: Display aspect (column spacing / row spacing).
    """

    plane: np.ndarray
    axes: tuple[int, int]
    aspect: float


def _middle_slice(img: nib.Nifti1Image) -> _View:
    """Mid-slice across the slab: sagittal for sagittal scans, axial for thin axial slabs."""
    canonical = nib.as_closest_canonical(img)
    data = np.asarray(canonical.dataobj, dtype=np.float32)
    data = data.reshape(data.shape[:3])
    zooms = np.asarray(canonical.header.get_zooms()[:3], dtype=float)
    across = int(np.argmin(np.asarray(data.shape) * zooms))
    shown = tuple(a for a in range(3) if a != across)
    plane = np.take(data, data.shape[across] // 2, axis=across)
    return _View(plane, shown, float(zooms[shown[1]] / zooms[shown[0]]))


def _normalise(plane: np.ndarray) -> np.ndarray:
    """Scale to [0, 1] between the 1st and 99th percentiles, so contrasts compare."""
    low, high = np.percentile(plane, [1, 99])
    return np.clip((plane - low) / max(high - low, 1e-6), 0.0, 1.0)


def _checkerboard(a: np.ndarray, b: np.ndarray, tiles: int = 8) -> np.ndarray:
    """Alternate tiles of ``a`` and ``b``: misalignment shows as broken edges."""
    rows = (np.arange(a.shape[0]) * tiles // a.shape[0]) % 2
    cols = (np.arange(a.shape[1]) * tiles // a.shape[1]) % 2
    return np.where((rows[:, None] + cols[None, :]) % 2 == 0, a, b)


def _edges(plane: np.ndarray) -> np.ndarray:
    """Strongest 10 % of the gradient magnitude of a slice."""
    from scipy import ndimage

    magnitude = np.hypot(ndimage.sobel(plane, 0), ndimage.sobel(plane, 1))
    return magnitude > np.percentile(magnitude, 90)


def qc_figure(
    t2w_img: nib.Nifti1Image,
    t1w_on_t2w_img: nib.Nifti1Image,
    out_png: Path,
    title: str,
    t1w_before_img: nib.Nifti1Image | None = None,
    failures: Sequence[str] = (),
) -> Path:
    """QC: T2w/T1w checkerboards before and after, and T1w edges over the T2w.

    The slice is the middle one across the image's thinnest extent: the
    mid-sagittal slice of a sagittal scan, the mid-axial of a thin axial slab.

    Args:
        t2w_img: T2w image.
        t1w_on_t2w_img: Registered T1w on the T2w grid.
        out_png: Destination PNG (written atomically).
        title: Figure title.
        t1w_before_img: T1w on the T2w grid with the header alignment only;
            adds the "before" panel when given.
        failures: Why the registration failed its checks; when given, a red
            frame and banner say so.

    Returns:
        The PNG path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    view = _middle_slice(t2w_img)
    t2w = _normalise(view.plane)
    after = _normalise(_middle_slice(t1w_on_t2w_img).plane)
    panels = [("after: checkerboard", _checkerboard(t2w, after))]
    if t1w_before_img is not None:
        before = _normalise(_middle_slice(t1w_before_img).plane)
        panels.insert(0, ("before (header alignment): checkerboard", _checkerboard(t2w, before)))

    fig, axes = plt.subplots(1, len(panels) + 1, figsize=(4 * (len(panels) + 1), 4.5), squeeze=False)
    display = {"cmap": "gray", "origin": "lower", "aspect": view.aspect, "vmin": 0, "vmax": 1}
    for ax, (name, plane) in zip(axes[0], panels, strict=False):
        ax.imshow(plane.T, **display)
        ax.set_title(name, fontsize=9)
    overlay = axes[0][-1]
    overlay.imshow(t2w.T, **display)
    edges = np.ma.masked_where(~_edges(after).T, np.ones_like(after.T))
    overlay.imshow(edges, cmap="autumn", origin="lower", aspect=view.aspect, alpha=0.8, vmin=0, vmax=1)
    overlay.set_title("after: T1w edges on T2w", fontsize=9)
    for ax in axes[0]:
        ax.set_xlabel(_AXIS_NAMES[view.axes[0]])
        ax.set_ylabel(_AXIS_NAMES[view.axes[1]])
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=10)
    top = 0.95  # leave room for the title
    if failures:
        banner = "REGISTRATION FAILED: " + "; ".join(failures)
        fig.text(
            0.5,
            0.01,
            textwrap.fill(banner, 40 * (len(panels) + 1)),
            ha="center",
            va="bottom",
            color="white",
            fontsize=9,
            fontweight="bold",
            backgroundcolor="red",
        )
        fig.patch.set_edgecolor("red")
        fig.patch.set_linewidth(12)
    fig.tight_layout(rect=(0, 0.12 if failures else 0, 1, top))
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=100, format="png", edgecolor=fig.get_edgecolor())
    plt.close(fig)
    return Path(out_png)
