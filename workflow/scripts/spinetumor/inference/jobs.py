"""The workflow's prediction jobs: one test unit with a trained model, one cord-source mask.

Prediction (:func:`predict_subject`, the ``predict`` and ``predict_cascade`` rules)
    Native T2w (and the T1w registered onto it) in, post-processed ``dseg`` on
    the native T2w grid out, through :mod:`spinetumor.inference.predict`; the
    cascade also writes its stage-1 cord mask on the native grid.

Cord source ``model`` (:func:`predict_cord_source`, the ``predict_cord_source`` rule)
    The cord mask of a unit without a cord label, predicted on its native T2w
    grid by the cord stage that :func:`spinetumor.training.jobs.train_cord_source`
    trained.

:func:`load_trained` reads a trained ``model.pt`` back into its network.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spinetumor.inference.predict import predict_cascade, predict_cord, predict_single_stage, predict_unet
from spinetumor.inference.result import Prediction, save_prediction
from spinetumor.inference.settings import InferenceSettings, inference_settings
from spinetumor.io import save_nifti, write_json
from spinetumor.models.definitions import inference_config, model_stages
from spinetumor.models.networks import build_network
from spinetumor.models.spec import resolve_spec
from spinetumor.provenance import sha256_file
from spinetumor.runtime import pick_device
from spinetumor.training.checkpoints import load_checkpoint

__all__ = ["load_trained", "predict_subject", "predict_cord_source"]

logger = logging.getLogger(__name__)


def load_trained(
    path: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> tuple[torch.nn.Module, dict]:
    """The network of a trained ``model.pt`` (a checkpoint), in eval mode, and its checkpoint."""
    ckpt = load_checkpoint(path, map_location="cpu")
    network = build_network(resolve_spec(ckpt["extra"]["network"]))
    network.load_state_dict(ckpt["model"])
    return network.to(device).eval(), ckpt


def _run_model(
    model: Mapping[str, Any],
    t2w: str | os.PathLike[str],
    t1w_on_t2w: str | os.PathLike[str] | None,
    networks: Mapping[str, torch.nn.Module],
    cfg: InferenceSettings,
    subject: str,
) -> Prediction:
    """The prediction of the model's type, with the unit and the file named in a failure."""
    try:
        if model["type"] == "cascade":
            return predict_cascade(t2w, t1w_on_t2w, networks["cord"], networks["lesion"], cfg)
        if model["type"] == "single_stage":
            return predict_single_stage(t2w, t1w_on_t2w, networks["lesion"], cfg)
        return predict_unet(t2w, t1w_on_t2w, networks["lesion"], cfg.steps, cfg)
    except (ValueError, FileNotFoundError) as exc:
        raise ValueError(
            f"{subject}: prediction with model {model['name']!r} failed on {t2w}: {exc}"
        ) from exc


