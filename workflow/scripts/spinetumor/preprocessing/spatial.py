"""Spatial steps: MONAI transforms that change the grid of images and labels alike.

Images are interpolated linearly and label maps with nearest neighbour; every
step runs on MetaTensors whose affine MONAI keeps up to date, and the tests
check each step against world coordinates. The one place where MONAI's
default is wrong is noted where it is avoided (``resize`` of label maps).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from monai.data import MetaTensor
from monai.transforms import Orientation, Resize, ResizeWithPadOrCrop, Spacing, SpatialPad

from spinetumor.preprocessing.chains import RAS_LABELS
from spinetumor.preprocessing.volumes import Stack

__all__ = ["apply_spatial"]

_Transform = Callable[[MetaTensor], MetaTensor]


def _spatial_transforms(step: Mapping[str, Any]) -> tuple[_Transform, _Transform]:
    name = step["name"]
    if name == "reorient":
        orient = Orientation(
            axcodes=step["axcodes"], labels=RAS_LABELS
        )  # spelled out: MONAI's implicit default is deprecated
        return orient, orient
    if name == "resample":
        # float32 compute: MONAI's float64 default is ~20 % slower and the inputs are float32.
        return (
            Spacing(pixdim=step["spacing_mm"], mode="bilinear", padding_mode="border", dtype=np.float32),
            Spacing(pixdim=step["spacing_mm"], mode="nearest", padding_mode="zeros", dtype=np.float32),
        )
    if name == "resize":
        # Labels use "nearest-exact", not MONAI's "nearest": torch's legacy nearest
        # samples input voxel floor(i * scale) instead of the voxel under output
        # voxel i's centre, shifting labels by (scale - 1) / 2 input voxels against
        # the (correct, centre-aligned) affine that Resize writes.
        return (
            Resize(spatial_size=step["shape"], mode="trilinear", anti_aliasing=step["anti_aliasing"]),
            Resize(spatial_size=step["shape"], mode="nearest-exact"),
        )
    if name == "crop_pad":
        crop_pad = ResizeWithPadOrCrop(spatial_size=step["shape"], method="symmetric", mode="constant")
        return crop_pad, crop_pad
    if name == "pad":
        pad = SpatialPad(spatial_size=step["shape"], method="symmetric", mode="constant")
        return pad, pad
    raise AssertionError(f"not a spatial step: {name}")  # guarded by validation


def apply_spatial(stack: Stack, step: Mapping[str, Any]) -> dict[str, Any]:
    """Run one spatial step on images and labels alike; return its record for the geometry JSON."""
    image_transform, label_transform = _spatial_transforms(step)
    before_shape, before_affine = stack.shape, stack.affine
    stack.images = image_transform(stack.images)
    if stack.labels is not None:
        stack.labels = label_transform(stack.labels)
        if stack.labels.shape[1:] != stack.images.shape[1:] or not np.allclose(
            np.asarray(stack.labels.affine), stack.affine, atol=1e-6
        ):
            raise RuntimeError(f"{step['name']}: images and labels left on different grids")
    return _spatial_record(step["name"], before_shape, before_affine, stack.shape, stack.affine)


def _spatial_record(
    name: str,
    in_shape: tuple[int, ...],
    in_affine: np.ndarray,
    out_shape: tuple[int, ...],
    out_affine: np.ndarray,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "name": name,
        "input_shape": list(in_shape),
        "output_shape": list(out_shape),
        "output_affine": out_affine.tolist(),
    }
    if name in ("crop_pad", "pad"):
        # Output voxel 0 sits at this (integer) input voxel: > 0 cropped, < 0 padded.
        origin = np.linalg.solve(in_affine, out_affine[:, 3])[:3]
        record["offset_voxels"] = [int(v) for v in np.rint(origin)]
    return record
