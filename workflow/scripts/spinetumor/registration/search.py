"""The rigid stage's search: a translation grid, then a tournament of gradient descents.

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
images apart).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import SimpleITK as sitk

from spinetumor.registration.images import last_line
from spinetumor.registration.metric import itk_seed, level_method, metric_at
from spinetumor.registration.pyramid import Level, check_level, overlap_extent
from spinetumor.registration.settings import RegistrationSettings

__all__ = ["StageInfo", "initial_transform", "run_stage"]

logger = logging.getLogger(__name__)

#: Metric samples per point of the search grid.
_GRID_SAMPLES = 5_000
#: Search starts that go on past the coarsest level.
_FINALISTS = 2
#: Search points keeping less than this fraction of the best overlap are not compared.
_MIN_OVERLAP = 0.8

#: One descent of the tournament: rigid parameters, iterations and stop conditions so far.
_Run = tuple[tuple[float, ...], list[int], list[str]]


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
    starts = _search_starts(pyramid, moving, transform, settings) if stage == "rigid" else []
    # A tournament: every start descends the coarsest level, the best
    # ``_FINALISTS`` the middle levels, and the best one alone the finest,
    # which costs as much as all the others together.
    runs: list[_Run] = [(tuple(float(v) for v in point), [], []) for point in starts or [initial]]
    value = float("nan")
    for index in range(len(pyramid)):
        runs, value = _tournament_round(stage, pyramid, index, runs, transform, settings)
    parameters, iterations, stops = runs[0]
    transform.SetParameters(parameters)
    return StageInfo(stage, value, tuple(iterations), tuple(stops), time.perf_counter() - start)


def _search_starts(
    pyramid: Sequence[Level], moving: sitk.Image, transform: sitk.Transform, settings: RegistrationSettings
) -> list[np.ndarray]:
    """The grid search's starts on the coarsest level (none when the search is off or fails)."""
    if settings.search_range_mm <= 0:
        return []
    level = pyramid[0]
    try:
        # Mattes whatever the metric: ANTs CC would cost minutes over the grid.
        method = level_method(level, transform, replace(settings, metric="mattes"))
        return _grid_starts(method, level, overlap_extent(level, moving), settings)
    except RuntimeError as exc:
        logger.warning("grid search failed (%s); descending from the header alignment only", last_line(exc))
        return []


def _tournament_round(
    stage: str,
    pyramid: Sequence[Level],
    index: int,
    runs: list[_Run],
    transform: sitk.Transform,
    settings: RegistrationSettings,
) -> tuple[list[_Run], float]:
    """Descend pyramid level ``index`` from every run; keep the best (``_FINALISTS``, then one).

    Returns:
        The runs kept, best first, and the best metric value (on the check
        level after the finest level).
    """
    level = pyramid[index]
    ends = []
    for parameters, iterations, stops in runs:
        transform.SetParameters(parameters)
        check = check_level(pyramid) if index == len(pyramid) - 1 else level
        value, valid, its, sts = _descend([level], transform, settings, check)
        ends.append((value, valid, transform.GetParameters(), iterations + its, stops + sts))
    most = max(end[1] for end in ends)
    ranked = sorted((end for end in ends if end[1] >= _MIN_OVERLAP * most), key=lambda end: end[0])
    if len(ends) > 1:
        summary = [(round(e[0], 4), e[1], [round(v, 3) for v in e[2]]) for e in ends]
        logger.debug("%s level %d (metric, valid samples, parameters): %s", stage, index, summary)
    keep = 1 if index >= len(pyramid) - 2 else _FINALISTS
    return [(end[2], end[3], end[4]) for end in ranked[:keep]], ranked[0][0]


def _grid_starts(
    method: sitk.ImageRegistrationMethod,
    level: Level,
    overlap_mm: np.ndarray,
    settings: RegistrationSettings,
) -> list[np.ndarray]:
    """Rigid parameters of the best few points of a translation grid, best first.

    The metric is sampled every ``search_step_mm`` within ``search_range_mm``
    of the current transform on the coarsest level, and along each axis no
    further than half the images' overlap (``overlap_mm``, the extent in ITK
    physical axes), so a thin slab is not slid off its partner.
    """
    usable = max(level.fixed.GetNumberOfPixels() * level.kept_fraction, 1.0)
    if _GRID_SAMPLES < usable:
        method.SetMetricSamplingStrategy(method.RANDOM)
        method.SetMetricSamplingPercentage(_GRID_SAMPLES / usable, itk_seed(settings.seed))
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
    return _distinct_best(grid, settings)


def _distinct_best(
    grid: Sequence[tuple[float, int, tuple[float, ...]]], settings: RegistrationSettings
) -> list[np.ndarray]:
    """The ``search_starts`` best grid points (metric, valid samples, parameters), in different basins.

    Mutual information can improve by sliding the images apart, so only
    points that keep most of the best overlap compete; the starts kept are
    the lowest values at least two steps apart, so that they lie in
    different basins.
    """
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
