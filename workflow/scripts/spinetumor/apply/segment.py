"""``spinetumor predict``: one scan in, the exported model's segmentation out, on the T2w's grid.

Everything is checked before anything runs (the model folder against its
manifest, each image), every output is written in a hidden folder inside
``out_dir`` and moved into place only when all are written, so a failure
leaves nothing half-written. Output names follow BIDS derivatives, from the
T2w's name (``sub-01_T2w.nii.gz`` -> ``sub-01_space-T2w_desc-MODEL_*``).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from spinetumor import LABELS
from spinetumor.apply.ensemble import Ensemble, combine, predict_folds, settings_of
from spinetumor.apply.inputs import InputError, check_image, output_stem
from spinetumor.export import bundle
from spinetumor.export.folder import ExportedModel, ModelFolderError, open_model
from spinetumor.io import save_nifti, write_json
from spinetumor.provenance import code_version, sha256_file
from spinetumor.registration.register import register_t1w_to_t2w
from spinetumor.registration.settings import RegistrationSettings

__all__ = ["output_names", "segment"]

logger = logging.getLogger(__name__)

StrPath = str | os.PathLike[str]


def output_names(stem: str, desc: str, channels: Sequence[str], cord: bool) -> dict[str, str]:
    """The file name of each output: ``dseg``, ``sidecar``, ``uncertainty``, ``probseg-<channel>``, ``cord``."""
    base = f"{stem}_space-T2w_desc-{desc}"
    names = {
        "dseg": f"{base}_dseg.nii.gz",
        "sidecar": f"{base}_dseg.json",
        "uncertainty": f"{base}_uncertainty.nii.gz",
        **{f"probseg-{c}": f"{base}_label-{c}_probseg.nii.gz" for c in channels},
    }
    if cord:
        names["cord"] = f"{base}_label-SC_mask.nii.gz"
    return names


def _register(
    model: ExportedModel, t2w: Path, t1w: Path | None, work: Path, stem: str
) -> tuple[Path | None, dict[str, Any]]:
    """The T1w on the T2w grid (in ``work``) with the study's registration, and what to record of it."""
    if "T1w" not in model.contrasts:
        if t1w is not None:
            logger.warning("model %s takes no T1w: %s is not used", model.name, t1w)
        return None, {}
    logger.info("registering %s onto %s", t1w, t2w)
    settings = RegistrationSettings.from_config(model.config["registration"])
    result = register_t1w_to_t2w(t2w, t1w, settings, subject=stem.removeprefix("sub-"))
    out = work / "t1w_on_t2w.nii.gz"
    save_nifti(np.asarray(result.t1w_on_t2w.dataobj), result.t1w_on_t2w.affine, out, dtype=np.float32)
    if result.failures:
        logger.warning(
            "registration of %s flagged: %s; check the T1w's alignment", t1w, "; ".join(result.failures)
        )
    record = {
        "metric": result.metric,
        "final_metric_value": round(float(result.metric_value), 6),
        "registration_ok": not result.failures,
        "failure_reasons": list(result.failures),
    }
    return out, record


def _check_onnx(model: ExportedModel, folds: Sequence[int]) -> None:
    missing = [bundle.onnx_weights_path(k, s) for k in folds for s in model.stages]
    missing = [name for name in missing if name not in model.digests]
    if missing:
        raise ModelFolderError(
            f"{model.root}: no ONNX networks ({', '.join(missing)}); "
            f"run `spinetumor export-onnx --model {model.root}` first"
        )


def _write(ensemble: Ensemble, names: Mapping[str, str], work: Path) -> None:
    affine = np.asarray(ensemble["dseg"].affine, dtype=np.float64)
    save_nifti(
        np.asarray(ensemble["dseg"].dataobj, dtype=np.uint8), affine, work / names["dseg"], dtype=np.uint8
    )
    probs = np.asarray(ensemble["probabilities"].dataobj, dtype=np.float32)
    for i, channel in enumerate(ensemble["channels"]):
        save_nifti(probs[..., i], affine, work / names[f"probseg-{channel}"], dtype=np.float32)
    save_nifti(
        np.asarray(ensemble["uncertainty"].dataobj, np.float32),
        affine,
        work / names["uncertainty"],
        dtype=np.float32,
    )
    if ensemble["cord"] is not None:
        save_nifti(
            np.asarray(ensemble["cord"].dataobj, np.uint8), affine, work / names["cord"], dtype=np.uint8
        )


