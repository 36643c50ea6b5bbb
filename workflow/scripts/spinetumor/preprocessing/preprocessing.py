"""Configurable preprocessing chains for one subject's co-registered volumes.

A *chain* is a list of steps read from config, for example::

    - {name: reorient, axcodes: SAR}
    - {name: resample, spacing_mm: [1.0, 1.0, 2.0]}
    - {name: zscore, nonzero: false}
    - {name: crop_pad, shape: [512, 256, 32]}

All volumes of a subject (T2w, T1w, the ``dseg`` lesion map and the cord mask)
live on the T2w grid and go through the same spatial steps, so they end on one
common preprocessed grid. Images are interpolated linearly and label maps with
nearest neighbour; intensity steps touch images only, each channel on its own.

Every spatial step runs on a ``monai.data.MetaTensor`` whose affine MONAI keeps
up to date, and the tests check each step against world coordinates. The one
place where MONAI's default is wrong is noted where it is avoided (``resize``
of label maps). Because each output carries a correct world affine,
:func:`to_native` maps predictions back to the native T2w grid from the two
affines alone.

Step names and parameters: :mod:`spinetumor.preprocessing.chains`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import SimpleITK as sitk
import torch
from monai.data import MetaTensor
from monai.transforms import (
    AdjustContrast,
    NormalizeIntensity,
    Orientation,
    Resize,
    ResizeWithPadOrCrop,
    ScaleIntensity,
    Spacing,
    SpatialPad,
)
from scipy import ndimage

from spinetumor import LABELS, __version__
from spinetumor.io import load_nifti, save_nifti, voxel_sizes, write_json
from spinetumor.preprocessing.chains import (
    RAS_LABELS,
    SPATIAL_STEPS,
    STEP_NAMES,
    normalise_chain,
    preset,
    validate_chain,
)
from spinetumor.runtime import torch_threads

__all__ = [
    "IMAGE_KEYS",
    "LABEL_KEYS",
    "STEP_NAMES",
    "SubjectVolumes",
    "n4_correct",
    "preset",
    "validate_chain",
    "preprocess_volumes",
    "preprocess_subject",
    "to_native",
]

logger = logging.getLogger(__name__)

#: Output keys of interpolated (intensity) volumes, in channel order.
IMAGE_KEYS: tuple[str, ...] = ("T2w", "T1w")
#: Output keys of label volumes (nearest-neighbour), in channel order.
LABEL_KEYS: tuple[str, ...] = ("dseg", "cord")

# Affines of two inputs "share a grid" when they differ by less than this (mm):
# headers written by different tools round the qform/sform differently.
_GRID_ATOL_MM = 1e-3
# N4 fits a cubic B-spline, which needs at least order + 1 = 4 samples per axis;
# thin axes (a few thick sagittal slices) are shrunk less rather than below that.
_N4_MIN_SHRUNK_VOXELS = 4


@dataclass
class SubjectVolumes:
    """One subject's co-registered volumes, all on the T2w grid.

    Attributes:
        t2w: T2-weighted image (defines the native grid).
        t1w: T1-weighted image already resampled onto the T2w grid, or None.
        dseg: Lesion label map (0 background, 1 tumour, 2 edema, 3 cavity), or None.
        cord: Binary spinal cord mask, or None.
    """

    t2w: nib.Nifti1Image
    t1w: nib.Nifti1Image | None = None
    dseg: nib.Nifti1Image | None = None
    cord: nib.Nifti1Image | None = None

    def named(self) -> dict[str, nib.Nifti1Image]:
        """Return the volumes that are present, keyed by output name."""
        pairs = {"T2w": self.t2w, "T1w": self.t1w, "dseg": self.dseg, "cord": self.cord}
        return {key: img for key, img in pairs.items() if img is not None}


# --------------------------------------------------------------------------- #
# Volumes as MetaTensors
# --------------------------------------------------------------------------- #
@dataclass
class _Stack:
    """Images and label maps as two channel-first MetaTensors on one grid."""

    images: MetaTensor
    image_keys: list[str]
    labels: MetaTensor | None
    label_keys: list[str]

    @property
    def affine(self) -> np.ndarray:
        return np.asarray(self.images.affine, dtype=np.float64)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(n) for n in self.images.shape[1:])  # type: ignore[return-value]


def _volume_array(img: nib.Nifti1Image, key: str) -> np.ndarray:
    shape = tuple(img.shape)
    # Tools often write 3D volumes as (X, Y, Z, 1).
    while len(shape) > 3 and shape[-1] == 1:
        shape = shape[:-1]
    if len(shape) != 3:
        raise ValueError(f"{key}: expected a 3D volume, got shape {img.shape}")
    values = np.asarray(img.get_fdata(dtype=np.float32)).reshape(shape)
    if key in IMAGE_KEYS:
        if not np.all(np.isfinite(values)):
            logger.warning("%s: replacing non-finite intensities with 0", key)
            values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
        return values
    if key == "cord":
        return (values > 0.5).astype(np.float32)
    labels = np.rint(values)
    if not np.allclose(values, labels) or labels.min() < 0 or labels.max() > max(LABELS.values()):
        found = np.unique(values)[:10].tolist()
        raise ValueError(f"dseg: labels must be integers in 0..{max(LABELS.values())}, found {found}")
    return labels.astype(np.float32)


def _same_grid(img: nib.Nifti1Image, ref: nib.Nifti1Image) -> bool:
    return img.shape[:3] == ref.shape[:3] and np.allclose(img.affine, ref.affine, atol=_GRID_ATOL_MM)


def _grid_mismatch(name: str, img: nib.Nifti1Image, ref_name: str, ref: nib.Nifti1Image) -> ValueError:
    return ValueError(
        f"{name}: grid {tuple(img.shape[:3])} {''.join(nib.aff2axcodes(img.affine))} "
        f"voxels {np.round(voxel_sizes(img.affine), 3).tolist()} mm does not match the T2w grid "
        f"{tuple(ref.shape[:3])} {''.join(nib.aff2axcodes(ref.affine))} ({ref_name}); "
        "register/resample it onto the T2w grid first"
    )


def _check_grids(named: Mapping[str, nib.Nifti1Image], sources: Mapping[str, str] | None = None) -> None:
    sources = sources or {key: key for key in named}
    ref = named["T2w"]
    for key, img in named.items():
        if key != "T2w" and not _same_grid(img, ref):
            raise _grid_mismatch(sources[key], img, sources["T2w"], ref)


def _metatensor(arrays: Sequence[np.ndarray], affine: np.ndarray) -> MetaTensor:
    data = torch.as_tensor(np.stack(arrays, axis=0))
    return MetaTensor(data, affine=torch.as_tensor(affine, dtype=torch.float64))


def _stack(vols: SubjectVolumes) -> _Stack:
    named = vols.named()
    affine = np.asarray(vols.t2w.affine, dtype=np.float64)
    image_keys = [k for k in IMAGE_KEYS if k in named]
    label_keys = [k for k in LABEL_KEYS if k in named]
    images = _metatensor([_volume_array(named[k], k) for k in image_keys], affine)
    labels = _metatensor([_volume_array(named[k], k) for k in label_keys], affine) if label_keys else None
    return _Stack(images, image_keys, labels, label_keys)


# --------------------------------------------------------------------------- #
# Spatial steps: (image transform, label transform)
# --------------------------------------------------------------------------- #
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


def _apply_spatial(stack: _Stack, step: Mapping[str, Any]) -> dict[str, Any]:
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


# --------------------------------------------------------------------------- #
# Intensity steps: one channel (1, X, Y, Z) in, one channel out
# --------------------------------------------------------------------------- #
def _gamma(channel: MetaTensor, step: Mapping[str, Any], threads: int) -> MetaTensor:
    return AdjustContrast(gamma=step["gamma"])(channel)


def _scale_intensity(channel: MetaTensor, step: Mapping[str, Any], threads: int) -> MetaTensor:
    return ScaleIntensity(minv=step["minv"], maxv=step["maxv"])(channel)


def _zscore(channel: MetaTensor, step: Mapping[str, Any], threads: int) -> MetaTensor:
    return NormalizeIntensity(nonzero=step["nonzero"])(channel)


def _clip_percentiles(channel: MetaTensor, step: Mapping[str, Any], threads: int) -> MetaTensor:
    values = channel.detach().cpu().numpy()
    sample = values[values != 0] if step["nonzero"] else values.ravel()
    if sample.size == 0:
        return channel
    low, high = np.percentile(sample, [step["lower"], step["upper"]])
    return channel.clamp(float(low), float(high))


def _n4(channel: MetaTensor, step: Mapping[str, Any], threads: int) -> MetaTensor:
    spacing = voxel_sizes(np.asarray(channel.affine))
    corrected = n4_correct(
        channel[0].detach().cpu().numpy(),
        spacing,
        shrink_factor=step["shrink_factor"],
        iterations=step["iterations"],
        convergence=step["convergence"],
        mask=step["mask"],
        threads=threads,
    )
    out = channel.clone()
    out[0] = torch.as_tensor(corrected)
    return out


def _n4_mask(image: sitk.Image, how: str) -> sitk.Image:
    # N4 works on log intensities, so non-positive voxels can never be in the mask.
    positive = image > 0
    if how == "otsu":
        # insideValue=0, outsideValue=1: the bright side of Otsu's threshold is 1.
        mask = sitk.OtsuThreshold(image, 0, 1) * positive
        if sitk.GetArrayViewFromImage(mask).any():
            return sitk.Cast(mask, sitk.sitkUInt8)
        logger.warning("n4: empty Otsu mask, falling back to all positive voxels")
    return sitk.Cast(positive, sitk.sitkUInt8)


def n4_correct(
    volume: np.ndarray,
    spacing: Sequence[float],
    *,
    shrink_factor: int = 4,
    iterations: Sequence[int] = (50, 50, 30),
    convergence: float = 0.001,
    mask: str = "otsu",
    threads: int = 1,
) -> np.ndarray:
    """N4 bias-field correction fitted on a shrunk copy, applied at full resolution.

    Args:
        volume: 3D array (any axis order; ``spacing`` must follow it).
        spacing: Voxel sizes in mm along the array axes.
        shrink_factor: Subsampling factor for the fit; an axis is never shrunk below
            4 voxels.
        iterations: Maximum iterations per fitting level (its length is the number
            of levels).
        convergence: Convergence threshold of each level.
        mask: ``"otsu"`` (bright side of Otsu's threshold) or ``"nonzero"``;
            non-positive voxels are always excluded.
        threads: Threads for SimpleITK.

    Returns:
        Float32 array: ``volume / exp(log_bias)``; unchanged if no voxel is positive.
    """
    image = sitk.GetImageFromArray(np.ascontiguousarray(volume.transpose(2, 1, 0), dtype=np.float32))
    image.SetSpacing([float(s) for s in spacing])
    shrink = [max(1, min(shrink_factor, size // _N4_MIN_SHRUNK_VOXELS)) for size in image.GetSize()]
    small = sitk.Shrink(image, shrink)
    # The mask is only used by the fit, so it is thresholded on the shrunk image
    # (same Otsu threshold up to sampling, a fraction of the cost).
    fit_mask = _n4_mask(small, mask)
    if not sitk.GetArrayViewFromImage(fit_mask).any():
        logger.warning("n4: no positive voxel, volume left unchanged")
        return np.asarray(volume, dtype=np.float32)
    corrector = sitk.N4BiasFieldCorrectionImageFilter()
    corrector.SetMaximumNumberOfIterations([int(n) for n in iterations])
    corrector.SetConvergenceThreshold(float(convergence))
    corrector.SetNumberOfThreads(int(threads))
    corrector.Execute(small, fit_mask)
    # The B-spline bias lives in physical space, so it can be evaluated on the
    # full-resolution grid even though it was fitted on the shrunk one.
    log_bias = corrector.GetLogBiasFieldAsImage(image)
    corrected = image / sitk.Exp(log_bias)
    return sitk.GetArrayFromImage(corrected).transpose(2, 1, 0).astype(np.float32)


_INTENSITY: dict[str, Callable[[MetaTensor, Mapping[str, Any], int], MetaTensor]] = {
    "gamma": _gamma,
    "n4": _n4,
    "scale_intensity": _scale_intensity,
    "zscore": _zscore,
    "clip_percentiles": _clip_percentiles,
}


def _apply_intensity(stack: _Stack, step: Mapping[str, Any], threads: int) -> None:
    fn = _INTENSITY[step["name"]]
    # Each contrast is its own channel: statistics must never mix T1w and T2w.
    channels = [fn(stack.images[c : c + 1], step, threads) for c in range(stack.images.shape[0])]
    stack.images = MetaTensor(
        torch.cat([_plain(ch) for ch in channels], dim=0),
        affine=stack.images.affine,
    )


def _plain(channel: torch.Tensor) -> torch.Tensor:
    # Re-wrapping MetaTensors would carry their metadata and trigger MONAI's
    # "affine will be overwritten" warning; the stack's affine is set explicitly.
    tensor = channel.as_tensor() if isinstance(channel, MetaTensor) else channel
    return tensor.to(torch.float32)


# --------------------------------------------------------------------------- #
# Running a chain
# --------------------------------------------------------------------------- #
def _run_chain(
    vols: SubjectVolumes, steps: Sequence[Mapping[str, Any]] | Mapping[str, Any], threads: int
) -> tuple[dict[str, nib.Nifti1Image], list[dict[str, Any]], list[dict[str, Any]]]:
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    chain = normalise_chain(steps)
    _check_grids(vols.named())
    stack = _stack(vols)
    records: list[dict[str, Any]] = []
    with torch_threads(threads):
        for index, step in enumerate(chain):
            start = time.perf_counter()
            if step["name"] in SPATIAL_STEPS:
                records.append(_apply_spatial(stack, step))
            else:
                _apply_intensity(stack, step, threads)
            logger.info(
                "step %d %s: %.2f s, grid %s", index, step["name"], time.perf_counter() - start, stack.shape
            )
    return _to_images(stack), chain, records


def _to_images(stack: _Stack) -> dict[str, nib.Nifti1Image]:
    affine = stack.affine
    out: dict[str, nib.Nifti1Image] = {}
    images = stack.images.detach().cpu().numpy().astype(np.float32)
    for c, key in enumerate(stack.image_keys):
        out[key] = _nifti(images[c], affine)
    if stack.labels is not None:
        labels = np.rint(stack.labels.detach().cpu().numpy()).astype(np.uint8)
        for c, key in enumerate(stack.label_keys):
            out[key] = _nifti(labels[c], affine)
    return out


def _nifti(data: np.ndarray, affine: np.ndarray) -> nib.Nifti1Image:
    img = nib.Nifti1Image(data, affine)
    img.set_data_dtype(data.dtype)
    img.set_sform(affine, code=1)
    img.set_qform(affine, code=1)
    img.header.set_xyzt_units("mm", "sec")
    return img


def preprocess_volumes(
    vols: SubjectVolumes,
    steps: Sequence[Mapping[str, Any]] | Mapping[str, Any],
    *,
    threads: int = 1,
) -> dict[str, nib.Nifti1Image]:
    """Run a preprocessing chain on one subject's volumes.

    Args:
        vols: The subject's volumes; all must share the T2w grid.
        steps: Chain steps (see the module docstring) or a preset dict.
        threads: CPU threads for torch and SimpleITK during the chain.

    Returns:
        ``{"T2w", "T1w", "dseg", "cord"}`` (those given) on one common grid;
        images float32, labels uint8, each with its world affine.

    Raises:
        ValueError: invalid chain, mismatched grids or invalid label values.
    """
    images, _, _ = _run_chain(vols, steps, threads)
    return images


def _grid_summary(shape: Sequence[int], affine: np.ndarray) -> dict[str, Any]:
    return {
        "shape": [int(n) for n in shape[:3]],
        "affine": np.asarray(affine, dtype=float).tolist(),
        "axcodes": "".join(nib.aff2axcodes(affine)),
        "voxel_sizes_mm": voxel_sizes(affine).tolist(),
    }


def preprocess_subject(
    t2w: Path,
    t1w: Path | None,
    dseg: Path | None,
    cord: Path | None,
    steps: Sequence[Mapping[str, Any]] | Mapping[str, Any],
    outputs: Mapping[str, Path],
    geometry_json: Path,
    threads: int = 1,
) -> dict[str, Any]:
    """Preprocess one subject's files and record the geometry for the way back.

    Args:
        t2w: T2w image (defines the native grid).
        t1w: T1w image on the T2w grid, or None.
        dseg: Lesion label map on the T2w grid, or None.
        cord: Cord mask on the T2w grid, or None.
        steps: Chain steps or a preset dict.
        outputs: Destination per output key (``"T2w"``, ``"T1w"``, ``"dseg"``,
            ``"cord"``); exactly the keys of the inputs given.
        geometry_json: Where to write the geometry record.
        threads: CPU threads.

    Returns:
        The geometry record: ``native`` and ``preprocessed`` grids (shape, affine,
        axcodes, voxel sizes), the normalised ``steps``, per spatial step
        ``transforms`` (shapes, affines, crop/pad ``offset_voxels``), ``inputs``,
        ``outputs`` and ``spinetumor_version``.

    Raises:
        ValueError: an input is not on the T2w grid (the message names the file),
            ``outputs`` does not match the inputs, or the chain is invalid.
        FileNotFoundError: an input file is missing.
    """
    paths = {"T2w": t2w, "T1w": t1w, "dseg": dseg, "cord": cord}
    paths = {key: Path(p) for key, p in paths.items() if p is not None}
    if set(outputs) != set(paths):
        raise ValueError(f"outputs must name exactly {sorted(paths)}, got {sorted(outputs)}")
    validate_chain(steps)
    loaded = {key: load_nifti(p) for key, p in paths.items()}
    _check_grids(loaded, {key: str(p) for key, p in paths.items()})
    vols = SubjectVolumes(loaded["T2w"], loaded.get("T1w"), loaded.get("dseg"), loaded.get("cord"))
    images, chain, records = _run_chain(vols, steps, threads)
    for key, img in images.items():
        save_nifti(np.asanyarray(img.dataobj), img.affine, outputs[key], dtype=img.get_data_dtype())
    ref = next(iter(images.values()))
    geometry = {
        "native": _grid_summary(loaded["T2w"].shape, loaded["T2w"].affine),
        "preprocessed": _grid_summary(ref.shape, ref.affine),
        "steps": chain,
        "transforms": records,
        "inputs": {key: str(p) for key, p in paths.items()},
        "outputs": {key: str(Path(outputs[key])) for key in images},
        "spinetumor_version": __version__,
    }
    write_json(geometry, geometry_json)
    logger.info(
        "preprocessed %s -> %s %s",
        t2w,
        geometry["preprocessed"]["shape"],
        geometry["preprocessed"]["axcodes"],
    )
    return geometry


# --------------------------------------------------------------------------- #
# Back to native space
# --------------------------------------------------------------------------- #
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
    return _nifti(out, np.asarray(native_ref.affine, dtype=float))
