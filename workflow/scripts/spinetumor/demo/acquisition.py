"""Acquire the demo anatomy on the T2w and T1w grids: partial volume, bias field, noise, storage type.

Partial volume: three sub-samples through each thick slice plus a linear ramp of
one in-plane pixel at every edge (the box-filtered profile of a straight edge).
Then a smooth multiplicative bias field (posterior coil sensitivity plus a
random low-order polynomial, different per contrast), Rician noise (magnitude of
complex Gaussian noise), a per-scanner intensity scale, and int16 or float32
storage. The T1w sees the anatomy moved by the subject's misalignment.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from spinetumor.demo.anatomy import AnatomyModel
from spinetumor.demo.grid import GridParameters
from spinetumor.demo.params import SequenceParameters, SubjectParameters
from spinetumor.demo.tissues import TISSUE_NAMES, TISSUES

__all__ = ["render_subject"]

_SUBSAMPLES = (-1.0 / 3.0, 0.0, 1.0 / 3.0)  # through-slice partial-volume sampling
_CHUNK_POINTS = 80_000  # small batches stay in cache


def _grid_coordinates(
    affine: np.ndarray, shape: Sequence[int], rows: slice, offset: Sequence[float]
) -> tuple[np.ndarray, ...]:
    """Coordinates (float32, flattened) of voxels ``rows`` of axis 0 under ``affine``."""
    f32 = np.float32
    axes = [
        (np.arange(rows.start, rows.stop, dtype=f32) + f32(offset[0]))[:, None, None],
        (np.arange(shape[1], dtype=f32) + f32(offset[1]))[None, :, None],
        (np.arange(shape[2], dtype=f32) + f32(offset[2]))[None, None, :],
    ]
    out = []
    for r in range(3):
        # Sum the two small broadcasts first, then the big one, to save a full-size pass.
        partial = axes[0] * f32(affine[r, 0]) + (axes[1] * f32(affine[r, 1]) + f32(affine[r, 3]))
        out.append((partial + axes[2] * f32(affine[r, 2])).ravel())
    return tuple(out)


def _bias_field(seq: SequenceParameters) -> np.ndarray:
    """Smooth multiplicative field on the grid, from scanner coordinates."""
    grid = seq.grid
    affine, shape = grid.affine, grid.shape
    x, y, z = (
        c.reshape(shape) for c in _grid_coordinates(affine, shape, slice(0, shape[0]), (0.0, 0.0, 0.0))
    )
    centre = np.asarray(grid.center_mm, dtype=np.float32)
    x, y, z = (x - centre[0]) / 100.0, (y - centre[1]) / 100.0, (z - centre[2]) / 100.0
    c = seq.bias_coefficients
    log_field = c[0] * y + c[1] * x + c[2] * y + c[3] * z + c[4] * x * x + c[5] * y * y + c[6] * z * z
    log_field += c[7] * x * y + c[8] * y * z + c[9] * x * z
    return np.exp(log_field).astype(np.float32)


def _acquire(
    model: AnatomyModel,
    seq: SequenceParameters,
    contrast: int,
    world_to_anatomy: np.ndarray,
    with_labels: bool,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Noise-free signal on a grid (partial-volume averaged) and optional labels.

    Args:
        model: The subject's anatomy.
        seq: The acquisition.
        contrast: 0 for T2w, 1 for T1w.
        world_to_anatomy: 4x4 map from this image's world coordinates to the anatomy frame.
        with_labels: Also compute dseg and cord mask at voxel centres.

    Returns:
        Signal (cord = 1) and, when asked, dseg (uint8) and cord mask (bool) arrays.
    """
    grid = seq.grid
    shape = grid.shape
    affine = world_to_anatomy @ grid.affine
    values = np.asarray([TISSUES[t][contrast] for t in TISSUE_NAMES], np.float32)
    values *= np.asarray(seq.tissue_factors, np.float32)
    width = float(min(grid.voxel_size_mm[1], grid.voxel_size_mm[2]))
    image = np.zeros(shape, np.float32)
    dseg = np.zeros(shape, np.uint8) if with_labels else None
    cord = np.zeros(shape, bool) if with_labels else None
    rows_per_chunk = max(1, _CHUNK_POINTS // (shape[1] * shape[2]))
    for start in range(0, shape[0], rows_per_chunk):
        rows = slice(start, min(start + rows_per_chunk, shape[0]))
        acc = None
        for sub in _SUBSAMPLES:
            offset = [0.0, 0.0, 0.0]
            offset[grid.slice_axis] = sub
            x, y, z = _grid_coordinates(affine, shape, rows, offset)
            signal, fr = model.render(x, y, z, values, contrast, width)
            acc = signal if acc is None else acc + signal
            if with_labels and sub == 0.0:
                d, c = model.labels(fr)
                dseg[rows] = d.reshape(dseg[rows].shape)
                cord[rows] = c.reshape(cord[rows].shape)
        image[rows] = (acc / np.float32(len(_SUBSAMPLES))).reshape(image[rows].shape)
    return image, dseg, cord


def _finish(image: np.ndarray, seq: SequenceParameters, rng: np.random.Generator, dtype: str) -> np.ndarray:
    """Scanner scale, bias field, Rician noise, storage type."""
    scale = np.float32(seq.intensity_scale)
    signal = image * _bias_field(seq) * scale
    sigma = scale / np.float32(seq.snr)
    real = signal + sigma * rng.standard_normal(signal.shape, dtype=np.float32)
    imag = sigma * rng.standard_normal(signal.shape, dtype=np.float32)
    magnitude = np.sqrt(real * real + imag * imag)
    if dtype == "int16":
        return np.clip(np.rint(magnitude), 0, np.iinfo(np.int16).max).astype(np.int16)
    return magnitude.astype(np.float32)


def _centreline_mask(model: AnatomyModel, grid: GridParameters, world_to_anatomy: np.ndarray) -> np.ndarray:
    """One voxel per S-I position of the grid: the voxel nearest the cord centre."""
    points = model.centreline()
    anatomy_to_voxel = np.linalg.inv(world_to_anatomy @ grid.affine)
    vox = points @ anatomy_to_voxel[:3, :3].T + anatomy_to_voxel[:3, 3]
    si = grid.si_axis
    rounded = np.rint(vox).astype(np.int64)
    inside = np.all((rounded >= 0) & (rounded < np.asarray(grid.shape)), axis=1)
    rounded, off = rounded[inside], np.abs(vox[inside, si] - rounded[inside, si])
    # Per S-I index keep the sample closest to the plane through the voxel centres.
    order = np.lexsort((off, rounded[:, si]))
    _, first = np.unique(rounded[order, si], return_index=True)
    chosen = rounded[order][first]
    mask = np.zeros(grid.shape, np.uint8)
    mask[tuple(chosen.T)] = 1
    return mask


def _world_to_anatomy(origin: Sequence[float], misalignment: np.ndarray | None = None) -> np.ndarray:
    """4x4 map from an image's world coordinates to the anatomy frame (undoing ``misalignment``)."""
    out = np.eye(4)
    out[:3, 3] = -np.asarray(origin, dtype=float)
    return out if misalignment is None else out @ np.linalg.inv(misalignment)


def render_subject(params: SubjectParameters) -> dict[str, np.ndarray]:
    """Compute all arrays of a subject (nothing is written).

    Args:
        params: From :func:`~spinetumor.demo.sampling.subject_parameters`.

    Returns:
        ``t2w`` and ``t1w`` (stored dtype), ``dseg`` and ``cord`` and
        ``centerline`` (uint8, T2w grid).
    """
    model = AnatomyModel(params)
    t2w_to_anatomy = _world_to_anatomy(params.anatomy.origin_mm)
    # The T1w shows the anatomy moved by M: the anatomy point seen at world p is M^-1 p.
    t1w_to_anatomy = _world_to_anatomy(params.anatomy.origin_mm, params.misalignment.matrix)
    t2w, dseg, cord = _acquire(model, params.t2w, 0, t2w_to_anatomy, with_labels=True)
    t1w, _, _ = _acquire(model, params.t1w, 1, t1w_to_anatomy, with_labels=False)
    if dseg is None or cord is None:  # pragma: no cover - with_labels=True always returns them
        raise RuntimeError("labels were not computed")
    return {
        "t2w": _finish(t2w, params.t2w, np.random.default_rng([params.noise_seed, 0]), params.dtype),
        "t1w": _finish(t1w, params.t1w, np.random.default_rng([params.noise_seed, 1]), params.dtype),
        "dseg": dseg,
        "cord": cord.astype(np.uint8),
        "centerline": _centreline_mask(model, params.t2w.grid, t2w_to_anatomy),
    }
