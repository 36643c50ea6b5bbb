"""The cascade's crop: the cord's bounding box plus a margin, sized for the lesion network (torch-free).

Step 4 of :mod:`spinetumor.inference.predict`: the box is grown to at least
one patch and to a whole number of sliding-window strides, so that the windows
tile it evenly. When stage 1 ran on a grid of its own (``stage1_chain``), the
cord's box reaches the lesion grid through world coordinates
(:mod:`spinetumor.inference.regions`) before the margin and the sizing.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np

from spinetumor.inference.masks import bounding_box
from spinetumor.inference.regions import Box, box_corners, box_on_grid
from spinetumor.inference.settings import InferenceSettings
from spinetumor.io import voxel_sizes

__all__ = ["Box", "crop_box_from_mask", "lesion_crop_box", "sized_box"]

logger = logging.getLogger(__name__)


def crop_box_from_mask(
    mask: np.ndarray,
    margin_vox: Sequence[int],
    min_shape: Sequence[int] | None = None,
    shape_multiple: int | Sequence[int] = 1,
) -> Box:
    """Bounding box of a (predicted) cord mask, with margin, sized for the network.

    Per axis: the mask's extent plus ``margin_vox`` on each side, clipped to the
    volume; then grown symmetrically (slid back inside the volume at its edges)
    to at least ``min_shape`` and up to a multiple of ``shape_multiple``. An
    axis that the volume cannot hold at that size gets the whole axis.

    Args:
        mask: 3D array; non-zero voxels are the cord.
        margin_vox: Voxels added on each side, per axis.
        min_shape: Smallest box shape (e.g. the patch size), or None.
        shape_multiple: The box shape is rounded up to a multiple of this, per
            axis or for all (e.g. the sliding-window stride, so that windows
            tile the box evenly).

    Returns:
        ``(start, stop)``: voxel indices, ``stop`` exclusive. An empty mask
        gives the whole volume (with a logged warning): with no cord found,
        the lesion network must see everything rather than nothing.

    Raises:
        ValueError: ``mask`` is not 3D, or a size argument is negative or not
            three integers.
    """
    mask = np.asarray(mask)
    if mask.ndim != 3:
        raise ValueError(f"crop_box_from_mask expects a 3D mask, got shape {mask.shape}")
    _sizes(margin_vox, min_shape, shape_multiple)  # bad arguments are errors, empty mask or not
    if not mask.any():
        logger.warning("empty cord mask: cropping to the whole volume %s", mask.shape)
        return (0, 0, 0), tuple(int(n) for n in mask.shape)  # type: ignore[return-value]
    return sized_box(_tight(mask), mask.shape, margin_vox, min_shape, shape_multiple)


def sized_box(
    box: Box,
    shape: Sequence[int],
    margin_vox: Sequence[int],
    min_shape: Sequence[int] | None = None,
    shape_multiple: int | Sequence[int] = 1,
) -> Box:
    """``box`` plus ``margin_vox`` on each side, clipped to ``shape``, grown as :func:`crop_box_from_mask` says."""
    margin, minimum, multiple = _sizes(margin_vox, min_shape, shape_multiple)
    start, stop = [], []
    for axis, size in enumerate(shape):
        lo, hi = max(0, box[0][axis] - margin[axis]), min(int(size), box[1][axis] + margin[axis])
        target = max(hi - lo, minimum[axis])
        target = min(int(size), math.ceil(target / multiple[axis]) * multiple[axis])
        lo, hi = _axis_extent(lo, hi, int(size), target)
        start.append(lo)
        stop.append(hi)
    return tuple(start), tuple(stop)  # type: ignore[return-value]


def lesion_crop_box(
    cord: np.ndarray,
    affine: np.ndarray,
    cfg: InferenceSettings,
    onto: tuple[np.ndarray, Sequence[int]] | None = None,
) -> Box:
    """The region the lesion network sees: :func:`crop_box_from_mask` with the settings' sizes.

    Args:
        cord: 3D cord mask on the grid of ``affine``.
        affine: That grid's 4x4 affine.
        cfg: Validated settings: ``crop_margin_mm``, ``patch_size`` (the
            smallest box) and the lesion window's stride (the box's shape
            multiple), or, with ``patch_size`` None, ``window_multiple``.
        onto: The lesion grid's affine and shape, when stage 1 ran on another
            grid: the cord's bounding box is carried there through world
            coordinates (:func:`spinetumor.inference.regions.box_on_grid`),
            then given its margin (in that grid's voxels) and its size.

    Returns:
        ``(start, stop)`` voxel indices on the lesion grid (logged).
    """
    grid_affine, grid_shape = (affine, cord.shape) if onto is None else (onto[0], tuple(onto[1]))
    sizes = {"min_shape": cfg.patch_size, "shape_multiple": _stride(cfg, grid_shape)}
    margin = _margin_voxels(cfg.crop_margin_mm, grid_affine)
    if onto is None:
        box = crop_box_from_mask(cord, margin, **sizes)
    elif not cord.any():
        logger.warning("empty cord mask: cropping to the whole volume %s", grid_shape)
        box = (0, 0, 0), tuple(int(n) for n in grid_shape)  # type: ignore[assignment]
    else:
        carried = box_on_grid(box_corners(_tight(cord), affine), grid_affine, grid_shape)
        box = sized_box(carried, grid_shape, margin, **sizes)
    logger.info(
        "crop %s..%s (shape %s of %s)", box[0], box[1], tuple(b - a for a, b in zip(*box)), grid_shape
    )
    return box


def _tight(mask: np.ndarray) -> Box:
    """The bounding box of a non-empty mask's voxels."""
    extent = bounding_box(mask)
    return tuple(s.start for s in extent), tuple(s.stop for s in extent)  # type: ignore[return-value]


def _axis_extent(lo: int, hi: int, size: int, target: int) -> tuple[int, int]:
    # Grow [lo, hi) symmetrically to `target` voxels, then slide it back inside [0, size).
    extra = target - (hi - lo)
    lo, hi = lo - extra // 2, hi + extra - extra // 2
    if lo < 0:
        lo, hi = 0, hi - lo
    if hi > size:
        lo, hi = lo - (hi - size), size
    return lo, hi


def _sizes(
    margin_vox: Sequence[int], min_shape: Sequence[int] | None, shape_multiple: int | Sequence[int]
) -> tuple[tuple[int, int, int], ...]:
    margin = _per_axis("margin_vox", margin_vox, 0)
    minimum = _per_axis("min_shape", min_shape, 0)
    multiple = _per_axis("shape_multiple", shape_multiple, 1)
    if min(multiple) < 1:
        raise ValueError(f"shape_multiple must be positive, got {shape_multiple!r}")
    return margin, minimum, multiple


def _per_axis(name: str, value: int | Sequence[int] | None, default: int) -> tuple[int, int, int]:
    if value is None:
        return (default,) * 3
    values = [value] * 3 if isinstance(value, (int, np.integer)) else list(value)
    if len(values) != 3 or any(int(v) != v or v < 0 for v in values):
        raise ValueError(f"{name} must be a non-negative integer or three of them, got {value!r}")
    return tuple(int(v) for v in values)  # type: ignore[return-value]


def _margin_voxels(margin_mm: Sequence[float], affine: np.ndarray) -> tuple[int, int, int]:
    return tuple(int(math.ceil(m / s - 1e-9)) for m, s in zip(margin_mm, voxel_sizes(affine)))  # type: ignore


def _stride(cfg: InferenceSettings, shape: Sequence[int]) -> tuple[int, ...]:
    if cfg.patch_size is None and cfg.window_multiple is not None:
        return cfg.window_multiple  # one window fitted to the box
    patch = cfg.patch_size or tuple(shape)
    overlap = cfg.overlap if isinstance(cfg.overlap, tuple) else (cfg.overlap,) * len(patch)
    return tuple(max(1, int(p * (1 - o))) for p, o in zip(patch, overlap))
