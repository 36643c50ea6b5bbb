"""The stages' optimisation: a tournament of gradient descents over the pyramid.

The optimisation starts from the headers' (scanner-space) alignment. A
moments-based translation is deliberately not used: it would replace the
scanner's alignment, usually good to a few millimetres, with a guess driven
by the two fields of view. Patients still move between series by several
millimetres and degrees, beyond what gradient descent from the headers
recovers (on sub-errsm30, 8/5/-4 deg with 6/6/-8 mm ended 11 mm off), so the
rigid stage first searches grids of translations and rotations on the
coarsest level (:mod:`spinetumor.registration.grid`) and descends from their
best few points, keeping the lowest metric among the ends that keep most of
the overlap (mutual information can improve by sliding the images apart).
Two such ends far apart with nearly the same metric make the match
ambiguous: the stage reports its best rival (``StageInfo.rival_mm``,
``rival_contrast``) for the checks.
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

from spinetumor.registration.grid import MIN_OVERLAP, search_starts
from spinetumor.registration.images import last_line
from spinetumor.registration.metric import level_method, metric_at
from spinetumor.registration.pyramid import Level, check_level
from spinetumor.registration.settings import RegistrationSettings

__all__ = ["StageInfo", "initial_transform", "run_stage"]

logger = logging.getLogger(__name__)

#: Search starts that go on past the coarsest level.
_FINALISTS = 2
#: A descent ending this far (mm, at the rotation centre) from the best one is a rival match.
_RIVAL_MM = 5.0
#: Compass search: steps as fractions of ``search_rotation_deg`` (deg), and mm of shift per deg.
_POLISH_STEPS = (0.5, 0.25, 0.125)
_POLISH_MM_PER_DEG = 0.5
#: ... at most this many sweeps per step, each trying every parameter both ways, on a
#: middle level of at most this many voxels (an evaluation walks every voxel: 4.6 ms for
#: sub-unf01's 36,000, 137 ms for the 1,000,000 of a 512 x 512 x 16 scan's middle level).
_POLISH_SWEEPS = 10
_POLISH_MAX_VOXELS = 100_000

#: One descent of the tournament: rigid parameters, iterations and stop conditions so far, and
#: whether it started from a turn of the rotation grid.
_Run = tuple[tuple[float, ...], list[int], list[str], bool]


@dataclass(frozen=True)
class StageInfo:
    """What one transform stage did.

    Attributes:
        stage: ``"rigid"`` or ``"affine"``.
        metric_value: Metric at the end of the finest level (lower is better);
            None for a stage that lost the images' overlap (rejected).
        iterations: Optimiser iterations per pyramid level.
        stop_conditions: Optimiser stop description per level.
        seconds: Wall time of the stage.
        accepted: False when the stage's result failed a sanity check and the
            previous stage's transform was kept.
        rival_mm: How far (mm, at the rotation centre) the best descent that
            ended elsewhere lies from the winner, in the last round of the
            tournament that compared several; None when every descent ended
            at the winner's place, or only one ran.
        rival_contrast: That rival's metric relative to the winner's, as
            ``(rival - best) / |best|`` on the same level: near 0, two places
            match almost equally well (a vertebral level off, say).
    """

    stage: str
    metric_value: float | None
    iterations: tuple[int, ...]
    stop_conditions: tuple[str, ...]
    seconds: float
    accepted: bool = True
    rival_mm: float | None = None
    rival_contrast: float | None = None


def initial_transform(stage: str, centre: Sequence[float], previous: sitk.Transform | None) -> sitk.Transform:
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


def run_stage(
    stage: str,
    pyramid: Sequence[Level],
    moving: sitk.Image,
    transform: sitk.Transform,
    settings: RegistrationSettings,
    joint: bool = False,
) -> StageInfo:
    """Optimise ``transform`` in place over the whole pyramid, coarse to fine.

    Gradient descent from the header alignment alone stops in a local optimum
    once real pairs are more than about 7 mm apart. The rigid stage therefore
    starts from the best points of grids of translations and rotations on
    the coarsest level (:func:`spinetumor.registration.grid.search_starts`);
    the lowest final metric wins among the ends that keep most of the overlap.
    ``joint`` searches translations and rotations together (slower; see
    :func:`spinetumor.registration.grid.search_starts`).
    """
    start = time.perf_counter()
    initial = transform.GetParameters()
    shifts, turns = (
        search_starts(pyramid, moving, transform, settings, joint) if stage == "rigid" else ([], [])
    )
    # A tournament: every start descends the coarsest level, the best
    # ``_FINALISTS`` (and the best turn) the middle levels, and the best one
    # alone the finest, which costs as much as all the others together.
    runs: list[_Run] = [(tuple(float(v) for v in point), [], [], False) for point in shifts or [initial]]
    runs += [(tuple(float(v) for v in point), [], [], True) for point in turns]
    value = float("nan")
    rival: tuple[float, float] | None = None
    for index in range(len(pyramid)):
        compared = len(runs) > 1
        runs, value, round_rival = _tournament_round(stage, pyramid, index, runs, transform, settings)
        if compared:
            rival = round_rival
        if stage == "rigid" and index == len(pyramid) - 2 and _polishes(pyramid[index], settings):
            runs = [(_polish(pyramid[index], runs[0][0], transform, settings), *runs[0][1:])]
    parameters, iterations, stops, _ = runs[0]
    transform.SetParameters(parameters)
    seconds = time.perf_counter() - start
    return StageInfo(stage, value, tuple(iterations), tuple(stops), seconds, True, *(rival or (None, None)))


def _tournament_round(
    stage: str,
    pyramid: Sequence[Level],
    index: int,
    runs: list[_Run],
    transform: sitk.Transform,
    settings: RegistrationSettings,
) -> tuple[list[_Run], float, tuple[float, float] | None]:
    """Descend pyramid level ``index`` from every run; keep the best (``_FINALISTS``, then one).

    Before the last two levels, the best run started from a turn goes on too,
    whatever its rank: the coarsest level ranks turns poorly, and letting
    them take the finalists' places lost the right basin on sub-errsm30.

    Returns:
        The runs kept, best first, the best metric value (on the check
        level after the finest level), and the rival of the best
        (:func:`_rival`), if any.
    """
    level = pyramid[index]
    ends = []
    for parameters, iterations, stops, turned in runs:
        transform.SetParameters(parameters)
        check = check_level(pyramid) if index == len(pyramid) - 1 else level
        try:
            value, valid, its, sts = _descend([level], transform, settings, check)
        except RuntimeError as exc:  # slid off the T2w: this start is out
            if "outside" not in str(exc) or len(runs) == 1:
                raise
            logger.debug("%s level %d: a descent lost the overlap (%s)", stage, index, last_line(exc))
            continue
        ends.append((value, valid, transform.GetParameters(), iterations + its, stops + sts, turned))
    if not ends:
        raise RuntimeError("every descent lost the overlap of the images (samples outside the T1w)")
    most = max(end[1] for end in ends)
    ranked = sorted((end for end in ends if end[1] >= MIN_OVERLAP * most), key=lambda end: end[0])
    if len(ends) > 1:
        summary = [(round(e[0], 4), e[1], [round(v, 3) for v in e[2]]) for e in ends]
        logger.debug("%s level %d (metric, valid samples, parameters): %s", stage, index, summary)
    if index >= len(pyramid) - 2:
        kept = ranked[:1]
    else:
        kept = [e for e in ranked if not e[5]][:_FINALISTS] + [e for e in ranked if e[5]][:1]
        kept.sort(key=lambda end: end[0])
    return [(end[2], end[3], end[4], end[5]) for end in kept], ranked[0][0], _rival(ranked)


def _polishes(level: Level, settings: RegistrationSettings) -> bool:
    """Whether the compass search runs on ``level``: with the rotation search, on small levels."""
    return settings.search_rotation_deg > 0 and level.fixed.GetNumberOfPixels() <= _POLISH_MAX_VOXELS


def _polish(
    level: Level, parameters: Sequence[float], transform: sitk.Transform, settings: RegistrationSettings
) -> tuple[float, ...]:
    """A compass search of the rigid parameters on ``level``, before the finest level's descent.

    Gradient descent stops short on a thin slab tilted out of its plane (on
    sub-unf01, 10 deg ended 2-3 deg and 1.9-2.5 mm off, though the truth
    had the better metric on every level): each angle is tried half a
    rotation-grid step either way, and each shift half as many mm, keeping
    any gain of the metric (regular sampling, so the comparisons are fair),
    then again with halved and quartered steps.
    """
    start = time.perf_counter()
    best = list(parameters)
    transform.SetParameters(best)
    best_value = metric_at(level, transform, settings)
    evaluations = 1
    for fraction in _POLISH_STEPS:
        step_deg = fraction * settings.search_rotation_deg
        steps = [math.radians(step_deg)] * 3 + [step_deg * _POLISH_MM_PER_DEG] * 3
        for _ in range(_POLISH_SWEEPS):
            improved = False
            for k, sign in itertools.product(range(6), (-1.0, 1.0)):
                trial = list(best)
                trial[k] += sign * steps[k]
                transform.SetParameters(trial)
                value = _metric_or_inf(level, transform, settings)
                evaluations += 1
                if value < best_value - 1e-4:
                    best, best_value, improved = trial, value, True
            if not improved:
                break
    seconds = time.perf_counter() - start
    logger.debug("compass search on %s: %d evaluations, %.2f s", level.fixed.GetSize(), evaluations, seconds)
    return tuple(best)


def _metric_or_inf(level: Level, transform: sitk.Transform, settings: RegistrationSettings) -> float:
    """The metric on ``level``, or infinity where no sample falls in the T1w."""
    try:
        return metric_at(level, transform, settings)
    except RuntimeError as exc:
        if "outside" not in str(exc):
            raise
        return math.inf


def _rival(ranked: Sequence[tuple]) -> tuple[float, float] | None:
    """(distance mm, relative metric gap) of the best end lying ``_RIVAL_MM`` or more from the best.

    ``ranked`` holds (metric value, valid samples, rigid parameters, ...)
    best first, all keeping most of the overlap; the translations are about
    the same centre, so their difference is the distance at that centre.
    """
    best_value, _, best = ranked[0][:3]
    for value, _, parameters, *_ in ranked[1:]:
        distance = float(np.linalg.norm(np.subtract(parameters[3:], best[3:])))
        if distance >= _RIVAL_MM:
            return distance, (value - best_value) / max(abs(best_value), 1e-12)
    return None


def _descend(
    pyramid: Sequence[Level], transform: sitk.Transform, settings: RegistrationSettings, check: Level
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
        method = level_method(level, transform, settings)
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
    return metric_at(check, transform, settings), valid[0], iterations, stops
