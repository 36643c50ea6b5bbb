"""Exhaustive grids on the coarsest level that give the rigid stage's tournament its starts.

Gradient descent from the header alignment alone stops in a local optimum
once real pairs are more than about 7 mm apart, so the rigid stage first
samples the metric on a grid of translations (``search_range_mm``,
``search_step_mm``) and keeps its best few points (``search_starts``). A
thin slab tilted out of its plane by 8-10 deg still ended 1-3.5 mm off at
the cord from those starts: the best of them is then also turned on a grid
of rotations (``search_rotation_deg``, two steps either way about each
axis), and the best turn joins the starts (the tournament, and the
compass search that polishes its middle-level winner, are in
:mod:`spinetumor.registration.search`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import SimpleITK as sitk

from spinetumor.registration.images import last_line
from spinetumor.registration.metric import itk_seed, level_method
from spinetumor.registration.pyramid import Level, overlap_extent
from spinetumor.registration.settings import RegistrationSettings

__all__ = ["MIN_OVERLAP", "distinct_best", "search_starts"]

logger = logging.getLogger(__name__)

#: Metric samples per point of a search grid.
_GRID_SAMPLES = 5_000
#: Points keeping less than this fraction of the best overlap are not compared.
MIN_OVERLAP = 0.8
#: Rotation grid: this many steps either way about each axis ...
_ROTATION_STEPS = 2
#: ... and this many of its best turns join the starts.
_ROTATION_STARTS = 1

#: A grid point: metric value, valid samples, rigid parameters (3 angles in rad, 3 shifts in mm).
GridPoint = tuple[float, int, tuple[float, ...]]


def search_starts(
    pyramid: Sequence[Level], moving: sitk.Image, transform: sitk.Transform, settings: RegistrationSettings
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The rigid parameters the tournament starts from: shifts, and turns of the best shift.

    Both are empty when the search is off or fails. Mattes whatever the
    metric: ANTs CC would cost minutes over the grids. ``transform`` is
    moved in place.
    """
    if settings.search_range_mm <= 0:
        return [], []
    level = pyramid[0]
    mattes = replace(settings, metric="mattes")
    try:
        shifts = _translation_starts(level_method(level, transform, mattes), level, moving, settings)
        turns: list[np.ndarray] = []
        if settings.search_rotation_deg > 0 and shifts:
            transform.SetParameters(tuple(float(v) for v in shifts[0]))
            turns = _rotation_starts(level_method(level, transform, mattes), level, settings)
    except RuntimeError as exc:
        logger.warning("grid search failed (%s); descending from the header alignment only", last_line(exc))
        return [], []
    return shifts, turns


def _translation_starts(
    method: sitk.ImageRegistrationMethod, level: Level, moving: sitk.Image, settings: RegistrationSettings
) -> list[np.ndarray]:
    """The best few points of a translation grid about the current transform, best first.

    The metric is sampled every ``search_step_mm`` within ``search_range_mm``
    and, along each axis, no further than half the images' overlap (its
    extent along ITK physical axes), so that a thin slab is not slid off its
    partner.
    """
    most = round(settings.search_range_mm / settings.search_step_mm)
    halves = overlap_extent(level, moving) / 2
    steps = [max(0, min(most, int(half / settings.search_step_mm))) for half in halves]
    grid = _exhaustive(method, level, [0, 0, 0, *steps], [1.0] * 6, settings.search_step_mm, settings)
    return distinct_best(grid, settings.search_starts, slice(3, 6), 2 * settings.search_step_mm)


def _rotation_starts(
    method: sitk.ImageRegistrationMethod, level: Level, settings: RegistrationSettings
) -> list[np.ndarray]:
    """The best turns of the current transform on a grid of rotations about its centre, best first."""
    step = math.radians(settings.search_rotation_deg)
    steps = [_ROTATION_STEPS] * 3 + [0] * 3
    grid = _exhaustive(method, level, steps, [step] * 3 + [1.0] * 3, 1.0, settings)
    starts = distinct_best(grid, _ROTATION_STARTS, slice(0, 3), 2 * step)
    logger.debug("rotation starts (deg): %s", [np.degrees(s[:3]).round(1).tolist() for s in starts])
    return starts


def _exhaustive(
    method: sitk.ImageRegistrationMethod,
    level: Level,
    steps: Sequence[int],
    scales: Sequence[float],
    step_length: float,
    settings: RegistrationSettings,
) -> list[GridPoint]:
    """The metric at every point of a grid about the method's transform (``_GRID_SAMPLES`` samples).

    Point ``i`` along parameter ``k`` lies ``i x step_length x scales[k]``
    from the transform, for ``i`` in ``-steps[k] .. steps[k]``.
    """
    usable = max(level.fixed.GetNumberOfPixels() * level.kept_fraction, 1.0)
    if _GRID_SAMPLES < usable:
        method.SetMetricSamplingStrategy(method.RANDOM)
        method.SetMetricSamplingPercentage(_GRID_SAMPLES / usable, itk_seed(settings.seed))
    method.SetOptimizerAsExhaustive(list(steps), stepLength=step_length)
    method.SetOptimizerScales(list(scales))
    grid: list[GridPoint] = []
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
    return grid


def distinct_best(grid: Sequence[GridPoint], count: int, compared: slice, gap: float) -> list[np.ndarray]:
    """The ``count`` best grid points, in different basins, best first.

    Mutual information can improve by sliding the images apart, so only
    points that keep most of the best overlap (``MIN_OVERLAP``) compete;
    the points kept are the lowest values whose ``compared`` parameters lie
    at least ``gap`` apart (two grid steps), so that they lie in different
    basins.
    """
    most = max(valid for _, valid, _ in grid)
    candidates = sorted(
        (value, position)
        for value, valid, position in grid
        if math.isfinite(value) and valid >= MIN_OVERLAP * most
    )
    starts: list[np.ndarray] = []
    for _, position in candidates:
        point = np.asarray(position)
        if all(np.abs(point[compared] - s[compared]).max() >= gap - 1e-6 for s in starts):
            starts.append(point)
        if len(starts) == count:
            break
    return starts
