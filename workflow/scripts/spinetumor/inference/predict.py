"""End-to-end inference for one subject: native files in, native ``dseg`` out.

Lemay et al. (2021) cascade, :func:`predict_cascade`:

1. load the native T2w (and the T1w already registered onto the T2w grid);
2. run the preprocessing chain (lemay2021 by default: SAR, 1 x 1 x 2 mm,
   z-score, 512 x 256 x 32);
3. stage 1 localises the cord on the T2w channel, the whole volume in one patch
   (:func:`spinetumor.inference.stages.predict_cord_mask`), on the same grid
   or, with ``stage1_chain``, on a (coarse) grid of its own;
4. the image is cropped to the cord's bounding box (carried through world
   coordinates from stage 1's own grid) plus a margin, grown to at least one
   patch and to a whole number of sliding-window strides
   (:mod:`spinetumor.inference.crop`);
5. stage 2 segments the lesion on T1w + T2w inside the crop with 128 x 128 x 32
   patches at stride 64 x 64 x 32 (overlap 0.5, 0.5, 0); overlapping patch
   probabilities are averaged;
6. the probabilities are pasted back into the full preprocessed grid (0
   outside the crop) and post-processed there (:mod:`spinetumor.inference.postprocessing`;
   that grid has a correct affine, so sizes in mm³ are exact);
7. the ``dseg`` goes back to the native T2w grid through world coordinates
   (:func:`spinetumor.preprocessing.preprocessing.to_native`, nearest neighbour).

:func:`predict_single_stage` is the paper's ablation (stage 2 over the whole
field of view) and :func:`predict_unet` its generic form: any chain, any input
contrasts, one network (e.g. the stanford2023 chain and a MONAI UNet).
:func:`predict_cord` is stage 1 alone. The results, their timings and their
writing are in :mod:`spinetumor.inference.result`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import nibabel as nib
import numpy as np
import torch

from spinetumor.inference.crop import Box, lesion_crop_box
from spinetumor.inference.postprocessing import postprocess
from spinetumor.inference.result import Prediction, new_timings, nifti_image, timed
from spinetumor.inference.settings import InferenceSettings, inference_settings
from spinetumor.inference.stages import lesion_probabilities, predict_cord_mask
from spinetumor.io import load_nifti
from spinetumor.preprocessing.chains import preset, validate_chain
from spinetumor.preprocessing.native import to_native
from spinetumor.preprocessing.preprocessing import preprocess_volumes
from spinetumor.preprocessing.volumes import SubjectVolumes
from spinetumor.runtime import torch_threads

__all__ = ["predict_cascade", "predict_cord", "predict_single_stage", "predict_unet"]

StrPath = str | os.PathLike[str]


def predict_cascade(
    t2w_path: StrPath,
    t1w_on_t2w_path: StrPath | None,
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
        settings: See :func:`spinetumor.inference.settings.inference_settings`.

    Returns:
        The :class:`~spinetumor.inference.result.Prediction`; ``crop_box`` is
        the region stage 2 saw.

    Raises:
        ValueError: invalid settings, a missing T1w, grids that differ, or a
            lesion network with the wrong number of outputs.
        FileNotFoundError: an input file is missing.
    """
    cfg = inference_settings(settings)
    timings = new_timings()
    own_grid = cfg.stage1_chain is not None
    contrasts = tuple(dict.fromkeys((*cfg.stage1_contrasts, *cfg.contrasts)))
    with torch_threads(cfg.threads):
        vols, prep = _load_and_preprocess(t2w_path, t1w_on_t2w_path, contrasts, cfg.steps, cfg, timings)
        affine = np.asarray(prep["T2w"].affine, dtype=np.float64)
        image = _channels(prep, cfg.contrasts)
        stage1_prep, cord_affine = prep, affine
        if own_grid:  # the contrasts stage 1 takes, on its own grid
            only = SubjectVolumes(t2w=vols.t2w, t1w=vols.t1w if "T1w" in cfg.stage1_contrasts else None)
            with timed(timings, "preprocess"):
                stage1_prep = preprocess_volumes(only, cfg.stage1_steps, threads=_threads(cfg))
            cord_affine = np.asarray(stage1_prep["T2w"].affine, dtype=np.float64)
        with timed(timings, "stage1"):
            cord = predict_cord_mask(stage1_model, _channels(stage1_prep, cfg.stage1_contrasts), cfg)
        with timed(timings, "crop"):
            box = lesion_crop_box(
                cord, cord_affine, cfg, onto=(affine, image.shape[1:]) if own_grid else None
            )
        with timed(timings, "stage2"):
            probs = lesion_probabilities(stage2_model, image, box, cfg)
        return _finish(probs, affine, vols.t2w, (cord, cord_affine), box, cfg, timings)


