"""Back to the native T2w grid: a preprocessed-space image resampled by world coordinates."""

from __future__ import annotations

from collections.abc import Sequence

import nibabel as nib
import numpy as np
from scipy import ndimage

from spinetumor.preprocessing.volumes import to_nifti

__all__ = ["to_native"]


def _inside_fov(
    native_to_data: np.ndarray, native_shape: Sequence[int], data_shape: Sequence[int]
) -> np.ndarray:
    # A native voxel is inside when its centre falls in the union of the data
    # voxels' extents, i.e. within [-0.5, n - 0.5) on every axis.
    grids = np.ogrid[tuple(slice(0, n) for n in native_shape)]
    inside = np.ones(tuple(native_shape), dtype=bool)
    for axis in range(3):
        coord = sum(native_to_data[axis, k] * grids[k] for k in range(3)) + native_to_data[axis, 3]
        inside &= (coord >= -0.5) & (coord < data_shape[axis] - 0.5)
    return inside


def to_native(data_img: nib.Nifti1Image, native_ref: nib.Nifti1Image, *, order: int) -> nib.Nifti1Image:
    """Map a preprocessed-space image back onto the native T2w grid.

    Only world coordinates are used (both affines), so any chain whose outputs
    carry a correct affine is inverted without replaying its steps.

    Args:
        data_img: Image on the preprocessed grid: 3D, or 4D with channels last.
        native_ref: Image defining the native grid (its shape and affine).
        order: 0 (nearest, labels: dtype kept) or 1 (linear, probabilities: float32).

    Returns:
        Image with ``native_ref``'s spatial shape and affine (channels kept last);
        voxels outside the preprocessed field of view are 0.

    Raises:
        ValueError: ``order`` is not 0 or 1, or ``data_img`` is not 3D/4D.
    """
    if order not in (0, 1):
        raise ValueError(f"order must be 0 (labels) or 1 (probabilities), got {order!r}")
    data = np.asanyarray(data_img.dataobj) if order == 0 else data_img.get_fdata(dtype=np.float32)
    if data.ndim not in (3, 4):
        raise ValueError(f"to_native expects a 3D or 4D (channels last) image, got shape {data.shape}")
    native_shape = tuple(int(n) for n in native_ref.shape[:3])
    native_to_data = np.linalg.solve(np.asarray(data_img.affine, float), np.asarray(native_ref.affine, float))
    inside = _inside_fov(native_to_data, native_shape, data.shape[:3])
    channels = data[..., None] if data.ndim == 3 else data
    out = np.zeros(native_shape + (channels.shape[-1],), dtype=channels.dtype)
    for c in range(channels.shape[-1]):
        # mode="nearest" keeps edge voxels within half a voxel of the FOV border;
        # everything truly outside is zeroed by `inside`.
        out[..., c] = ndimage.affine_transform(
            channels[..., c],
            native_to_data[:3, :3],
            offset=native_to_data[:3, 3],
            output_shape=native_shape,
            order=order,
            mode="nearest",
        )
    out[~inside] = 0
    if data.ndim == 3:
        out = out[..., 0]
    return to_nifti(out, np.asarray(native_ref.affine, dtype=float))
