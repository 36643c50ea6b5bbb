"""Checks of one input file: readable, 3D, finite, a sane geometry, label values.

Each check returns problems as ``(file, message)`` pairs so that a report can
name the subject, the file and the problem. Besides the contents, the
geometry must be one that every tool reads alike: square voxel axes and, when
both are set, sform and qform in agreement (nibabel and MONAI read the sform,
SimpleITK falls back to the qform when the sform is sheared).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from spinetumor import LABELS
from spinetumor.data.labelfiles import LESION_STRUCTURES
from spinetumor.io import load_nifti, voxel_sizes

__all__ = ["LABEL_VALUES", "Problem", "check_image", "check_label", "read_label"]

#: Allowed values per label kind: the lesion ``dseg`` map or a binary mask.
LABEL_VALUES: dict[str, frozenset[int]] = {
    "dseg": frozenset({0, *LABELS.values()}),
    **{name: frozenset({0, 1}) for name in LESION_STRUCTURES},
    "cord": frozenset({0, 1}),
    "centerline": frozenset({0, 1}),
}

#: World-coordinate tolerance (mm) for "the label is on the image's grid".
GRID_TOLERANCE_MM = 1e-3

#: Largest cosine accepted between two voxel axes (|R^T R - I| of the unit
#: direction columns), about 0.006 degrees from square. Real scanner headers
#: are square to float32 precision (~1e-7); SimpleITK reads a sform sheared by
#: 1e-4 from the sform but one sheared by 1e-3 from the qform, while nibabel
#: and MONAI always use the sform, so anything looser would let the tools
#: place the voxels differently.
ORTHOGONALITY_TOLERANCE = 1e-4

#: Largest disagreement accepted between a coded sform and a coded qform:
#: a hundredth of a millimetre (origin, voxel sizes) and of a degree (axes),
#: far below any voxel yet far above float32 storage noise (~1e-5 mm; the
#: demo's oblique headers differ by up to 2e-4 degrees). SimpleITK may read
#: one and nibabel/MONAI the other.
XFORM_TOLERANCE_MM = 0.01
XFORM_TOLERANCE_DEG = 0.01

#: A problem: ``(file, message)``; ``file`` is ``""`` when it concerns the unit as a whole.
Problem = tuple[str, str]


def _load_array(path: str) -> tuple[Any, np.ndarray | None, list[Problem]]:
    """Load image and data; report unreadable files and dimensionality."""
    try:
        img = load_nifti(path)
    except (FileNotFoundError, ValueError) as exc:
        return None, None, [(path, str(exc).removeprefix(f"{path}: "))]
    shape = img.shape
    if len(shape) == 4 and shape[3] == 1:
        pass
    elif len(shape) != 3:
        return img, None, [(path, f"expected a 3D image (or 4D with one volume), got shape {shape}")]
    try:
        data = np.asanyarray(img.dataobj)
    except Exception as exc:  # truncated gzip streams, bad offsets...
        return img, None, [(path, f"cannot read the voxel data ({exc})")]
    return img, data.reshape(shape[:3]), []


def _check_geometry(path: str, img: Any) -> list[Problem]:
    """A usable voxel-to-world matrix that every tool of the pipeline reads alike.

    nibabel and MONAI use the sform when it is coded; SimpleITK falls back to
    the qform when the sform is sheared. So the matrix must have square axes,
    and a coded qform must agree with a coded sform.
    """
    affine = img.affine
    sizes = voxel_sizes(affine)
    if not np.all(np.isfinite(affine)) or np.any(sizes < 1e-6) or abs(np.linalg.det(affine[:3, :3])) < 1e-9:
        return [(path, f"degenerate voxel-to-world matrix (voxel sizes {np.round(sizes, 4).tolist()})")]
    problems = []
    directions = affine[:3, :3] / sizes
    shear = float(np.abs(directions.T @ directions - np.eye(3)).max())
    if shear > ORTHOGONALITY_TOLERANCE:
        degrees = 90.0 - np.degrees(np.arccos(min(shear, 1.0)))
        problems.append(
            (
                path,
                (
                    f"voxel axes are not orthogonal (sheared voxel-to-world matrix: largest axis cosine {shear:.3g}, "
                    f"{degrees:.3g} degrees from square; tolerance {ORTHOGONALITY_TOLERANCE:g}): SimpleITK would read the "
                    "qform instead while nibabel and MONAI use the sform; resample the image onto an orthogonal grid"
                ),
            )
        )
    header = img.header
    sform, sform_code = header.get_sform(coded=True)
    qform, qform_code = header.get_qform(coded=True)
    if sform is not None and qform is not None:
        disagreement = _xform_disagreement(sform, qform)
        if disagreement:
            problems.append(
                (
                    path,
                    (
                        f"sform (code {int(sform_code)}) and qform (code {int(qform_code)}) disagree ({disagreement}; "
                        f"tolerance {XFORM_TOLERANCE_MM:g} mm, {XFORM_TOLERANCE_DEG:g} degrees): tools that read the qform "
                        "and those that read the sform would place the voxels differently; make them equal or unset one"
                    ),
                )
            )
    return problems


def _xform_disagreement(sform: np.ndarray, qform: np.ndarray) -> str:
    """How far two voxel-to-world matrices differ beyond tolerance ('' when they agree)."""
    found = []
    s_sizes, q_sizes = voxel_sizes(sform), voxel_sizes(qform)
    s_dirs, q_dirs = sform[:3, :3] / s_sizes, qform[:3, :3] / q_sizes
    if np.sign(np.linalg.det(s_dirs)) != np.sign(np.linalg.det(q_dirs)):
        found.append("one is the mirror image of the other")
    else:
        # |I - R|_F = 2 sqrt(2) sin(angle / 2) for a rotation R: unlike arccos of the trace,
        # this stays accurate for the tiny angles that float32 headers differ by.
        chord = float(np.linalg.norm(s_dirs - q_dirs)) / (2.0 * np.sqrt(2.0))
        angle = float(np.degrees(2.0 * np.arcsin(min(chord, 1.0))))
        if angle > XFORM_TOLERANCE_DEG:
            found.append(f"axes rotated by {angle:.3g} degrees")
    shift = float(np.linalg.norm(sform[:3, 3] - qform[:3, 3]))
    if shift > XFORM_TOLERANCE_MM:
        found.append(f"origins {shift:.3g} mm apart")
    size_diff = float(np.abs(s_sizes - q_sizes).max())
    if size_diff > XFORM_TOLERANCE_MM:
        found.append(f"voxel sizes {np.round(s_sizes, 4).tolist()} vs {np.round(q_sizes, 4).tolist()} mm")
    return ", ".join(found)


def check_image(path: str) -> tuple[Any, list[Problem]]:
    """Check that an image is readable, 3D, finite and has a sane geometry.

    Args:
        path: NIfTI file.

    Returns:
        The loaded image (or ``None``) and its problems.
    """
    img, data, problems = _load_array(path)
    if data is None:
        return img, problems
    problems += _check_geometry(path, img)
    if data.dtype.kind == "f":
        n_bad = int(np.size(data) - np.count_nonzero(np.isfinite(data)))
        if n_bad:
            problems.append((path, f"{n_bad} non-finite voxel values (NaN or inf)"))
    if np.size(data) == 0:
        problems.append((path, "image has no voxels"))
    return img, problems


def check_label(path: str, kind: str, reference: Any | None) -> list[Problem]:
    """Check a label file: readable, 3D, integer values of its kind, on the grid.

    Args:
        path: NIfTI label file.
        kind: ``dseg``, ``tumor``, ``edema``, ``cavity``, ``cord`` or ``centerline``.
        reference: The T2w image whose grid the label must share, or ``None``
            when the T2w could not be read.

    Returns:
        The problems found.
    """
    return read_label(path, kind, reference)[0]


def read_label(path: str, kind: str, reference: Any | None) -> tuple[list[Problem], bool | None]:
    """Check a label file as :func:`check_label` does, and say whether it labels any voxel.

    The file is read once for both, so that validation need not load a lesion
    label again to warn when it is empty.

    Args:
        path: NIfTI label file.
        kind: As in :func:`check_label`.
        reference: As in :func:`check_label`.

    Returns:
        The problems found, and whether any voxel is non-zero (``None`` when
        the values were not reached because of an earlier problem).
    """
    img, data, problems = _load_array(path)
    if data is None:
        return problems, None
    problems += _check_geometry(path, img)
    if problems:
        return problems, None
    if reference is not None:
        off_grid = _grid_problem(path, img, reference)
        if off_grid:
            return [off_grid], None
    values = np.asarray(data)
    if values.dtype.kind == "f":
        if not np.all(np.isfinite(values)):
            return [(path, "label has non-finite values")], None
        if not np.array_equal(values, np.round(values)):
            return [(path, "label has non-integer values")], None
    found = {int(v) for v in np.unique(values)}
    unknown = sorted(found - LABEL_VALUES[kind])
    if unknown:
        allowed = sorted(LABEL_VALUES[kind])
        problems.append((path, f"unknown label values {unknown} for a {kind} label (allowed: {allowed})"))
    return problems, bool(np.any(values))


def _grid_problem(path: str, img: Any, reference: Any) -> Problem | None:
    """Why a label is not on the T2w grid (shape or header world positions), or ``None``."""
    if img.shape[:3] != reference.shape[:3]:
        return (path, f"label grid {img.shape[:3]} differs from the T2w grid {reference.shape[:3]}")
    corners = np.array([[0, 0, 0, 1], [*np.array(img.shape[:3]) - 1, 1]], dtype=float).T
    shift = np.abs(img.affine @ corners - reference.affine @ corners).max()
    if shift > GRID_TOLERANCE_MM:
        return (path, f"label is not on the T2w grid (header world positions differ by {shift:.3g} mm)")
    return None
