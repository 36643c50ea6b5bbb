"""End-to-end inference for one subject: native files in, native ``dseg`` out.

Lemay et al. (2021) cascade, :func:`predict_cascade`:

1. load the native T2w (and the T1w already registered onto the T2w grid);
2. run the preprocessing chain (lemay2021 by default: SAR, 1 x 1 x 2 mm,
   z-score, 512 x 256 x 32);
3. stage 1 localises the cord on the T2w channel, the whole volume in one patch;
4. the image is cropped to the cord's bounding box plus a margin, grown to at
   least one patch and to a whole number of sliding-window strides;
5. stage 2 segments the lesion on T1w + T2w inside the crop with 128 x 128 x 32
   patches at stride 64 x 64 x 32 (overlap 0.5, 0.5, 0); overlapping patch
   probabilities are averaged;
6. the probabilities are pasted back into the full preprocessed grid (0
   outside the crop) and post-processed there (:mod:`spinetumor.inference.postprocessing`;
   that grid has a correct affine, so sizes in mm³ are exact);
7. the ``dseg`` goes back to the native T2w grid through world coordinates
   (:func:`spinetumor.preprocessing.native.to_native`, nearest neighbour).

:func:`predict_single_stage` is the paper's ablation (stage 2 over the whole
field of view) and :func:`predict_unet` its generic form: any chain, any input
contrasts, one network (e.g. the stanford2023 chain and a MONAI UNet).

Every function returns a :class:`Prediction` dict with per-step timings in
seconds under :data:`TIMING_STEPS`; the lesion network's time is ``stage2`` in
every mode so that tables line up, and ``stage1``/``crop`` are 0 when a mode has
no such step. :func:`save_prediction` adds ``save``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypedDict

import nibabel as nib
import numpy as np
import torch

from spinetumor.inference.postprocessing import (
    CHANNEL_NAMES,
    PostprocessingSettings,
    postprocess,
    postprocessing_settings,
)
from spinetumor.inference.window import sliding_window
from spinetumor.io import load_nifti, save_nifti, voxel_sizes
from spinetumor.preprocessing.chains import preset, validate_chain
from spinetumor.preprocessing.native import to_native
from spinetumor.preprocessing.preprocessing import preprocess_volumes
from spinetumor.preprocessing.volumes import IMAGE_KEYS, SubjectVolumes
from spinetumor.runtime import torch_threads

__all__ = [
    "TIMING_STEPS",
    "InferenceSettings",
    "Prediction",
    "inference_settings",
    "crop_box_from_mask",
    "predict_cascade",
    "predict_cord",
    "predict_single_stage",
    "predict_unet",
    "save_prediction",
]

logger = logging.getLogger(__name__)

#: Keys of a prediction's ``timings``, in pipeline order.
TIMING_STEPS: tuple[str, ...] = (
    "load",
    "preprocess",
    "stage1",
    "crop",
    "stage2",
    "postprocess",
    "native",
    "save",
)

Box = tuple[tuple[int, int, int], tuple[int, int, int]]


@dataclass(frozen=True)
class InferenceSettings:
    """Validated inference settings (defaults: Lemay et al. 2021).

    Attributes:
        chain: Preprocessing preset name or step list for the cascade and the
            single-stage ablation (``predict_unet`` takes its chain explicitly).
        stage1_contrasts: Input channels of the cord network, in order.
        stage1_threshold: Cord probability above which (strictly) a voxel is cord.
        stage1_patch_size: Stage-1 window; None = the whole preprocessed volume
            in one patch.
        crop_margin_mm: Margin added around the cord's bounding box, per
            preprocessed axis, in mm (converted with the preprocessed spacing
            and rounded up to whole voxels).
        contrasts: Input channels of the lesion network, in order.
        outputs: Name of each lesion-network output channel, in order.
        patch_size: Lesion-network window; None = the whole volume in one patch.
        overlap: Sliding-window overlap, for all axes or per axis (0.5 gives a
            stride of half a patch; the paper's 64 x 64 x 32 stride for
            128 x 128 x 32 patches is ``(0.5, 0.5, 0.0)``).
        batch_size: Windows per forward pass. 1 keeps the CPU memory peak low
            (batches bring no speed on a CPU); raise it on a GPU. The paper's
            batch of 8 is a training setting.
        blend_mode: ``"constant"`` (plain averaging, the paper's) or ``"gaussian"``.
        device: Torch device for the networks; None = where the model's
            parameters are (CPU for a parameter-free model).
        threads: Torch threads during preprocessing and the networks; None keeps
            the current setting.
        native_probabilities: Also map the probabilities to the native grid
            (linear interpolation).
        postprocessing: See :func:`spinetumor.inference.postprocessing.postprocessing_settings`.
    """

    chain: str | tuple[Mapping[str, Any], ...] = "lemay2021"
    stage1_contrasts: tuple[str, ...] = ("T2w",)
    stage1_threshold: float = 0.5
    stage1_patch_size: tuple[int, int, int] | None = None
    crop_margin_mm: tuple[float, float, float] = (5.0, 5.0, 5.0)
    contrasts: tuple[str, ...] = ("T1w", "T2w")
    outputs: tuple[str, ...] = ("tumor", "edema", "cavity", "whole")
    patch_size: tuple[int, int, int] | None = (128, 128, 32)
    overlap: float | tuple[float, float, float] = 0.5
    batch_size: int = 1
    blend_mode: str = "constant"
    device: str | None = None
    threads: int | None = None
    native_probabilities: bool = False
    postprocessing: PostprocessingSettings = field(default_factory=PostprocessingSettings)

    @property
    def steps(self) -> list[Mapping[str, Any]]:
        """The preprocessing steps of :attr:`chain`."""
        return preset(self.chain)["steps"] if isinstance(self.chain, str) else list(self.chain)


class Prediction(TypedDict):
    """What the ``predict_*`` functions return.

    Keys:
        dseg: Native ``uint8`` lesion map (native T2w shape and affine).
        dseg_preprocessed: The same map on the preprocessed grid.
        probabilities: ``(C, X, Y, Z)`` float32 on the preprocessed grid (0 outside the crop).
        probabilities_native: ``(X, Y, Z, C)`` float32 native image, or None
            unless ``native_probabilities`` was asked.
        channels: Name of each probability channel.
        cord_mask: Stage-1 ``uint8`` cord mask on the preprocessed grid (None without stage 1).
        cord_mask_native: The cord mask on the native grid (None without stage 1).
        crop_box: ``(start, stop)`` voxel indices of the region stage 2 saw.
        preprocessed_affine: 4x4 affine of the preprocessed grid.
        native_ref: The native T2w image (defines the output grid).
        timings: Seconds per step of :data:`TIMING_STEPS`.
    """

    dseg: nib.Nifti1Image
    dseg_preprocessed: np.ndarray
    probabilities: np.ndarray
    probabilities_native: nib.Nifti1Image | None
    channels: tuple[str, ...]
    cord_mask: np.ndarray | None
    cord_mask_native: nib.Nifti1Image | None
    crop_box: Box
    preprocessed_affine: np.ndarray
    native_ref: nib.Nifti1Image
    timings: dict[str, float]


# --------------------------------------------------------------------------- #
# Settings
# --------------------------------------------------------------------------- #
def _triple(name: str, value: Any, kind: type, minimum: float) -> tuple[Any, Any, Any]:
    values = [value] * 3 if isinstance(value, (int, float)) and not isinstance(value, bool) else value
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) != 3:
        raise ValueError(f"inference.{name}: must be three numbers, got {value!r}")
    for v in values:
        if (
            isinstance(v, bool)
            or not isinstance(v, (int, float))
            or (kind is int and v != int(v))
            or v < minimum
        ):
            raise ValueError(
                f"inference.{name}: entries must be {kind.__name__}s >= {minimum}, got {value!r}"
            )
    return tuple(kind(v) for v in values)  # type: ignore[return-value]


def _names(name: str, value: Any, allowed: Sequence[str]) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise ValueError(f"inference.{name}: must be a non-empty list, got {value!r}")
    if len(set(value)) != len(value) or not set(value) <= set(allowed):
        raise ValueError(f"inference.{name}: must be distinct names among {list(allowed)}, got {list(value)}")
    return tuple(value)


def _chain(value: Any) -> str | tuple[Mapping[str, Any], ...]:
    if isinstance(value, str):
        preset(value)  # raises on an unknown preset name
        return value
    steps = value["steps"] if isinstance(value, Mapping) and "steps" in value else value
    validate_chain(steps)
    return tuple(steps)


def _check_number(name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value < high:
        raise ValueError(f"inference.{name}: must be a number in [{low}, {high}), got {value!r}")
    return float(value)


def _check_scalars(cfg: InferenceSettings) -> None:
    _check_number("stage1_threshold", cfg.stage1_threshold, 0.0, 1.0)
    for value in cfg.overlap if isinstance(cfg.overlap, tuple) else (cfg.overlap,):
        _check_number("overlap", value, 0.0, 1.0)
    if isinstance(cfg.batch_size, bool) or not isinstance(cfg.batch_size, int) or cfg.batch_size < 1:
        raise ValueError(f"inference.batch_size: must be a positive integer, got {cfg.batch_size!r}")
    if cfg.threads is not None and (not isinstance(cfg.threads, int) or cfg.threads < 1):
        raise ValueError(f"inference.threads: must be a positive integer or null, got {cfg.threads!r}")
    if cfg.blend_mode not in ("constant", "gaussian"):
        raise ValueError(f"inference.blend_mode: must be 'constant' or 'gaussian', got {cfg.blend_mode!r}")
    if not isinstance(cfg.native_probabilities, bool):
        raise ValueError(
            f"inference.native_probabilities: must be true or false, got {cfg.native_probabilities!r}"
        )


def inference_settings(settings: Mapping[str, Any] | InferenceSettings | None = None) -> InferenceSettings:
    """Validate config settings, filling in the defaults.

    Args:
        settings: Keys named after the :class:`InferenceSettings` attributes
            (``postprocessing`` as a nested mapping); None for the defaults.

    Returns:
        The validated settings.

    Raises:
        ValueError: unknown key, or a value of the wrong type or range (the
            message names the key).
    """
    if isinstance(settings, InferenceSettings):
        return settings
    given = dict(settings or {})
    known = {f.name for f in fields(InferenceSettings)}
    unknown = sorted(set(given) - known)
    if unknown:
        raise ValueError(f"inference: unknown setting(s) {unknown}; allowed: {sorted(known)}")
    cfg = replace(InferenceSettings(), **given)
    cfg = replace(
        cfg,
        chain=_chain(cfg.chain),
        stage1_contrasts=_names("stage1_contrasts", cfg.stage1_contrasts, IMAGE_KEYS),
        contrasts=_names("contrasts", cfg.contrasts, IMAGE_KEYS),
        outputs=_names("outputs", cfg.outputs, CHANNEL_NAMES),
        stage1_patch_size=None
        if cfg.stage1_patch_size is None
        else _triple("stage1_patch_size", cfg.stage1_patch_size, int, 1),
        patch_size=None if cfg.patch_size is None else _triple("patch_size", cfg.patch_size, int, 1),
        crop_margin_mm=_triple("crop_margin_mm", cfg.crop_margin_mm, float, 0.0),
        overlap=cfg.overlap
        if isinstance(cfg.overlap, (int, float))
        else _triple("overlap", cfg.overlap, float, 0.0),
        postprocessing=postprocessing_settings(cfg.postprocessing),
    )
    _check_scalars(cfg)
    return cfg


# --------------------------------------------------------------------------- #
# Cropping and sliding windows
# --------------------------------------------------------------------------- #
def _axis_extent(lo: int, hi: int, size: int, target: int) -> tuple[int, int]:
    # Grow [lo, hi) symmetrically to `target` voxels, then slide it back inside [0, size).
    extra = target - (hi - lo)
    lo, hi = lo - extra // 2, hi + extra - extra // 2
    if lo < 0:
        lo, hi = 0, hi - lo
    if hi > size:
        lo, hi = lo - (hi - size), size
    return lo, hi


def _per_axis(name: str, value: int | Sequence[int] | None, default: int) -> tuple[int, int, int]:
    if value is None:
        return (default,) * 3
    values = [value] * 3 if isinstance(value, (int, np.integer)) else list(value)
    if len(values) != 3 or any(int(v) != v or v < 0 for v in values):
        raise ValueError(f"{name} must be a non-negative integer or three of them, got {value!r}")
    return tuple(int(v) for v in values)  # type: ignore[return-value]


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
    margin = _per_axis("margin_vox", margin_vox, 0)
    minimum = _per_axis("min_shape", min_shape, 0)
    multiple = _per_axis("shape_multiple", shape_multiple, 1)
    if min(multiple) < 1:
        raise ValueError(f"shape_multiple must be positive, got {shape_multiple!r}")
    shape = mask.shape
    if not mask.any():
        logger.warning("empty cord mask: cropping to the whole volume %s", shape)
        return (0, 0, 0), tuple(int(n) for n in shape)  # type: ignore[return-value]
    start, stop = [], []
    for axis, size in enumerate(shape):
        hits = np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != axis)))
        lo = max(0, int(hits[0]) - margin[axis])
        hi = min(size, int(hits[-1]) + 1 + margin[axis])
        target = max(hi - lo, minimum[axis])
        target = min(size, math.ceil(target / multiple[axis]) * multiple[axis])
        lo, hi = _axis_extent(lo, hi, size, target)
        start.append(lo)
        stop.append(hi)
    return tuple(start), tuple(stop)  # type: ignore[return-value]


# --------------------------------------------------------------------------- #
# The pipeline's steps
# --------------------------------------------------------------------------- #
@contextlib.contextmanager
def _timed(timings: dict[str, float], step: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[step] = timings.get(step, 0.0) + time.perf_counter() - start


def _load(
    t2w_path: str | os.PathLike[str], t1w_path: str | os.PathLike[str] | None, contrasts: Sequence[str]
) -> SubjectVolumes:
    t2w = load_nifti(t2w_path)
    t1w = None
    if "T1w" in contrasts:
        if t1w_path is None:
            raise ValueError(f"the networks need a T1w image (contrasts {list(contrasts)}), none given")
        t1w = load_nifti(t1w_path)
    for img in (t2w, t1w):
        if img is not None:
            img.get_fdata(dtype=np.float32)  # read now (cached), so "load" times the disk and gunzip
    return SubjectVolumes(t2w=t2w, t1w=t1w)


def _channels(prep: Mapping[str, nib.Nifti1Image], contrasts: Sequence[str]) -> np.ndarray:
    return np.stack([prep[key].get_fdata(dtype=np.float32) for key in contrasts], axis=0)


def _check_outputs(probs: np.ndarray, outputs: Sequence[str]) -> None:
    if probs.shape[0] != len(outputs):
        raise ValueError(
            f"the lesion network gave {probs.shape[0]} channels, settings name {len(outputs)}: "
            f"{list(outputs)}"
        )


def _margin_voxels(margin_mm: Sequence[float], affine: np.ndarray) -> tuple[int, int, int]:
    return tuple(int(math.ceil(m / s - 1e-9)) for m, s in zip(margin_mm, voxel_sizes(affine)))  # type: ignore


def _stride(cfg: InferenceSettings, shape: Sequence[int]) -> tuple[int, ...]:
    patch = cfg.patch_size or tuple(shape)
    overlap = cfg.overlap if isinstance(cfg.overlap, tuple) else (cfg.overlap,) * len(patch)
    return tuple(max(1, int(p * (1 - o))) for p, o in zip(patch, overlap))


def _crop(cord: np.ndarray, affine: np.ndarray, cfg: InferenceSettings) -> Box:
    box = crop_box_from_mask(
        cord,
        _margin_voxels(cfg.crop_margin_mm, affine),
        min_shape=cfg.patch_size,
        shape_multiple=_stride(cfg, cord.shape),
    )
    logger.info(
        "crop %s..%s (shape %s of %s)", box[0], box[1], tuple(b - a for a, b in zip(*box)), cord.shape
    )
    return box


def _lesion_probabilities(
    model: torch.nn.Module, image: np.ndarray, box: Box, cfg: InferenceSettings
) -> np.ndarray:
    region = tuple(slice(a, b) for a, b in zip(*box))
    cropped = sliding_window(
        model,
        image[(slice(None), *region)],
        cfg.patch_size,
        cfg.overlap,
        cfg.batch_size,
        cfg.device,
        cfg.blend_mode,
    )
    _check_outputs(cropped, cfg.outputs)
    probs = np.zeros((cropped.shape[0], *image.shape[1:]), dtype=np.float32)
    probs[(slice(None), *region)] = cropped
    return probs


def _image(data: np.ndarray, affine: np.ndarray) -> nib.Nifti1Image:
    img = nib.Nifti1Image(data, affine)
    img.set_data_dtype(data.dtype)
    return img


def _finish(
    probs: np.ndarray,
    affine: np.ndarray,
    native_ref: nib.Nifti1Image,
    cord: np.ndarray | None,
    box: Box,
    cfg: InferenceSettings,
    timings: dict[str, float],
) -> Prediction:
    with _timed(timings, "postprocess"):
        dseg = postprocess(probs, cfg.outputs, affine, cfg.postprocessing)
    with _timed(timings, "native"):
        dseg_native = to_native(_image(dseg, affine), native_ref, order=0)
        cord_native = None if cord is None else to_native(_image(cord, affine), native_ref, order=0)
        probs_native = None
        if cfg.native_probabilities:
            probs_native = to_native(_image(np.moveaxis(probs, 0, -1), affine), native_ref, order=1)
    return Prediction(
        dseg=dseg_native,
        dseg_preprocessed=dseg,
        probabilities=probs,
        probabilities_native=probs_native,
        channels=tuple(cfg.outputs),
        cord_mask=cord,
        cord_mask_native=cord_native,
        crop_box=box,
        preprocessed_affine=affine,
        native_ref=native_ref,
        timings=timings,
    )


def _new_timings() -> dict[str, float]:
    return {step: 0.0 for step in TIMING_STEPS}


def _load_and_preprocess(
    t2w_path: str | os.PathLike[str],
    t1w_path: str | os.PathLike[str] | None,
    contrasts: Sequence[str],
    steps: Sequence[Mapping[str, Any]],
    cfg: InferenceSettings,
    timings: dict[str, float],
) -> tuple[SubjectVolumes, dict[str, nib.Nifti1Image]]:
    with _timed(timings, "load"):
        vols = _load(t2w_path, t1w_path, contrasts)
    with _timed(timings, "preprocess"):
        prep = preprocess_volumes(vols, steps, threads=cfg.threads or torch.get_num_threads())
    return vols, prep


# --------------------------------------------------------------------------- #
# Public entry points
# --------------------------------------------------------------------------- #
def predict_cascade(
    t2w_path: str | os.PathLike[str],
    t1w_on_t2w_path: str | os.PathLike[str] | None,
    stage1_model: torch.nn.Module,
    stage2_model: torch.nn.Module,
    settings: Mapping[str, Any] | InferenceSettings | None = None,
) -> Prediction:
    """Two-stage prediction (cord localisation, then lesion inside the cord's box).

    Args:
        t2w_path: Native T2w image (defines the output grid).
        t1w_on_t2w_path: T1w already registered onto the T2w grid; may be None
            when no network takes T1w.
        stage1_model: Cord network (``stage1_contrasts`` in, one cord channel
            out; only channel 0 is used).
        stage2_model: Lesion network (``contrasts`` in, ``outputs`` out).
        settings: See :func:`inference_settings`.

    Returns:
        The :class:`Prediction`; ``crop_box`` is the region stage 2 saw.

    Raises:
        ValueError: invalid settings, a missing T1w, grids that differ, or a
            lesion network with the wrong number of outputs.
        FileNotFoundError: an input file is missing.
    """
    cfg = inference_settings(settings)
    timings = _new_timings()
    contrasts = tuple(dict.fromkeys((*cfg.stage1_contrasts, *cfg.contrasts)))
    with torch_threads(cfg.threads):
        vols, prep = _load_and_preprocess(t2w_path, t1w_on_t2w_path, contrasts, cfg.steps, cfg, timings)
        affine = np.asarray(prep["T2w"].affine, dtype=np.float64)
        with _timed(timings, "stage1"):
            cord_probs = sliding_window(
                stage1_model,
                _channels(prep, cfg.stage1_contrasts),
                cfg.stage1_patch_size,
                cfg.overlap,
                1,
                cfg.device,
                cfg.blend_mode,
            )
            cord = (cord_probs[0] > cfg.stage1_threshold).astype(np.uint8)
        with _timed(timings, "crop"):
            box = _crop(cord, affine, cfg)
            image = _channels(prep, cfg.contrasts)
        with _timed(timings, "stage2"):
            probs = _lesion_probabilities(stage2_model, image, box, cfg)
        return _finish(probs, affine, vols.t2w, cord, box, cfg, timings)


def predict_cord(
    t2w_path: str | os.PathLike[str],
    stage1_model: torch.nn.Module,
    settings: Mapping[str, Any] | InferenceSettings | None = None,
) -> tuple[nib.Nifti1Image, dict[str, float]]:
    """Stage 1 alone: the cord mask of a T2w image, on its native grid.

    The cascade's cord localisation as :func:`predict_cascade` runs it (same
    preprocessing, window and threshold), for the cord mask source ``model``.

    Args:
        t2w_path: Native T2w image (defines the output grid).
        stage1_model: Cord network (``stage1_contrasts`` in; channel 0 is the cord).
        settings: See :func:`inference_settings`; ``stage1_contrasts`` must be
            T2w only, since no registered T1w exists before the cord mask does.

    Returns:
        The binary native mask (uint8) and the timings of its steps.

    Raises:
        ValueError: invalid settings, or stage-1 contrasts other than T2w.
        FileNotFoundError: the image is missing.
    """
    cfg = inference_settings(settings)
    if tuple(cfg.stage1_contrasts) != ("T2w",):
        raise ValueError(
            f"a cord mask is predicted from the T2w alone; stage 1 takes {list(cfg.stage1_contrasts)}"
        )
    timings = _new_timings()
    with torch_threads(cfg.threads):
        vols, prep = _load_and_preprocess(t2w_path, None, ("T2w",), cfg.steps, cfg, timings)
        affine = np.asarray(prep["T2w"].affine, dtype=np.float64)
        with _timed(timings, "stage1"):
            probs = sliding_window(
                stage1_model,
                _channels(prep, ("T2w",)),
                cfg.stage1_patch_size,
                cfg.overlap,
                1,
                cfg.device,
                cfg.blend_mode,
            )
            cord = (probs[0] > cfg.stage1_threshold).astype(np.uint8)
        with _timed(timings, "native"):
            native = to_native(_image(cord, affine), vols.t2w, order=0)
    return native, timings


def predict_unet(
    t2w_path: str | os.PathLike[str],
    t1w_path: str | os.PathLike[str] | None,
    model: torch.nn.Module,
    steps: Sequence[Mapping[str, Any]] | Mapping[str, Any] | str,
    settings: Mapping[str, Any] | InferenceSettings | None = None,
) -> Prediction:
    """One-network prediction over the whole field of view, for any chain.

    Args:
        t2w_path: Native T2w image (defines the output grid).
        t1w_path: T1w on the T2w grid; may be None when ``contrasts`` lacks T1w.
        model: Lesion network (``contrasts`` in, ``outputs`` out).
        steps: Preprocessing chain: a step list, a preset dict or a preset name
            (e.g. ``"stanford2023"``); ``settings.chain`` is ignored.
        settings: See :func:`inference_settings`; ``patch_size: null`` runs the
            whole preprocessed volume in one window.

    Returns:
        The :class:`Prediction` (``cord_mask`` None, ``crop_box`` the whole volume).

    Raises:
        ValueError: invalid settings or chain, a missing T1w, or a network with
            the wrong number of outputs.
        FileNotFoundError: an input file is missing.
    """
    cfg = inference_settings(settings)
    chain = preset(steps)["steps"] if isinstance(steps, str) else steps
    validate_chain(chain)
    timings = _new_timings()
    with torch_threads(cfg.threads):
        vols, prep = _load_and_preprocess(t2w_path, t1w_path, cfg.contrasts, chain, cfg, timings)
        affine = np.asarray(prep["T2w"].affine, dtype=np.float64)
        image = _channels(prep, cfg.contrasts)
        box: Box = ((0, 0, 0), tuple(int(n) for n in image.shape[1:]))  # type: ignore[assignment]
        with _timed(timings, "stage2"):
            probs = _lesion_probabilities(model, image, box, cfg)
        return _finish(probs, affine, vols.t2w, None, box, cfg, timings)


def predict_single_stage(
    t2w_path: str | os.PathLike[str],
    t1w_path: str | os.PathLike[str] | None,
    stage2_model: torch.nn.Module,
    settings: Mapping[str, Any] | InferenceSettings | None = None,
) -> Prediction:
    """The paper's ablation: the lesion network over the whole field of view, no cord crop.

    Args:
        t2w_path: Native T2w image.
        t1w_path: T1w on the T2w grid.
        stage2_model: Lesion network.
        settings: See :func:`inference_settings` (its ``chain`` is used).

    Returns:
        The :class:`Prediction` of :func:`predict_unet`.
    """
    cfg = inference_settings(settings)
    return predict_unet(t2w_path, t1w_path, stage2_model, cfg.steps, cfg)


def save_prediction(
    result: Prediction,
    out_dseg: str | os.PathLike[str],
    out_probs: str | os.PathLike[str] | None = None,
) -> dict[str, Path]:
    """Write a prediction on the native T2w grid, atomically.

    The time spent is added to ``result["timings"]["save"]``.

    Args:
        result: What a ``predict_*`` function returned.
        out_dseg: Destination of the ``uint8`` dseg (native T2w affine).
        out_probs: Destination of the native ``(X, Y, Z, C)`` float32
            probabilities (channel order ``result["channels"]``), or None.
            They are resampled now if the prediction did not include them.

    Returns:
        ``{"dseg": path}`` and, if written, ``"probabilities": path``.
    """
    written: dict[str, Path] = {}
    native_affine = np.asarray(result["native_ref"].affine, dtype=np.float64)
    with _timed(result["timings"], "save"):
        dseg = np.asarray(result["dseg"].dataobj, dtype=np.uint8)
        written["dseg"] = save_nifti(dseg, native_affine, out_dseg, dtype=np.uint8)
        if out_probs is not None:
            probs_img = result["probabilities_native"]
            if probs_img is None:
                probs_img = to_native(
                    _image(np.moveaxis(result["probabilities"], 0, -1), result["preprocessed_affine"]),
                    result["native_ref"],
                    order=1,
                )
            written["probabilities"] = save_nifti(
                np.asarray(probs_img.dataobj, dtype=np.float32), native_affine, out_probs, dtype=np.float32
            )
    logger.info("saved %s", ", ".join(str(p) for p in written.values()))
    return written
