"""A box found on one grid, carried in world coordinates to another (torch-free).

A multi-resolution cascade localises the cord on a coarse grid and segments
lesions on a finer grid restricted to the cord's box. The box travels
between the two as the world (RAS mm) corners of its voxels' extent
(:func:`box_corners`), never as voxel indices, so the two grids may differ
in spacing, origin and axis order. On the fine grid it becomes the voxels
whose extent meets that region (:func:`box_on_grid`), or a grid of its own
(:func:`grid_for_box`): the box grown to a window the lesion network takes
in one pass (:func:`fitted_window`), on which the native image is resampled
once.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from spinetumor.io import voxel_sizes

__all__ = ["Box", "box_corners", "box_on_grid", "fitted_window", "grid_for_box"]

#: ``(start, stop)`` voxel indices of a box, ``stop`` exclusive.
Box = tuple[tuple[int, int, int], tuple[int, int, int]]

#: Voxel coordinates this close to a half-voxel edge count as on it.
_EDGE_TOLERANCE = 1e-4


def box_corners(box: Box, affine: np.ndarray) -> np.ndarray:
    """World (RAS mm) corners ``(8, 3)`` of the extent of ``box``'s voxels on the grid of ``affine``.

    A voxel ``i`` spans ``i - 0.5 .. i + 0.5``, so the box ``start .. stop``
    (``stop`` exclusive) spans ``start - 0.5 .. stop - 0.5`` along each axis.
    """
    start, stop = np.asarray(box[0], float) - 0.5, np.asarray(box[1], float) - 0.5
    voxels = np.asarray(list(itertools.product(*zip(start, stop, strict=True))))
    return voxels @ np.asarray(affine)[:3, :3].T + np.asarray(affine)[:3, 3]


def box_on_grid(corners: np.ndarray, affine: np.ndarray, shape: Sequence[int] | None = None) -> Box:
    """The voxels of the grid of ``affine`` whose extent meets the region spanned by ``corners``.

    The region is the corners' bounding box in this grid's voxel axes
    (exact when both grids share their axis directions, larger otherwise).
    With ``shape``, the box is clipped to the grid.

    Raises:
        ValueError: the clipped box is empty (the region lies outside the grid).
    """
    voxels = (np.asarray(corners, float) - np.asarray(affine)[:3, 3]) @ np.linalg.inv(
        np.asarray(affine)[:3, :3]
    ).T
    low, high = voxels.min(axis=0), voxels.max(axis=0)
    # Voxel i meets (low, high) when i + 0.5 > low and i - 0.5 < high.
    start = [math.floor(v + 0.5 + _EDGE_TOLERANCE) for v in low]
    stop = [math.ceil(v + 0.5 - _EDGE_TOLERANCE) for v in high]
    if shape is not None:
        start = [max(0, a) for a in start]
        stop = [min(int(n), b) for b, n in zip(stop, shape, strict=True)]
    if any(b <= a for a, b in zip(start, stop, strict=True)):
        raise ValueError(f"the box lies outside the grid (voxels {start}..{stop} of {shape})")
    return tuple(start), tuple(stop)  # type: ignore[return-value]


def fitted_window(
    shape: Sequence[int], divisor: Sequence[int], minimum: Sequence[int] | None = None
) -> tuple[int, ...]:
    """The smallest window holding ``shape`` that the network takes: a multiple of ``divisor``, at least ``minimum``.

    ``divisor`` is, per axis, the product of the network's strides (a U-Net
    halving an axis four times needs a multiple of 16 there).
    """
    minimum = minimum if minimum is not None else (1,) * len(shape)
    if not len(shape) == len(divisor) == len(minimum) or min(divisor) < 1:
        raise ValueError(
            f"shape {tuple(shape)}, divisor {tuple(divisor)} and minimum {tuple(minimum)} must match"
        )
    return tuple(int(math.ceil(max(n, m) / d) * d) for n, d, m in zip(shape, divisor, minimum, strict=True))


def grid_for_box(
    corners: np.ndarray,
    axes_affine: np.ndarray,
    spacing: Sequence[float],
    divisor: Sequence[int],
    minimum: Sequence[int] | None = None,
) -> tuple[np.ndarray, tuple[int, ...]]:
    """A grid of ``spacing`` mm, with the axis directions of ``axes_affine``, over the region of ``corners``.

    The region is measured along those axes, rounded up to whole voxels,
    then grown symmetrically to :func:`fitted_window`, so the grid's centre
    is the region's centre and the network sees the box's surroundings
    rather than padding.

    Returns:
        The grid's 4x4 affine and its shape.
    """
    directions = np.asarray(axes_affine)[:3, :3] / voxel_sizes(axes_affine)
    along = np.asarray(corners, float) @ directions  # mm along each axis (directions are orthonormal)
    low, high = along.min(axis=0), along.max(axis=0)
    step = np.asarray(spacing, float)
    needed = [math.ceil((h - lo) / s - _EDGE_TOLERANCE) for lo, h, s in zip(low, high, step, strict=True)]
    shape = fitted_window(needed, divisor, minimum)
    centre = (low + high) / 2
    first = centre - (np.asarray(shape) - 1) / 2 * step  # the first voxel's centre, along each axis
    affine = np.eye(4)
    affine[:3, :3] = directions * step
    affine[:3, 3] = directions @ first
    return affine, shape
