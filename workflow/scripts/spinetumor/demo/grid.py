"""Acquisition grids of the demo images and the true T1w misalignment (world geometry only).

A grid is a sagittal, anisotropic voxel lattice (thick R-L slices) with its own
matrix, field of view, header orientation and obliquity; :attr:`GridParameters.affine`
says where every stored voxel is. :class:`Misalignment` is the rigid move of the
T1w anatomy that registration has to find.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["ORIENTATIONS", "GridParameters", "Misalignment", "rotation_matrix"]

#: Header orientations (``nibabel.aff2axcodes`` of the stored array) drawn per
#: subject. Sagittal scans converted by different tools end up in many of these.
ORIENTATIONS: tuple[str, ...] = ("RAS", "LPS", "PSR", "ASL", "PIL", "LAS", "SPL", "IAR", "RPI", "ASR")

# Axis code letter -> (world axis, direction).
_AXIS_LETTERS = {"R": (0, 1.0), "L": (0, -1.0), "A": (1, 1.0), "P": (1, -1.0), "S": (2, 1.0), "I": (2, -1.0)}


def rotation_matrix(angles_deg: Sequence[float]) -> np.ndarray:
    """``Rz @ Ry @ Rx`` for angles (rx, ry, rz) in degrees about the world axes."""
    rx, ry, rz = np.deg2rad(np.asarray(angles_deg, dtype=float))
    cx, sx, cy, sy, cz, sz = np.cos(rx), np.sin(rx), np.cos(ry), np.sin(ry), np.cos(rz), np.sin(rz)
    mx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    my = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    mz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return mz @ my @ mx


@dataclass(frozen=True)
class GridParameters:
    """One acquisition grid.

    Attributes:
        voxel_size_mm: Voxel edge lengths along world R-L (slice thickness),
            A-P and S-I, in mm.
        shape_ras: Number of voxels along world R-L, A-P and S-I.
        orientation: Axis codes of the stored array (``nibabel.aff2axcodes``),
            e.g. ``"PSR"``: array axis 0 runs to posterior, 1 to superior, 2 to right.
        center_mm: World (scanner RAS+, mm) position of the centre of the field of view.
        oblique_deg: Rotation of the field of view about its centre, about the
            world R, A and S axes (applied in that order), in degrees.
    """

    voxel_size_mm: tuple[float, float, float]
    shape_ras: tuple[int, int, int]
    orientation: str
    center_mm: tuple[float, float, float]
    oblique_deg: tuple[float, float, float]

    @property
    def axes(self) -> tuple[tuple[int, float], ...]:
        """For each stored axis: (world axis 0/1/2 for R/A/S, direction sign)."""
        return tuple(_AXIS_LETTERS[c] for c in self.orientation)

    @property
    def shape(self) -> tuple[int, int, int]:
        """Shape of the stored array."""
        return tuple(self.shape_ras[w] for w, _ in self.axes)  # type: ignore[return-value]

    @property
    def fov_mm(self) -> tuple[float, float, float]:
        """Field of view along world R-L, A-P and S-I, in mm."""
        return tuple(n * d for n, d in zip(self.shape_ras, self.voxel_size_mm))  # type: ignore[return-value]

    @property
    def slice_axis(self) -> int:
        """Stored axis that runs R-L (the thick one)."""
        return [w for w, _ in self.axes].index(0)

    @property
    def si_axis(self) -> int:
        """Stored axis that runs S-I."""
        return [w for w, _ in self.axes].index(2)

    @property
    def affine(self) -> np.ndarray:
        """4x4 voxel-to-world (RAS+, mm) matrix of the stored array."""
        cols = np.zeros((3, 3))
        for k, (w, sign) in enumerate(self.axes):
            cols[w, k] = sign * self.voxel_size_mm[w]
        rot = rotation_matrix(self.oblique_deg)
        linear = rot @ cols
        centre_index = (np.asarray(self.shape, float) - 1.0) / 2.0
        affine = np.eye(4)
        affine[:3, :3] = linear
        affine[:3, 3] = np.asarray(self.center_mm) - linear @ centre_index
        return affine


@dataclass(frozen=True)
class Misalignment:
    """True rigid displacement of the T1w anatomy relative to the T2w anatomy.

    A point of the anatomy at world position ``p`` in the T2w image (RAS+, mm)
    appears at world position ``p' = R (p - c) + c + t`` in the T1w image, where
    ``R = Rz(rz) @ Ry(ry) @ Rx(rx)`` (angles ``rotation_deg`` about the world R,
    A and S axes, right-handed), ``c = center_mm`` and ``t = translation_mm``;
    :attr:`matrix` is this map as a 4x4 RAS matrix ``M``.

    In ITK terms (fixed = T2w, moving = T1w, transform maps fixed points to
    moving points) the exact registration result is ``M``; in LPS it is
    ``F M F`` with ``F = diag(-1, -1, 1, 1)``. To put the T1w onto the T2w grid,
    sample the T1w at ``M @ p`` for every T2w voxel position ``p``; equivalently,
    replacing the T1w affine ``A`` by ``inv(M) @ A`` corrects its header.

    Attributes:
        rotation_deg: (rx, ry, rz) in degrees.
        translation_mm: (tx, ty, tz) in mm.
        center_mm: Rotation centre ``c`` (the centre of the T2w field of view).
    """

    rotation_deg: tuple[float, float, float]
    translation_mm: tuple[float, float, float]
    center_mm: tuple[float, float, float]

    @property
    def matrix(self) -> np.ndarray:
        """The 4x4 world-to-world (RAS+, mm) map from T2w to T1w anatomy positions."""
        rot = rotation_matrix(self.rotation_deg)
        centre = np.asarray(self.center_mm)
        out = np.eye(4)
        out[:3, :3] = rot
        out[:3, 3] = centre - rot @ centre + np.asarray(self.translation_mm)
        return out

    def to_json(self) -> dict[str, Any]:
        """Sidecar representation (``SyntheticMisalignment``)."""
        return {
            "rotation_deg": [round(v, 6) for v in self.rotation_deg],
            "translation_mm": [round(v, 6) for v in self.translation_mm],
            "center_mm": [round(v, 6) for v in self.center_mm],
            "matrix_ras": np.round(self.matrix, 9).tolist(),
            "convention": (
                "p_T1w = R (p_T2w - center_mm) + center_mm + translation_mm, R = Rz Ry Rx with "
                "rotation_deg = [rx, ry, rz] about the world R, A, S axes; RAS+ mm. Maps the world "
                "position of an anatomical point in the T2w image to its world position in this "
                "T1w image (matrix_ras). To align this image to the T2w, sample it at "
                "matrix_ras @ p for each T2w position p (ITK fixed=T2w, moving=T1w transform)."
            ),
        }
