"""Rigid-then-affine registration of the T1w onto the T2w of the same subject.

Lemay et al. (2021) register the Gd-enhanced T1w onto the sagittal T2w with
an affine transform and a cross-correlation metric (ANTs CC, through SCT's
``sct_register_multimodal``). This module does the same with SimpleITK, with
the image-similarity metric configurable (:mod:`spinetumor.registration.metric`).

The rigid stage starts from the headers' alignment with grids of
translations and rotations (:mod:`spinetumor.registration.grid`) and a
tournament of descents (:mod:`spinetumor.registration.search`),
over an image pyramid built per axis (:mod:`spinetumor.registration.pyramid`).
Rotations are about the centre of the part of the T2w that the T1w covers,
and the metric samples only the T2w that the T1w can come to cover: a T2w
field of view several times the T1w's costs nothing and does not couple
angles with shifts.

An affine stage that ends with a worse metric than the rigid stage, or
scales the image by more than ``max_scaling_change``, is discarded for the
rigid result (thin slabs leave the affine poorly constrained). The final
result is then checked (:func:`spinetumor.registration.checks.failure_reasons`):
too large a motion, too little overlap kept, too little anatomy shared, too
little mutual information, a flat metric around the result, or a rival
match nearly as good (ambiguous). A result failing a check is searched
again with shifts and turns together (slower), and kept if that passes;
otherwise it is returned with the reasons, not raised.

Transforms follow ITK: they map points of the fixed (T2w) physical space to
the moving (T1w) physical space, in ITK's LPS millimetres.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import nibabel as nib
import SimpleITK as sitk

from spinetumor.registration.checks import failure_reasons, stage_objection
from spinetumor.registration.images import (
    check_geometry,
    last_line,
    read_header,
    read_image,
    resample_onto,
    sitk_threads,
    to_nifti,
)
from spinetumor.registration.pyramid import build_pyramid, check_level, overlap_centre
from spinetumor.registration.search import StageInfo, initial_transform, run_stage
from spinetumor.registration.settings import RegistrationSettings

__all__ = ["RegistrationResult", "register_t1w_to_t2w"]

logger = logging.getLogger(__name__)


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
        joint_search: The result is the second search's, of shifts and
            turns together (the first failed its checks).
    """

    transform: sitk.Transform
    t1w_on_t2w: nib.Nifti1Image
    metric: str
    metric_value: float
    seconds: float
    stages: list[StageInfo] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    joint_search: bool = False

    @property
    def ok(self) -> bool:
        """True when the result passed every check."""
        return not self.failures


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
    reference = read_header(fixed_t2w, subject, "T2w")
    fixed = read_image(fixed_t2w, subject, "T2w")
    moving = read_image(moving_t1w, subject, "T1w")
    check_geometry(fixed, reference.affine, fixed_t2w)

    describe = f"sub-{subject}: registration of {moving_t1w} onto {fixed_t2w}"
    with sitk_threads(settings.threads):
        start = time.perf_counter()
        transform, stages, failures = _optimise(fixed, moving, settings, describe)
        joint = False
        if failures and settings.search_range_mm > 0 and settings.search_rotation_deg > 0:
            (transform, stages, failures), joint = _widened(
                fixed, moving, settings, describe, (transform, stages, failures)
            )
        seconds = time.perf_counter() - start
        for reason in failures:
            logger.warning("%s: REGISTRATION FAILED: %s", describe, reason)
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
        t1w_on_t2w=to_nifti(resampled, reference.affine),
        metric=settings.metric,
        metric_value=metric_value,
        seconds=seconds,
        stages=stages,
        failures=failures,
        joint_search=joint,
    )


_Outcome = tuple[sitk.Transform, list[StageInfo], list[str]]


def _widened(
    fixed: sitk.Image, moving: sitk.Image, settings: RegistrationSettings, describe: str, first: _Outcome
) -> tuple[_Outcome, bool]:
    """Search again with translations and rotations together; keep that result if it passes.

    Returns:
        The outcome kept, and whether it is the second search's.

    The first search turns only its best shift; a slab tilted and moved
    through its thickness needs both at once (:func:`run_stage`'s
    ``joint``), which costs about 5 s more, so it is the second attempt.
    When both fail, the first result and its reasons stand.
    """
    logger.info(
        "%s: the result failed its checks (%s); searching shifts and turns together", describe, first[2]
    )
    second = _optimise(fixed, moving, settings, describe, joint=True)
    if second[2]:
        logger.info("%s: the joint search failed too (%s)", describe, second[2])
        return first, False
    return second, True


def _optimise(
    fixed: sitk.Image, moving: sitk.Image, settings: RegistrationSettings, describe: str, joint: bool = False
) -> _Outcome:
    """Run every stage, keeping a stage's result only when it passes the sanity checks.

    Args:
        fixed: T2w image.
        moving: T1w image.
        settings: Registration settings.
        describe: "sub-X: registration of A onto B", the start of error messages.
        joint: Search the rigid stage's shifts and turns together.

    Returns:
        The final transform, one :class:`StageInfo` per stage, and the
        reasons the result failed the checks of :func:`failure_reasons` (empty
        when it passed).

    Raises:
        ValueError: ITK fails.
    """
    pyramid = build_pyramid(fixed, moving, settings)
    centre = overlap_centre(fixed, moving)
    transform: sitk.Transform | None = None
    stages: list[StageInfo] = []
    for stage in settings.stages:
        candidate = initial_transform(stage, centre, transform)
        try:
            info = run_stage(stage, pyramid, moving, candidate, settings, joint)
        except RuntimeError as exc:
            if transform is not None and "outside" in str(exc):  # a later stage slid off: reject it
                logger.warning(
                    "%s: %s stage lost the overlap, keeping the %s result", describe, stage, stages[-1].stage
                )
                stages.append(StageInfo(stage, None, (), (), 0.0, accepted=False))
                continue
            raise ValueError(f"{describe} failed in the {stage} stage: {last_line(exc)}") from exc
        objection = (
            stage_objection(candidate, info, stages, fixed, settings) if transform is not None else None
        )
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
    failures = failure_reasons(check_level(pyramid), moving, transform, settings, stages)
    return transform, stages, failures
