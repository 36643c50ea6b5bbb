"""The fold ensemble of an exported model on one scan: each fold's prediction, then their mean.

Each fold runs the study's own prediction (:mod:`spinetumor.inference.predict`,
so preprocessing, cascade crop and window are those the study scored); the
folds' probabilities, all on the same preprocessed grid, are averaged and
post-processed once, as nnU-Net ensembles its folds. The uncertainty map is
the folds' spread (the largest standard deviation over the channels), or,
with one fold, the largest binary entropy (bits) of its channels. A cascade's
cord mask is the voxels that most folds' stage 1 kept.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any, TypedDict

import nibabel as nib
import numpy as np
import torch

from spinetumor.export.folder import ExportedModel
from spinetumor.export.onnx_networks import OnnxNetwork, onnx_path
from spinetumor.inference.jobs import load_trained
from spinetumor.inference.postprocessing import postprocess
from spinetumor.inference.predict import predict_cascade, predict_single_stage, predict_unet
from spinetumor.inference.result import Prediction, nifti_image
from spinetumor.inference.settings import InferenceSettings, inference_settings
from spinetumor.preprocessing.native import to_native

__all__ = ["Ensemble", "fold_uncertainty", "predict_folds", "combine"]

logger = logging.getLogger(__name__)

StrPath = str | os.PathLike[str]


class Ensemble(TypedDict):
    """The combined prediction, on the native T2w grid.

    Keys:
        dseg: ``uint8`` label map (1 tumour, 2 edema, 3 cavity).
        probabilities: ``(X, Y, Z, C)`` float32, channel order ``channels``.
        channels: The lesion network's output names.
        uncertainty: float32 map (:func:`fold_uncertainty`).
        cord: ``uint8`` cord mask of a cascade, else None.
        crop_boxes: Each fold's stage-2 region on the preprocessed grid.
        timings: Seconds per step, summed over the folds.
    """

    dseg: nib.Nifti1Image
    probabilities: nib.Nifti1Image
    channels: tuple[str, ...]
    uncertainty: nib.Nifti1Image
    cord: nib.Nifti1Image | None
    crop_boxes: list[list[list[int]]]
    timings: dict[str, float]


def settings_of(model: ExportedModel, device: str | None, threads: int | None) -> InferenceSettings:
    """The exported inference settings, run on ``device`` with ``threads``."""
    return inference_settings({**model.config["inference"], "device": device, "threads": threads})


def predict_folds(
    model: ExportedModel,
    folds: Sequence[int],
    t2w: StrPath,
    t1w_on_t2w: StrPath | None,
    cfg: InferenceSettings,
    *,
    onnx: bool = False,
) -> list[Prediction]:
    """Each fold's prediction of one scan (its T1w already on the T2w grid), with the torch networks
    or, with ``onnx``, the folder's ONNX networks in ONNX Runtime."""
    results = []
    for fold in folds:
        logger.info("fold %d of %s: predicting%s", fold, folds, " (ONNX Runtime)" if onnx else "")
        nets = {stage: _network(model, fold, stage, cfg, onnx) for stage in model.stages}
        if model.type == "cascade":
            results.append(predict_cascade(t2w, t1w_on_t2w, nets["cord"], nets["lesion"], cfg))
        elif model.type == "single_stage":
            results.append(predict_single_stage(t2w, t1w_on_t2w, nets["lesion"], cfg))
        else:
            results.append(predict_unet(t2w, t1w_on_t2w, nets["lesion"], cfg.steps, cfg))
    return results


def _network(
    model: ExportedModel, fold: int, stage: str, cfg: InferenceSettings, onnx: bool
) -> torch.nn.Module:
    if onnx:
        return OnnxNetwork(onnx_path(model, fold, stage), cfg.threads)
    return load_trained(model.weights(fold, stage), cfg.device or "cpu")[0]


def fold_uncertainty(probabilities: np.ndarray) -> np.ndarray:
    """Per voxel, the folds' largest standard deviation over the channels, or with one fold the
    largest binary entropy (bits) of its channels.

    Args:
        probabilities: ``(folds, C, X, Y, Z)`` sigmoid probabilities.
    """
    stack = np.asarray(probabilities, dtype=np.float64)
    if stack.shape[0] > 1:
        return stack.std(axis=0).max(axis=0).astype(np.float32)
    p = np.clip(stack[0], 1e-7, 1 - 1e-7)
    entropy = -(p * np.log2(p) + (1 - p) * np.log2(1 - p))
    return entropy.max(axis=0).astype(np.float32)


def combine(results: Sequence[Prediction], cfg: InferenceSettings) -> Ensemble:
    """The folds' mean probabilities, post-processed once, and every map on the native grid."""
    stack = np.stack([r["probabilities"] for r in results])
    probs = stack.mean(axis=0, dtype=np.float64).astype(np.float32)
    affine, ref = results[0]["preprocessed_affine"], results[0]["native_ref"]
    timings: dict[str, Any] = {}
    for r in results:
        for step, seconds in r["timings"].items():
            timings[step] = timings.get(step, 0.0) + seconds
    dseg = postprocess(probs, cfg.outputs, affine, cfg.postprocessing)
    cords = [
        np.asarray(r["cord_mask_native"].dataobj) > 0 for r in results if r["cord_mask_native"] is not None
    ]
    cord = None
    if cords:
        votes = np.mean(cords, axis=0) > 0.5
        cord = nifti_image(votes.astype(np.uint8), np.asarray(ref.affine, dtype=np.float64))
    return Ensemble(
        dseg=to_native(nifti_image(dseg, affine), ref, order=0),
        probabilities=to_native(nifti_image(np.moveaxis(probs, 0, -1), affine), ref, order=1),
        channels=tuple(cfg.outputs),
        uncertainty=to_native(nifti_image(fold_uncertainty(stack), affine), ref, order=1),
        cord=cord,
        crop_boxes=[[list(r["crop_box"][0]), list(r["crop_box"][1])] for r in results],
        timings=timings,
    )