# Long only for its documented arguments: the body is about 35 lines.
def predict_subject(
    model: Mapping[str, Any],
    split: int,
    chain_steps: Sequence[Mapping[str, Any]],
    t2w: str | os.PathLike[str],
    t1w_on_t2w: str | os.PathLike[str] | None,
    stage_models: Mapping[str, str | os.PathLike[str]],
    out_dseg: str | os.PathLike[str],
    out_json: str | os.PathLike[str],
    *,
    out_cord: str | os.PathLike[str] | None = None,
    out_probs: str | os.PathLike[str] | None = None,
    stage1_chain_steps: Sequence[Mapping[str, Any]] | None = None,
    subject: str = "",
    threads: int | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """Predict one test unit with a trained model, on its native T2w grid (the ``predict`` rules).

    Args:
        model: The resolved model.
        split: Split number (recorded).
        chain_steps: The model's preprocessing chain.
        t2w: Native T2w image.
        t1w_on_t2w: T1w registered onto the T2w grid (None if no stage uses T1w).
        stage_models: Stage name to trained ``model.pt``.
        out_dseg: Destination of the native ``dseg`` (1 tumour, 2 edema, 3 cavity).
        out_json: Destination of the sidecar (split, checkpoints with their epochs and
            SHA-256 digests, crop, timings).
        out_cord: Destination of the cascade's native cord mask, or None.
        out_probs: Destination of the native probabilities (``(X, Y, Z, C)``
            float32, channel order in the sidecar's ``channels``), or None.
        stage1_chain_steps: A cascade's cord-stage chain when it has one of its
            own, else None.
        subject: Unit name for messages.
        threads: Torch threads, or None.
        device: Torch device, or None (GPU when visible).

    Returns:
        The sidecar's contents.
    """
    dev = pick_device(device)
    missing = sorted(set(model_stages(model)) - set(stage_models))
    if missing:
        raise ValueError(f"{subject}: model {model['name']!r} needs trained stage(s) {missing}")
    networks, epochs, digests = {}, {}, {}
    for stage in model_stages(model):
        networks[stage], ckpt = load_trained(stage_models[stage], dev)
        epochs[stage] = int(ckpt["epoch"])
        digests[stage] = sha256_file(stage_models[stage])
    cfg = inference_settings(
        inference_config(model, chain_steps, threads=threads, stage1_chain_steps=stage1_chain_steps)
    )
    result = _run_model(model, t2w, t1w_on_t2w, networks, cfg, subject)
    written = save_prediction(result, out_dseg, out_probs)
    if out_cord is not None:
        if result["cord_mask_native"] is None:
            raise ValueError(f"{subject}: model {model['name']!r} has no cord stage; no cord mask to write")
        native = result["cord_mask_native"]
        save_nifti(np.asarray(native.dataobj, dtype=np.uint8), native.affine, out_cord, dtype=np.uint8)
    sidecar = {
        "Description": f"{model['name']} ({model['type']}) prediction, labels 1 tumour, 2 edema, 3 cavity",
        "Sources": [str(t2w)] + ([str(t1w_on_t2w)] if t1w_on_t2w else []),
        "model": model["name"],
        "split": int(split),
        "checkpoints": {stage: str(stage_models[stage]) for stage in stage_models},
        "checkpoint_epochs": epochs,
        # The weights used, as tables/provenance.tsv names them: a metric joins to them on (model, split).
        "checkpoint_sha256": digests,
        "channels": list(result["channels"]),
        "crop_box_preprocessed": [list(result["crop_box"][0]), list(result["crop_box"][1])],
        "device": str(dev),
        "timings_s": {k: round(v, 3) for k, v in result["timings"].items()},
        "probabilities": Path(written["probabilities"]).name if "probabilities" in written else None,
    }
    write_json(sidecar, out_json)
    return sidecar


def predict_cord_source(
    model: Mapping[str, Any],
    chain_steps: Sequence[Mapping[str, Any]],
    t2w: str | os.PathLike[str],
    cord_model: str | os.PathLike[str],
    out_mask: str | os.PathLike[str],
    out_json: str | os.PathLike[str],
    *,
    subject: str = "",
    threads: int | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """Predict the cord mask of a unit without a cord label, on its native T2w grid.

    Args:
        model: The resolved cascade whose cord stage was trained by
            :func:`spinetumor.training.jobs.train_cord_source`.
        chain_steps: Its preprocessing chain.
        t2w: The unit's native T2w image.
        cord_model: The trained cord-source ``model.pt``.
        out_mask: Destination of the binary mask.
        out_json: Destination of its sidecar (model, checkpoint, epoch, voxels, timings).
        subject: Unit name for messages.
        threads: Torch threads, or None.
        device: Torch device, or None (GPU when visible).

    Returns:
        The sidecar's contents.

    Raises:
        ValueError: the prediction failed (naming the unit and the file).
    """
    dev = pick_device(device)
    network, ckpt = load_trained(cord_model, dev)
    cfg = inference_settings(inference_config(model, chain_steps, threads=threads))
    try:
        native, timings = predict_cord(t2w, network, cfg)
    except (ValueError, FileNotFoundError) as exc:
        raise ValueError(
            f"{subject}: cord prediction with model {model['name']!r} failed on {t2w}: {exc}"
        ) from exc
    mask = np.asarray(native.dataobj, dtype=np.uint8)
    if not mask.any():
        logger.warning("%s: the cord-source model found no cord in %s", subject, t2w)
    save_nifti(mask, native.affine, out_mask, dtype=np.uint8)
    sidecar = {
        "Description": f"spinal cord mask predicted by the cord stage of {model['name']} (cord source 'model')",
        "Sources": [str(t2w)],
        "model": model["name"],
        "checkpoint": str(cord_model),
        "checkpoint_epoch": int(ckpt["epoch"]),
        "voxels": int(mask.sum()),
        "device": str(dev),
        "timings_s": {k: round(v, 3) for k, v in timings.items() if v},
    }
    write_json(sidecar, out_json)
    return sidecar
