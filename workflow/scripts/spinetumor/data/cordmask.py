"""Spinal cord masks on the T2w grid, from the best source a subject has.

Sources, tried in the configured priority order:

- ``manual``: a manual cord segmentation, used as is;
- ``centerline``: a centreline label turned into a tube of fixed diameter
  (30 mm in Lemay et al. 2021), measured in world millimetres so that
  anisotropic voxels do not distort it;
- ``model``: the cord-localisation model's prediction (models stage).

Which source a unit uses: :mod:`spinetumor.data.cordsource`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from spinetumor.io import voxel_sizes

__all__ = ["centerline_points", "cylinder_mask", "cord_mask", "provenance"]


def centerline_points(centerline: np.ndarray, affine: np.ndarray, step_mm: float = 0.5) -> np.ndarray:
    """World coordinates of a centreline, densely resampled along its length.

    The labelled voxels are ordered along their main direction (the cord's
    long axis), and linearly interpolated every ``step_mm`` so that the tube
    built around them has no gaps between widely spaced labels.

    Args:
        centerline: Label array, non-zero on the centreline.
        affine: Voxel-to-world matrix of the array.
        step_mm: Spacing of the returned points.

    Returns:
        ``(n, 3)`` array of points in mm.

    Raises:
        ValueError: fewer than two labelled voxels.
    """
    idx = np.argwhere(centerline > 0)
    if len(idx) < 2:
        raise ValueError(f"centreline has {len(idx)} labelled voxel(s); at least 2 are needed")
    world = idx @ affine[:3, :3].T + affine[:3, 3]
    centred = world - world.mean(axis=0)
    axis = np.linalg.svd(centred, full_matrices=False)[2][0]
    position = centred @ axis
    order = np.argsort(position)
    # Several labels in one plane across the cord (thick slices) collapse to their mean.
    position, world = position[order], world[order]
    keys, inverse = np.unique(np.round(position, 3), return_inverse=True)
    means = np.stack(
        [np.bincount(inverse, weights=world[:, k]) / np.bincount(inverse) for k in range(3)], axis=1
    )
    if len(keys) == 1:
        return means
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(means, axis=0), axis=1))])
    samples = np.arange(0.0, arc[-1] + step_mm / 2, step_mm)
    return np.stack([np.interp(samples, arc, means[:, k]) for k in range(3)], axis=1)


def cylinder_mask(centerline: np.ndarray, affine: np.ndarray, diameter_mm: float = 30.0) -> np.ndarray:
    """A tube of ``diameter_mm`` around a centreline, with flat ends.

    A voxel is inside when its centre lies within ``diameter_mm / 2`` of the
    centreline and its projection on the centreline's main axis falls between
    the centreline's first and last points.

    Args:
        centerline: Label array, non-zero on the centreline.
        affine: Voxel-to-world matrix of the array.
        diameter_mm: Tube diameter.

    Returns:
        ``uint8`` mask of the array's shape.
    """
    if diameter_mm <= 0:
        raise ValueError(f"cylinder diameter must be positive, got {diameter_mm}")
    radius = diameter_mm / 2.0
    points = centerline_points(centerline, affine, step_mm=min(0.5, radius / 4))
    axis_dir = points[-1] - points[0]
    norm = np.linalg.norm(axis_dir)
    axis_dir = axis_dir / norm if norm > 0 else np.zeros(3)
    lo, hi = sorted((points[0] @ axis_dir, points[-1] @ axis_dir))

    # Only voxels inside the centreline's bounding box grown by the radius can be in the tube.
    inv = np.linalg.inv(affine)
    margin = radius / voxel_sizes(affine)
    corners = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], dtype=float)
    box_world = points.min(0) + corners * (points.max(0) - points.min(0))
    box_vox = box_world @ inv[:3, :3].T + inv[:3, 3]
    start = np.maximum(np.floor(box_vox.min(0) - margin), 0).astype(int)
    stop = np.minimum(np.ceil(box_vox.max(0) + margin) + 1, centerline.shape).astype(int)
    mask = np.zeros(centerline.shape, dtype=np.uint8)
    if np.any(stop <= start):
        return mask
    grid = np.stack(np.meshgrid(*[np.arange(a, b) for a, b in zip(start, stop)], indexing="ij"), axis=-1)
    world = grid.reshape(-1, 3) @ affine[:3, :3].T + affine[:3, 3]
    distance, _ = cKDTree(points).query(world, distance_upper_bound=radius + 1e-6)
    along = world @ axis_dir
    inside = (distance <= radius) & (along >= lo - 1e-6) & (along <= hi + 1e-6)
    mask[tuple(slice(a, b) for a, b in zip(start, stop))] = inside.reshape(grid.shape[:3])
    return mask


def cord_mask(label: np.ndarray, affine: np.ndarray, source: str, diameter_mm: float = 30.0) -> np.ndarray:
    """The cord mask from a source's label on the T2w grid.

    Args:
        label: The manual mask, the centreline label or the model's mask.
        affine: Voxel-to-world matrix of the T2w grid.
        source: ``manual``, ``centerline`` or ``model``.
        diameter_mm: Tube diameter for the ``centerline`` source.

    Returns:
        ``uint8`` mask: the tube around a centreline, else the label's non-zero voxels.
    """
    if source == "centerline":
        return cylinder_mask(label, affine, diameter_mm)
    return (label > 0).astype(np.uint8)


def provenance(
    mask: np.ndarray, affine: np.ndarray, source: str, source_file: str, diameter_mm: float
) -> dict[str, Any]:
    """Where a cord mask comes from and how large it is (its JSON record).

    Args:
        mask: The cord mask.
        affine: Its voxel-to-world matrix.
        source: ``manual``, ``centerline`` or ``model``.
        source_file: The file it was made from.
        diameter_mm: Tube diameter (recorded for the ``centerline`` source only).

    Returns:
        ``source``, ``source_file``, ``diameter_mm``, ``voxels`` and ``volume_mm3``.
    """
    return {
        "source": source,
        "source_file": str(source_file),
        "diameter_mm": diameter_mm if source == "centerline" else None,
        "voxels": int(mask.sum()),
        "volume_mm3": float(mask.sum() * np.prod(voxel_sizes(affine))),
    }
