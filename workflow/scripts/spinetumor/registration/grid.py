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
:mod:`spinetumor.registration.search`). When that result fails its checks,
:mod:`spinetumor.registration.register` searches again with the joint grid
of shifts and turns (``joint``). Grid points at which the images would not
overlap are left out (:mod:`spinetumor.registration.coverage`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import SimpleITK as sitk

from spinetumor.registration.coverage import covered_boxes, grid_coverage, shift_limits
from spinetumor.registration.images import last_line
from spinetumor.registration.metric import itk_seed, level_method
from spinetumor.registration.pyramid import Level
from spinetumor.registration.settings import RegistrationSettings

__all__ = ["MIN_OVERLAP", "distinct_best", "search_starts"]

logger = logging.getLogger(__name__)

#: Metric samples per point of a search grid.
_GRID_SAMPLES = 5_000
#: Grid points where less than this fraction of the T2w samples fall in the T1w are not run ...
_MIN_COVERAGE = 0.005
#: ... and those covering less than this fraction of the best point's cover need not be:
#: they would not compete (``MIN_OVERLAP``, with a margin for the sampling).
_WANTED_COVERAGE = 0.6
#: Points keeping less than this fraction of the best overlap are not compared.
MIN_OVERLAP = 0.8
#: Translations keep at least this fraction of the shorter field of view along each axis.
_SHARED_ALONG_AXIS = 0.5
#: Rotation grid: this many steps either way about each axis ...
_ROTATION_STEPS = 2
#: ... and this many of its best turns join the starts.
_ROTATION_STARTS = 1

#: The joint search turns by this many rotation-grid steps either way about each axis.
_JOINT_TURNS = 2

#: A grid point: metric value, valid samples, rigid parameters (3 angles in rad, 3 shifts in mm).
GridPoint = tuple[float, int, tuple[float, ...]]


def search_starts(
    pyramid: Sequence[Level],
    moving: sitk.Image,
    transform: sitk.Transform,
    settings: RegistrationSettings,
    joint: bool = False,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The rigid parameters the tournament starts from: shifts, and turns of the best shift.

    With ``joint``, the translation grid is searched at every turn of a
    coarse rotation grid (:func:`_shift_starts`), and its best points are
    the shifts (no separate turns). Both are empty when the search is off or
    fails. Mattes whatever the metric: ANTs CC would cost minutes over the
    grids. ``transform`` is moved in place.
    """
    if settings.search_range_mm <= 0:
        return [], []
    level = pyramid[0]
    mattes = replace(settings, metric="mattes")
    try:
        steps = _shift_window(level, moving, transform, settings)
        method = level_method(level, transform, mattes)
        shifts = _shift_starts(method, transform, level, moving, steps, settings, joint)
        turns: list[np.ndarray] = []
        if settings.search_rotation_deg > 0 and shifts and not joint:
            transform.SetParameters(tuple(float(v) for v in shifts[0]))
            method = level_method(level, transform, mattes)
            turns = _rotation_starts(method, transform, level, moving, settings)
    except RuntimeError as exc:
        logger.warning("grid search failed (%s); descending from the header alignment only", last_line(exc))
        return [], []
    return shifts, turns


def _shift_window(
    level: Level, moving: sitk.Image, transform: sitk.Transform, settings: RegistrationSettings
) -> list[int]:
    """Centre ``transform``'s translation grid; return its steps either way along each axis.

    Along each axis the grid spans the slides that keep at least half of the
    shorter field of view overlapping (:func:`shift_limits`), within
    ``search_range_mm`` of the header alignment: a thin slab is not slid off
    its partner, and one the header puts beside it is slid back (sub-unf01's
    16 mm slab moved 15 mm through its thickness kept 1 mm of overlap, and
    a grid about the headers could not leave it). The grid is centred on the
    nearest step to the middle of that span (towards the headers), so at most
    one point at one end lies past it; ``transform`` must hold the header
    alignment (identity) on entry.
    """
    step, reach = settings.search_step_mm, settings.search_range_mm
    limits = np.clip(shift_limits(level.fixed, moving, _SHARED_ALONG_AXIS), -reach, reach)
    centre, steps = [], []
    for low, high in limits:
        first, last = math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9)
        if first > last:  # the span falls between two steps: take the nearer one
            first = last = round((low + high) / 2 / step)
        middle = int(math.trunc((first + last) / 2))
        centre.append(middle * step)
        steps.append(max(middle - first, last - middle))
    parameters = list(transform.GetParameters())
    transform.SetParameters((*parameters[:3], *centre))
    logger.debug("translation grid about %s mm, %s steps either way", centre, steps)
    return steps


def _shift_starts(
    method: sitk.ImageRegistrationMethod,
    transform: sitk.Transform,
    level: Level,
    moving: sitk.Image,
    steps: Sequence[int],
    settings: RegistrationSettings,
    joint: bool = False,
) -> list[np.ndarray]:
    """The best few points of the translation grid about ``transform``, the method's, best first.

    With ``joint``, the grid is searched at every turn of a rotation grid:
    0 and ``_JOINT_TURNS`` rotation-grid steps either way about each axis
    (27 turns). A thin slab tilted by 10 deg out of its plane and moved
    through its thickness shares too little with its partner at any shift
    without the tilt (sub-unf01, 15 mm through its 16 mm slab: every descent
    from the translation grid slid off to where the slabs barely meet), so
    shifts and turns must be searched together. It costs 27 times the
    translation grid (about 5 s), which is why it runs only when the first
    search fails its checks.
    """
    turn = math.radians(_JOINT_TURNS * settings.search_rotation_deg) if joint else 0.0
    step = settings.search_step_mm
    turns = [1 if joint else 0] * 3
    grid = _exhaustive(method, transform, level, moving, [*turns, *steps], [turn] * 3 + [step] * 3, settings)
    return distinct_best(grid, settings.search_starts, [2 * turn] * 3 + [2 * step] * 3)


def _rotation_starts(
    method: sitk.ImageRegistrationMethod,
    transform: sitk.Transform,
    level: Level,
    moving: sitk.Image,
    settings: RegistrationSettings,
) -> list[np.ndarray]:
    """The best turns of the current transform on a grid of rotations about its centre, best first."""
    step = math.radians(settings.search_rotation_deg)
    steps = [_ROTATION_STEPS] * 3 + [0] * 3
    grid = _exhaustive(method, transform, level, moving, steps, [step] * 3 + [1.0] * 3, settings)
    starts = distinct_best(grid, _ROTATION_STARTS, [2 * step] * 3 + [0.0] * 3)
    logger.debug("rotation starts (deg): %s", [np.degrees(s[:3]).round(1).tolist() for s in starts])
    return starts


def _exhaustive(
    method: sitk.ImageRegistrationMethod,
    transform: sitk.Euler3DTransform,
    level: Level,
    moving: sitk.Image,
    steps: Sequence[int],
    lengths: Sequence[float],
    settings: RegistrationSettings,
) -> list[GridPoint]:
    """The metric at every covered point of a grid about ``transform`` (``_GRID_SAMPLES`` samples).

    ``transform`` is ``method``'s. Point ``i`` along parameter ``k`` lies
    ``i x lengths[k]`` from it, for ``i`` in ``-steps[k] .. steps[k]``. ITK
    stops a whole grid at the first point where no sample falls in the T1w,
    so the grid is searched in boxes (:mod:`spinetumor.registration.coverage`)
    whose points all keep ``_MIN_COVERAGE`` of the T2w samples in the T1w and
    that hold every point keeping ``_WANTED_COVERAGE`` of the best point's;
    the other points are left out.
    """
    usable = max(level.fixed.GetNumberOfPixels() * level.kept_fraction, 1.0)
    if _GRID_SAMPLES < usable:
        method.SetMetricSamplingStrategy(method.RANDOM)
        method.SetMetricSamplingPercentage(_GRID_SAMPLES / usable, itk_seed(settings.seed))
    run: list[GridPoint] = []
    method.AddCommand(
        sitk.sitkIterationEvent,
        lambda: run.append(
            (
                method.GetMetricValue(),
                method.GetMetricNumberOfValidPoints(),
                tuple(method.GetOptimizerPosition()),
            )
        ),
    )
    start = time.perf_counter()
    centre = np.asarray(transform.GetParameters(), dtype=float)
    coverage = grid_coverage(level, moving, transform, steps, lengths)
    wanted = coverage >= _WANTED_COVERAGE * coverage.max()
    grid: list[GridPoint] = []
    boxes = covered_boxes(wanted, coverage >= _MIN_COVERAGE)
    for box in boxes:
        middle = np.asarray([(a + b) / 2 for a, b in box]) - np.asarray(steps)
        transform.SetParameters(tuple(float(v) for v in centre + middle * np.asarray(lengths)))
        grid += _box_points(method, transform, level, [(b - a) // 2 for a, b in box], lengths, run)
    transform.SetParameters(tuple(float(v) for v in centre))
    logger.debug(
        "grid of %d points, %d wanted, %d evaluated in %d runs, %.2f s",
        wanted.size,
        wanted.sum(),
        len(grid),
        len(boxes),
        time.perf_counter() - start,
    )
    return grid


def _box_points(
    method: sitk.ImageRegistrationMethod,
    transform: sitk.Transform,
    level: Level,
    steps: list[int],
    lengths: Sequence[float],
    run: list[GridPoint],
) -> list[GridPoint]:
    """Run the exhaustive grid ``steps`` (``lengths`` apart) about ``transform``, the method's.

    Should ITK still find no sample inside the T1w at some point (the
    coverage is measured on a subset of the samples), the box is split
    into layers along its widest parameter, down to single points, which
    are dropped. ``run`` is filled by the method's iteration command.
    """
    centre = list(transform.GetParameters())
    method.SetInitialTransform(transform, inPlace=True)  # the method holds a copy until it runs
    method.SetOptimizerAsExhaustive(steps, stepLength=1.0)
    method.SetOptimizerScales(list(lengths))
    run.clear()
    try:
        method.Execute(level.fixed, level.moving)
        return list(run)
    except RuntimeError as exc:
        if "outside" not in str(exc):
            raise
    finally:
        transform.SetParameters(centre)
    if not any(steps):
        return []
    axis = int(np.argmax(steps))
    points: list[GridPoint] = []
    for i in range(-steps[axis], steps[axis] + 1):
        layer = list(centre)
        layer[axis] += i * lengths[axis]
        transform.SetParameters(layer)
        layer_steps = [0 if k == axis else n for k, n in enumerate(steps)]
        points += _box_points(method, transform, level, layer_steps, lengths, run)
    transform.SetParameters(centre)
    return points


def distinct_best(grid: Sequence[GridPoint], count: int, gaps: Sequence[float]) -> list[np.ndarray]:
    """The ``count`` best grid points, in different basins, best first.

    Mutual information can improve by sliding the images apart, so only
    points that keep most of the best overlap (``MIN_OVERLAP``) compete;
    the points kept are the lowest values that differ from each one kept
    before by at least ``gaps[k]`` in some parameter ``k`` (two grid steps;
    0: not compared), so that they lie in different basins.
    """
    most = max(valid for _, valid, _ in grid)
    candidates = sorted(
        (value, position)
        for value, valid, position in grid
        if math.isfinite(value) and valid >= MIN_OVERLAP * most
    )
    compared = np.asarray(gaps, dtype=float) > 0
    starts: list[np.ndarray] = []
    for _, position in candidates:
        point = np.asarray(position)
        if all((np.abs(point - s)[compared] >= np.asarray(gaps)[compared] - 1e-6).any() for s in starts):
            starts.append(point)
        if len(starts) == count:
            break
    return starts
