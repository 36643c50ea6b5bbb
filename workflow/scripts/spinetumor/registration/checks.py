"""Sanity checks: whether a later stage may replace the previous one, and whether the result holds.

A result failing a check is not an error: it is returned and written with
``registration_ok: false`` and the reasons in its summary, a red banner on
its QC figure, a warning in the log and a row in the study's registration
table, so that it is never passed on silently and the QC shows what went
wrong.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence

import numpy as np
import SimpleITK as sitk

from spinetumor.registration.metric import metric_at
from spinetumor.registration.pyramid import Level, fixed_centre, footprint, mask_centre
from spinetumor.registration.search import StageInfo
from spinetumor.registration.settings import RegistrationSettings
from spinetumor.registration.transforms import jacobian, rigid_parameters

__all__ = ["failure_reasons", "scaling_change", "shared_fraction", "stage_objection"]

logger = logging.getLogger(__name__)

#: Shift (mm) of the result at which the metric must have risen (failure check).
_PEAK_SHIFT_MM = 3.0


def stage_objection(
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
    scaling = scaling_change(candidate, fixed_centre(fixed))
    if scaling > settings.max_scaling_change:
        return f"scales by {100 * scaling:.0f} %, limit {100 * settings.max_scaling_change:.0f} %"
    return None


def scaling_change(transform: sitk.Transform, centre: Sequence[float]) -> float:
    """Largest relative stretch or shrink of the transform's linear part."""
    singular_values = np.linalg.svd(jacobian(transform, np.asarray(centre, dtype=float)), compute_uv=False)
    return float(np.abs(singular_values - 1.0).max())


def failure_reasons(
    level: Level,
    moving: sitk.Image,
    transform: sitk.Transform,
    settings: RegistrationSettings,
    stages: Sequence[StageInfo] = (),
) -> list[str]:
    """Why the result cannot be trusted, if it cannot; checked on ``level`` (see ``check_level``).

    * it moves the centre of the part of the T2w that the T1w covers by more
      than ``max_displacement_mm``, or turns by more than ``max_rotation_deg``
      (same-session scans do not move that much; corners of a large field of
      view would move by 30 mm for a 10 deg turn);
    * it keeps less than ``min_overlap`` of the T2w voxels that the headers
      put inside the T1w (mutual information gains by sliding images apart);
    * the two images share less than ``min_shared_fraction`` of the smaller
      field of view: too little common anatomy to register (a thin slab
      shifted through its thickness);
    * (``mattes``) the mutual information is under ``min_mutual_information``
      (about 0.02-0.03 nats for a T1w of smooth noise, 0.085-0.28 for the
      real pairs);
    * the metric barely changes when the result is shifted by
      ``_PEAK_SHIFT_MM`` along each axis: no anatomy is matched (unrelated
      images, or the T1w slid onto background);
    * a stage's search found a rival match (``StageInfo.rival_contrast``)
      scoring within ``min_rival_contrast`` of the result: the match is
      ambiguous (a vertebral level off, say).
    """
    region = footprint(moving, level.fixed, 0.0)
    failures = [
        _motion_failure(region, transform, settings),
        *_overlap_failures(region, moving, transform, settings),
    ]
    value = metric_at(level, transform, settings)
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
    failures += [_rival_failure(stage, settings) for stage in stages]
    return [reason for reason in failures if reason]


def _motion_failure(region: sitk.Image, transform: sitk.Transform, settings: RegistrationSettings) -> str:
    """Too large a motion of the centre of ``region`` (the T2w the T1w covers), or too large a turn."""
    translation, _, angle = rigid_parameters(transform, mask_centre(region))
    shift = float(np.linalg.norm(translation))
    if shift > settings.max_displacement_mm or angle > settings.max_rotation_deg:
        return (
            f"moves the centre of the overlap by {shift:.1f} mm and turns by {angle:.1f} deg from the "
            f"header alignment (limits {settings.max_displacement_mm:g} mm, "
            f"{settings.max_rotation_deg:g} deg)"
        )
    return ""


def _overlap_failures(
    region: sitk.Image, moving: sitk.Image, transform: sitk.Transform, settings: RegistrationSettings
) -> list[str]:
    """Too little of the headers' overlap kept, or too little of the smaller field of view shared."""
    failures = []
    moved = sitk.Resample(footprint(moving, moving, 0.0), region, transform, sitk.sitkNearestNeighbor, 0)
    before = float(sitk.GetArrayViewFromImage(region).sum())
    both = sitk.And(moved, region)  # bound: a view does not keep its image alive
    kept = float(sitk.GetArrayViewFromImage(both).sum()) / max(before, 1.0)
    if kept < settings.min_overlap:
        failures.append(
            f"keeps {100 * kept:.0f} % of the overlap the headers give "
            f"(limit {100 * settings.min_overlap:.0f} %)"
        )
    shared = shared_fraction(moved, moving)
    logger.debug("overlap kept %.3f, shared fraction %.3f", kept, shared)
    if shared < settings.min_shared_fraction:
        failures.append(
            f"the images share {100 * shared:.0f} % of the smaller field of view "
            f"(limit {100 * settings.min_shared_fraction:.0f} %): too little common anatomy"
        )
    return failures


def shared_fraction(moved: sitk.Image, moving: sitk.Image) -> float:
    """Fraction of the smaller field of view that both images see.

    Args:
        moved: uint8 mask on the T2w (level) grid of the voxels that the
            result puts inside the T1w's field of view.
        moving: The T1w.
    """
    voxel_mm3 = float(np.prod(moved.GetSpacing()))
    moving_mm3 = float(np.prod(moving.GetSpacing())) * moving.GetNumberOfPixels()
    smaller = min(moved.GetNumberOfPixels() * voxel_mm3, moving_mm3)
    return float(sitk.GetArrayViewFromImage(moved).sum()) * voxel_mm3 / max(smaller, 1e-12)


def _rival_failure(stage: StageInfo, settings: RegistrationSettings) -> str:
    """A rival match scoring nearly as well as the result, found by ``stage``'s search."""
    if stage.rival_contrast is None or stage.rival_contrast >= settings.min_rival_contrast:
        return ""
    return (
        f"ambiguous match: the {stage.stage} search found a second match {stage.rival_mm:.0f} mm away "
        f"scoring within {100 * stage.rival_contrast:.1f} % of the result "
        f"(limit {100 * settings.min_rival_contrast:.0f} %)"
    )


def _peak_contrast(
    level: Level, transform: sitk.Transform, settings: RegistrationSettings, at_result: float
) -> float:
    """Mean relative rise of the metric when the result is shifted by ``_PEAK_SHIFT_MM`` along each axis.

    ``at_result`` is the metric at the result itself (:func:`metric_at` on ``level``).
    """
    shifted = []
    for axis, sign in itertools.product(range(3), (-1.0, 1.0)):
        offset = np.zeros(3)
        offset[axis] = sign * _PEAK_SHIFT_MM
        try:
            shifted.append(metric_at(level, transform, settings, offset))
        except RuntimeError:  # shifted off the T1w: as different as can be
            shifted.append(0.0)
    return (float(np.mean(shifted)) - at_result) / max(abs(at_result), 1e-12)
