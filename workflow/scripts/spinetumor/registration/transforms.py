"""Transform maths: the rigid part of a transform, and how far one transform is from another.

Transforms follow ITK: they map points of the fixed (T2w) physical space to
the moving (T1w) physical space, in ITK's LPS millimetres.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import SimpleITK as sitk

__all__ = [
    "jacobian",
    "nearest_rotation",
    "rigid_parameters",
    "rotation_angle_deg",
    "transform_centre",
    "transform_error",
]


def rigid_parameters(
    transform: sitk.Transform, centre_mm: Sequence[float]
) -> tuple[list[float], list[float], float]:
    """Rigid part of a transform about a centre.

    Args:
        transform: Any 3D transform (exact for linear ones).
        centre_mm: Physical point (ITK LPS mm) about which rotation is measured.

    Returns:
        Translation of the centre (mm, LPS), Euler angles about x, y, z (deg,
        as ``Euler3DTransform`` defines them) and the total rotation angle (deg).
    """
    centre = np.asarray(centre_mm, dtype=float)
    translation = np.asarray(transform.TransformPoint(tuple(centre))) - centre
    rotation = nearest_rotation(jacobian(transform, centre))
    euler = sitk.Euler3DTransform()
    euler.SetMatrix(tuple(rotation.ravel()))
    angles = [math.degrees(a) for a in (euler.GetAngleX(), euler.GetAngleY(), euler.GetAngleZ())]
    return translation.tolist(), angles, rotation_angle_deg(rotation)


def transform_error(
    estimated: sitk.Transform, truth: sitk.Transform, reference_points_mm: np.ndarray
) -> tuple[float, float]:
    """How far an estimated transform is from the truth.

    Args:
        estimated: Estimated fixed-to-moving transform.
        truth: True fixed-to-moving transform.
        reference_points_mm: (N, 3) fixed-space physical points (ITK LPS mm),
            e.g. voxel centres inside the object.

    Returns:
        The largest distance (mm) between where the two transforms send the
        points, and the rotation angle (deg) of the residual
        ``estimated o truth^-1`` (its rigid part, at the points' centroid).

    Raises:
        ValueError: ``reference_points_mm`` is not a non-empty (N, 3) array.
    """
    points = np.asarray(reference_points_mm, dtype=float)
    if points.ndim != 2 or points.shape[1] != 3 or len(points) == 0:
        raise ValueError(f"reference_points_mm must be a non-empty (N, 3) array, got shape {points.shape}")
    mapped_est = np.array([estimated.TransformPoint(tuple(p)) for p in points])
    mapped_true = np.array([truth.TransformPoint(tuple(p)) for p in points])
    max_mm = float(np.linalg.norm(mapped_est - mapped_true, axis=1).max())
    centroid = points.mean(axis=0)
    residual = jacobian(estimated, centroid) @ np.linalg.inv(jacobian(truth, centroid))
    return max_mm, rotation_angle_deg(nearest_rotation(residual))


def transform_centre(transform: sitk.Transform) -> tuple[float, ...]:
    """Rotation centre of a matrix-offset transform, else the origin."""
    try:
        return tuple(transform.Downcast().GetCenter())
    except (AttributeError, RuntimeError):
        return (0.0, 0.0, 0.0)


def jacobian(transform: sitk.Transform, point: np.ndarray, step_mm: float = 1.0) -> np.ndarray:
    """3x3 spatial Jacobian by central differences (exact for linear transforms)."""
    jac = np.empty((3, 3))
    for axis in range(3):
        delta = np.zeros(3)
        delta[axis] = step_mm
        plus = np.asarray(transform.TransformPoint(tuple(point + delta)))
        minus = np.asarray(transform.TransformPoint(tuple(point - delta)))
        jac[:, axis] = (plus - minus) / (2 * step_mm)
    return jac


def nearest_rotation(matrix: np.ndarray) -> np.ndarray:
    """Rotation closest to ``matrix`` (polar decomposition), the rigid part of an affine."""
    u, _, vt = np.linalg.svd(matrix)
    if np.linalg.det(u @ vt) < 0:
        u[:, -1] *= -1
    return u @ vt


def rotation_angle_deg(rotation: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip((np.trace(rotation) - 1.0) / 2.0, -1.0, 1.0))))