def _sidecar(
    model: ExportedModel,
    folds: Sequence[int],
    inputs: Sequence[Path],
    ensemble: Ensemble,
    extra: Mapping[str, Any],
    onnx: bool,
) -> dict[str, Any]:
    uncertainty = "largest standard deviation over the channels across the folds"
    if len(folds) == 1:
        uncertainty = "largest binary entropy (bits) over the channels"
    return {
        "Description": f"{model.name} ({model.type}) segmentation: 1 tumour, 2 edema, 3 cavity",
        "GeneratedBy": [{"Name": "spinetumor", "Version": code_version(), "Model": model.name}],
        "Sources": [str(p) for p in inputs],
        "SourcesSHA256": {str(p): sha256_file(p) for p in inputs},
        "ModelFolder": str(model.root.resolve()),
        "ModelSHA256": model.weight_digests(folds, onnx=onnx),
        "ModelConfigSHA256": model.digests[bundle.CONFIG],
        "Folds": list(folds),
        "Ensemble": "mean of the folds' probabilities, post-processed once",
        "Uncertainty": uncertainty,
        "Labels": {str(v): k for k, v in LABELS.items()},
        "Channels": list(ensemble["channels"]),
        "CropBoxesPreprocessed": ensemble["crop_boxes"],
        **extra,
        "TimingsSeconds": {k: round(v, 3) for k, v in ensemble["timings"].items()},
    }


# Long only for its documented arguments and steps: each step is one call.
def segment(
    model_dir: StrPath,
    t2w: StrPath,
    out_dir: StrPath,
    *,
    t1w: StrPath | None = None,
    folds: str | int | Sequence[int] = "all",
    device: str | None = "cpu",
    threads: int | None = None,
    onnx: bool = False,
    stem: str | None = None,
) -> dict[str, Path]:
    """Segment one scan with an exported model and write the outputs into ``out_dir``.

    Args:
        model_dir: The exported model folder (``{results_dir}/export/{model}``).
        t2w: The T2w image (any orientation and voxel size; defines the outputs' grid).
        out_dir: Where the outputs go (created if needed; outputs of the same name are replaced).
        t1w: The T1w image, registered onto the T2w here, when the model takes it.
        folds: ``all`` (the ensemble) or the folds to use.
        device: ``cpu`` or ``cuda``.
        threads: Torch (or ONNX Runtime) threads, or None.
        onnx: Run the folder's ONNX networks (``spinetumor export-onnx``) with
            ONNX Runtime on the CPU instead of the torch networks.
        stem: The outputs' name stem (default: from the T2w's name,
            :func:`spinetumor.apply.inputs.output_stem`).

    Returns:
        Output key (:func:`output_names`) to written path.

    Raises:
        InputError: a missing, unreadable, non-NIfTI or non-3D image, or a
            missing contrast the model needs.
        ModelFolderError: a model folder that fails its manifest or names an unknown fold.
    """
    started = time.perf_counter()
    logger.info("loading model folder %s", model_dir)
    model = open_model(model_dir)
    chosen = model.select_folds(folds)
    t2w = check_image(t2w, "T2w")
    t1w = check_image(t1w, "T1w") if "T1w" in model.contrasts or t1w is not None else None
    if device == "cuda" and (onnx or not torch.cuda.is_available()):
        raise InputError(
            "--device cuda: " + ("--onnx runs on the CPU" if onnx else "no GPU is visible to torch")
        )
    if onnx:
        _check_onnx(model, chosen)
    cfg = settings_of(model, device, threads)
    stem = stem or output_stem(t2w)
    names = output_names(stem, model.desc, cfg.outputs, model.type == "cascade")
    out_dir = Path(out_dir)
    created = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".spinetumor-", dir=out_dir))
    written: dict[str, Path] = {}
    try:
        t1w_on_t2w, registration = _register(model, t2w, t1w, work, stem)
        ensemble = combine(predict_folds(model, chosen, t2w, t1w_on_t2w, cfg, onnx=onnx), cfg)
        logger.info("saving %d outputs into %s", len(names), out_dir)
        _write(ensemble, names, work)
        extra = {"Registration": registration} if registration else {}
        extra["Device"] = str(cfg.device or "cpu")
        extra["Runtime"] = "ONNX Runtime" if onnx else "PyTorch"
        used = [
            t2w,
            *([t1w] if t1w_on_t2w is not None else []),
        ]  # a T1w the model does not take is not a source
        sidecar = _sidecar(model, chosen, used, ensemble, extra, onnx)
        sidecar["TimingsSeconds"]["total"] = round(time.perf_counter() - started, 3)
        write_json(sidecar, work / names["sidecar"])
        written = {key: out_dir / name for key, name in names.items()}
        for key, name in names.items():
            os.replace(work / name, written[key])
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if created and not written and not any(out_dir.iterdir()):
            out_dir.rmdir()  # a failed run leaves no trace
    logger.info("done in %.1f s: %s", time.perf_counter() - started, written["dseg"])
    return written
