"""Where the T1w covers the T2w: the slides a grid may take, and each grid point's overlap.

A translation grid about the header alignment must not slide a thin slab
off its partner, yet must slide back one the header puts beside it
(:func:`shift_limits`). Where a grid also turns the T1w, some of its points
can leave no T2w sample inside the T1w, and ITK then stops the whole grid:
:func:`grid_coverage` measures each point's overlap beforehand, and
:func:`covered_boxes` splits the grid into boxes that hold only covered
points, each searched in one run.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import SimpleITK as sitk

from spinetumor.registration.pyramid import Level

__all__ = ["Box", "covered_boxes", "grid_coverage", "shift_limits"]

#: Fixed-level voxels (at most) whose fate is followed at every grid point.
_MAX_POINTS = 2_000

#: What starting one run of the exhaustive optimiser costs, in grid points (7 ms, 0.4-0.7 ms a point).
_RUN_COST = 12.0

#: A box of grid indices: per parameter, the first and last index (inclusive).
Box = tuple[tuple[int, int], ...]


def shift_limits(fixed: sitk.Image, moving: sitk.Image, shared: float) -> np.ndarray:
    """How far (mm) the T1w may slide along each ITK physical axis, from the header alignment.

    Row ``k`` holds the lowest and highest rigid translation along physical
    axis ``k`` (the transform maps a T2w point ``x`` to the T1w point
    ``x + t``) that keeps, along every T2w grid axis that the slide crosses,
    an overlap of at least ``shared`` times the shorter of the two fields of
    view there. The limits need not contain 0: a T1w slab whose header puts
    it beside the T2w slab (a patient who moved through its thickness)
    must slide back onto it. Extents along the T2w axes are the T1w
    corners' bounding box there; a slide along physical axis ``k`` crosses
    grid axis ``j`` at the rate of their direction cosine.
    """
    spacing = np.asarray(fixed.GetSpacing())
    size = np.asarray(fixed.GetSize())
    corners = [
        fixed.TransformPhysicalPointToContinuousIndex(moving.TransformContinuousIndexToPhysicalPoint(corner))
        for corner in itertools.product(*[(-0.5, n - 0.5) for n in moving.GetSize()])
    ]
    low, high = np.min(corners, axis=0) * spacing, np.max(corners, axis=0) * spacing  # T1w, mm along j
    start, stop = -0.5 * spacing, (size - 0.5) * spacing  # T2w
    need = shared * np.minimum(stop - start, high - low)
    # The T1w moves by u_j = -t * cos(k, j) along grid axis j; its overlap there
    # is at least ``need`` for u_j in [start - high + need, stop - low - need].
    u_low, u_high = start - high + need, stop - low - need
    cosines = np.asarray(fixed.GetDirection()).reshape(3, 3)  # [physical k, grid j]
    limits = np.tile([-np.inf, np.inf], (3, 1))
    for k, j in itertools.product(range(3), range(3)):
        c = cosines[k, j]
        if abs(c) > 1e-6:
            ends = sorted((-u_low[j] / c, -u_high[j] / c))
            limits[k] = max(limits[k, 0], ends[0]), min(limits[k, 1], ends[1])
    return limits


def grid_coverage(
    level: Level,
    moving: sitk.Image,
    transform: sitk.Euler3DTransform,
    steps: Sequence[int],
    lengths: Sequence[float],
) -> np.ndarray:
    """Fraction of the sampled T2w voxels that fall inside the T1w, at each point of a rigid grid.

    The grid is the exhaustive optimiser's: point ``i`` along parameter ``k``
    (3 angles in rad, then 3 shifts in mm, of ``transform``, an Euler
    transform) lies ``(i - steps[k]) x lengths[k]`` from ``transform``'s
    parameters. The voxels are those the metric samples (inside the
    level's mask), at most ``_MAX_POINTS`` of them, evenly spread.

    Returns:
        An array of shape ``2 x steps + 1``.
    """
    points = _sampled_points(level)
    centre = np.asarray(transform.GetParameters(), dtype=float)
    axes = [centre[k] + (np.arange(2 * n + 1) - n) * lengths[k] for k, n in enumerate(steps)]
    shifts = np.stack(np.meshgrid(*axes[3:], indexing="ij"), axis=-1).reshape(-1, 3)
    to_index = np.linalg.inv(np.asarray(moving.GetDirection()).reshape(3, 3) @ np.diag(moving.GetSpacing()))
    low, high = -0.5, np.asarray(moving.GetSize()) - 0.5
    origin = np.asarray(moving.GetOrigin())
    turned = sitk.Euler3DTransform(transform)
    pivot = np.asarray(turned.GetCenter())
    moved = (shifts @ to_index.T).astype(np.float32)  # what each shift adds to a T1w index
    coverage = np.empty([len(a) for a in axes[:3]] + [len(shifts)])
    for index in itertools.product(*[range(len(a)) for a in axes[:3]]):
        turned.SetParameters((*[axes[k][i] for k, i in enumerate(index)], 0.0, 0.0, 0.0))
        rotated = (points - pivot) @ np.asarray(turned.GetMatrix()).reshape(3, 3).T + pivot
        base = ((rotated - origin) @ to_index.T).astype(np.float32)
        inside = np.ones((len(points), len(shifts)), dtype=bool)
        for j in range(3):  # the continuous T1w index of every point (rows) at every shift (columns)
            at = base[:, j, None] + moved[None, :, j]
            inside &= (at >= low) & (at <= high[j])
        coverage[index] = inside.mean(axis=0)
    return coverage.reshape([len(a) for a in axes])


def _sampled_points(level: Level) -> np.ndarray:
    """Physical points (ITK LPS mm) of up to ``_MAX_POINTS`` fixed-level voxels the metric may sample."""
    shape = level.fixed.GetSize()[::-1]
    usable = sitk.GetArrayViewFromImage(level.mask) > 0 if level.mask is not None else np.ones(shape, bool)
    voxels = np.argwhere(usable)[:, ::-1]
    voxels = voxels[:: max(1, len(voxels) // _MAX_POINTS)].astype(float)
    direction = np.asarray(level.fixed.GetDirection()).reshape(3, 3)
    return voxels * np.asarray(level.fixed.GetSpacing()) @ direction.T + np.asarray(level.fixed.GetOrigin())


def covered_boxes(wanted: np.ndarray, allowed: np.ndarray) -> list[Box]:
    """Boxes of odd width along every axis, inside ``allowed``, that together hold every ``wanted`` cell.

    Each box costs one run of the optimiser, about ``_RUN_COST`` points'
    worth before its first point, so the boxes are chosen to cost least in
    all: a box is run whole when it lies in ``allowed`` and that is cheaper
    than cutting it into layers (along the axis whose layers are most often
    wholly allowed or wholly unwanted; consecutive wholly allowed layers stay
    together) and keeping those with a wanted cell. A box of even width loses its last layer to a box of its own, so
    that every box has a centre cell (the exhaustive optimiser's grid is
    symmetric about its start).
    """
    return _plan(wanted, allowed, tuple((0, n - 1) for n in wanted.shape))[1]


def _plan(wanted: np.ndarray, allowed: np.ndarray, box: Box) -> tuple[float, list[Box]]:
    """(cost in points, boxes) of the cheapest cover of ``box``'s wanted cells."""
    cells = tuple(slice(a, b + 1) for a, b in box)
    if not wanted[cells].any():
        return 0.0, []
    options = []
    if allowed[cells].all():
        even = [k for k, (a, b) in enumerate(box) if (b - a) % 2 == 1]
        if not even:
            options.append((_RUN_COST + wanted[cells].size, [box]))
        else:
            k, (a, b) = even[0], box[even[0]]
            parts = [_plan(wanted, allowed, (*box[:k], span, *box[k + 1 :])) for span in ((a, b - 1), (b, b))]
            options.append((sum(c for c, _ in parts), [b for _, bs in parts for b in bs]))
    spans = {k: _slices(wanted[cells], allowed[cells], k, box[k][0]) for k, (a, b) in enumerate(box) if b > a}
    cuttable = [k for k, axis_spans in spans.items() if axis_spans != [box[k]]]
    if cuttable and not (options and options[0][0] <= _RUN_COST + 1):
        axis = max(
            cuttable, key=lambda k: (_clean_layers(wanted[cells], allowed[cells], k), box[k][1] - box[k][0])
        )
        parts = [_plan(wanted, allowed, (*box[:axis], span, *box[axis + 1 :])) for span in spans[axis]]
        options.append((sum(c for c, _ in parts), [b for _, bs in parts for b in bs]))
    return min(options, key=lambda option: option[0]) if options else (0.0, [])


def _slices(wanted: np.ndarray, allowed: np.ndarray, axis: int, first: int) -> list[tuple[int, int]]:
    """Spans of layers along ``axis`` (indices from ``first``) that hold a wanted cell.

    Consecutive wholly allowed layers form one span; any other layer is a
    span of its own; layers without a wanted cell are left out.
    """
    others = tuple(k for k in range(allowed.ndim) if k != axis)
    needed, whole = wanted.any(axis=others), allowed.all(axis=others)
    spans: list[tuple[int, int]] = []
    for i in np.flatnonzero(needed):
        if whole[i] and spans and whole[i - 1] and spans[-1][1] == first + i - 1:
            spans[-1] = (spans[-1][0], first + int(i))
        else:
            spans.append((first + int(i), first + int(i)))
    return spans


def _clean_layers(wanted: np.ndarray, allowed: np.ndarray, axis: int) -> int:
    """How many layers along ``axis`` are wholly allowed or hold no wanted cell."""
    others = tuple(k for k in range(wanted.ndim) if k != axis)
    return int(np.sum(allowed.all(axis=others) | ~wanted.any(axis=others)))