def predict_cord(
    t2w_path: StrPath,
    stage1_model: torch.nn.Module,
    settings: Mapping[str, Any] | InferenceSettings | None = None,
) -> tuple[nib.Nifti1Image, dict[str, float]]:
    """Stage 1 alone: the cord mask of a T2w image, on its native grid.

    The cascade's cord localisation as :func:`predict_cascade` runs it (same
    preprocessing, window and threshold), for the cord mask source ``model``.

    Args:
        t2w_path: Native T2w image (defines the output grid).
        stage1_model: Cord network (``stage1_contrasts`` in; channel 0 is the cord).
        settings: See :func:`spinetumor.inference.settings.inference_settings`;
            ``stage1_contrasts`` must be T2w only, since no registered T1w
            exists before the cord mask does.

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
    timings = new_timings()
    with torch_threads(cfg.threads):
        vols, prep = _load_and_preprocess(t2w_path, None, ("T2w",), cfg.stage1_steps, cfg, timings)
        affine = np.asarray(prep["T2w"].affine, dtype=np.float64)
        with timed(timings, "stage1"):
            cord = predict_cord_mask(stage1_model, _channels(prep, ("T2w",)), cfg)
        with timed(timings, "native"):
            native = to_native(nifti_image(cord, affine), vols.t2w, order=0)
    return native, timings


def predict_unet(
    t2w_path: StrPath,
    t1w_path: StrPath | None,
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
        settings: See :func:`spinetumor.inference.settings.inference_settings`;
            ``patch_size: null`` runs the whole preprocessed volume in one window.

    Returns:
        The :class:`~spinetumor.inference.result.Prediction` (``cord_mask``
        None, ``crop_box`` the whole volume).

    Raises:
        ValueError: invalid settings or chain, a missing T1w, or a network with
            the wrong number of outputs.
        FileNotFoundError: an input file is missing.
    """
    cfg = inference_settings(settings)
    chain = preset(steps)["steps"] if isinstance(steps, str) else steps
    validate_chain(chain)
    timings = new_timings()
    with torch_threads(cfg.threads):
        vols, prep = _load_and_preprocess(t2w_path, t1w_path, cfg.contrasts, chain, cfg, timings)
        affine = np.asarray(prep["T2w"].affine, dtype=np.float64)
        image = _channels(prep, cfg.contrasts)
        box: Box = ((0, 0, 0), tuple(int(n) for n in image.shape[1:]))  # type: ignore[assignment]
        with timed(timings, "stage2"):
            probs = lesion_probabilities(model, image, box, cfg)
        return _finish(probs, affine, vols.t2w, None, box, cfg, timings)


def predict_single_stage(
    t2w_path: StrPath,
    t1w_path: StrPath | None,
    stage2_model: torch.nn.Module,
    settings: Mapping[str, Any] | InferenceSettings | None = None,
) -> Prediction:
    """The paper's ablation: the lesion network over the whole field of view, no cord crop.

    Args:
        t2w_path: Native T2w image.
        t1w_path: T1w on the T2w grid.
        stage2_model: Lesion network.
        settings: See :func:`spinetumor.inference.settings.inference_settings`
            (its ``chain`` is used).

    Returns:
        The :class:`~spinetumor.inference.result.Prediction` of :func:`predict_unet`.
    """
    cfg = inference_settings(settings)
    return predict_unet(t2w_path, t1w_path, stage2_model, cfg.steps, cfg)


def _load(t2w_path: StrPath, t1w_path: StrPath | None, contrasts: Sequence[str]) -> SubjectVolumes:
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


def _load_and_preprocess(
    t2w_path: StrPath,
    t1w_path: StrPath | None,
    contrasts: Sequence[str],
    steps: Sequence[Mapping[str, Any]],
    cfg: InferenceSettings,
    timings: dict[str, float],
) -> tuple[SubjectVolumes, dict[str, nib.Nifti1Image]]:
    with timed(timings, "load"):
        vols = _load(t2w_path, t1w_path, contrasts)
    with timed(timings, "preprocess"):
        prep = preprocess_volumes(vols, steps, threads=_threads(cfg))
    return vols, prep


def _threads(cfg: InferenceSettings) -> int:
    return cfg.threads or torch.get_num_threads()


def _channels(prep: Mapping[str, nib.Nifti1Image], contrasts: Sequence[str]) -> np.ndarray:
    return np.stack([prep[key].get_fdata(dtype=np.float32) for key in contrasts], axis=0)


def _finish(
    probs: np.ndarray,
    affine: np.ndarray,
    native_ref: nib.Nifti1Image,
    cord: tuple[np.ndarray, np.ndarray] | None,
    box: Box,
    cfg: InferenceSettings,
    timings: dict[str, float],
) -> Prediction:
    # Post-process on the preprocessed grid, then map the maps to the native grid; ``cord`` is
    # stage 1's mask and the affine of its grid.
    with timed(timings, "postprocess"):
        dseg = postprocess(probs, cfg.outputs, affine, cfg.postprocessing)
    with timed(timings, "native"):
        dseg_native = to_native(nifti_image(dseg, affine), native_ref, order=0)
        cord_native = None if cord is None else to_native(nifti_image(*cord), native_ref, order=0)
        probs_native = None
        if cfg.native_probabilities:
            probs_native = to_native(nifti_image(np.moveaxis(probs, 0, -1), affine), native_ref, order=1)
    return Prediction(
        dseg=dseg_native,
        dseg_preprocessed=dseg,
        probabilities=probs,
        probabilities_native=probs_native,
        channels=tuple(cfg.outputs),
        cord_mask=None if cord is None else cord[0],
        cord_mask_native=cord_native,
        crop_box=box,
        preprocessed_affine=affine,
        native_ref=native_ref,
        timings=timings,
    )
