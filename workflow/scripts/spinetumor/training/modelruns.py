"""The workflow's model jobs: train one stage of one model on one split, predict one test subject.

Training (:func:`train_stage`)
    The records are the preprocessed files of the split's training and
    validation units, and nothing else: the function refuses a unit whose
    subject is a test subject of the split (:class:`LeakageError`). For the
    cascade's ``lesion`` stage the volumes are cropped to the cord's bounding
    box plus the model's margin: from the cord *label* for the training units,
    from the trained ``cord`` stage's *prediction* for the validation units
    (``crop_boxes.tsv`` records which). The run folder keeps
    ``checkpoint_last.pt``, ``checkpoint_best.pt`` and ``training_log.tsv``
    (:func:`spinetumor.training.loop.train`); a killed job's rerun resumes when the
    run's fingerprint (model, stage, split, subjects, settings, input files)
    is unchanged, and starts afresh otherwise. When training ends, the best
    checkpoint is copied to the job's declared output ``model.pt`` and a
    summary is written; Snakemake deletes a failed job's declared outputs, so
    the resume state is never one of them.

    Units whose cord mask is itself a prediction (cord source ``model``) are
    never a cord-stage target, and their lesion crops come from the split's
    stage-1 prediction, as for validation units.

Prediction (:func:`predict_subject`)
    Native T2w (and the T1w registered onto it) in, post-processed ``dseg`` on
    the native T2w grid out, through :mod:`spinetumor.inference.predict`; the
    cascade also writes its stage-1 cord mask on the native grid.

Cord source ``model`` (:func:`train_cord_source`, :func:`predict_cord_source`)
    The data layer's cord mask of a unit without a cord label: one cascade's
    cord stage, trained outside the splits on every unit whose cord mask comes
    from a label (manual or centreline), predicts it on the native T2w grid.
    Those masks feed no split's training (see above), so no test subject's
    label reaches a split's training through them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from spinetumor.evaluation.overlap import dice
from spinetumor.inference.crop import lesion_crop_box as _crop
from spinetumor.inference.predict import predict_cascade, predict_cord, predict_single_stage, predict_unet
from spinetumor.inference.result import save_prediction
from spinetumor.inference.settings import inference_settings
from spinetumor.inference.window import sliding_window
from spinetumor.io import atomic_path, load_nifti, save_nifti, write_json
from spinetumor.layout import PREPROC_IMAGE_KINDS, preprocessed_file
from spinetumor.models.definitions import inference_config, model_stages, network_config, training_config
from spinetumor.models.networks import build_network
from spinetumor.models.spec import resolve_spec
from spinetumor.runtime import pick_device, torch_threads
from spinetumor.training.checkpoints import CHECKPOINT_BEST, CHECKPOINT_LAST, load_checkpoint
from spinetumor.training.data import SubjectRecord, record_from_prefix
from spinetumor.training.loop import train
from spinetumor.training.settings import TrainingSettings

__all__ = [
    "LeakageError",
    "split_roles",
    "unit_of_preproc",
    "check_no_leakage",
    "run_fingerprint",
    "crop_boxes",
    "train_stage",
    "load_trained",
    "predict_subject",
    "cord_source_roles",
    "train_cord_source",
    "predict_cord_source",
]

logger = logging.getLogger(__name__)

PREPROC_T2W_SUFFIX = "_T2w.nii.gz"
CROP_BOXES = "crop_boxes.tsv"


class LeakageError(ValueError):
    """A test subject of a split was about to reach a training step of that split."""


def split_roles(splits_tsv: str | os.PathLike[str], split: int) -> dict[str, list[str]]:
    """Subjects of one split by role (``train``, ``val``, ``test``).

    Raises:
        ValueError: the split is not in the table.
    """
    table = pd.read_csv(splits_tsv, sep="\t", dtype={"subject": str, "split": int, "role": str})
    part = table[table["split"] == int(split)]
    if part.empty:
        raise ValueError(f"{splits_tsv}: no split {split} (splits {sorted(set(table['split']))})")
    return {role: sorted(part.loc[part["role"] == role, "subject"]) for role in ("train", "val", "test")}


def unit_of_preproc(t2w_path: str | os.PathLike[str]) -> tuple[str, str]:
    """``(unit prefix, file prefix)`` of a preprocessed T2w path.

    ``.../sub-01_ses-1_desc-preproc_T2w.nii.gz`` gives ``sub-01_ses-1`` and
    ``.../sub-01_ses-1_desc-preproc``.
    """
    path = str(t2w_path)
    if not path.endswith("_desc-preproc" + PREPROC_T2W_SUFFIX):
        raise ValueError(f"{path}: not a preprocessed T2w (…_desc-preproc_T2w.nii.gz)")
    prefix = path[: -len(PREPROC_T2W_SUFFIX)]
    return Path(prefix).name[: -len("_desc-preproc")], prefix


def _subject_of(unit: str) -> str:
    return unit.split("_", 1)[0]


def check_no_leakage(units: Sequence[str], test_subjects: Sequence[str], split: int) -> None:
    """Refuse training units that belong to a test subject of the split.

    Raises:
        LeakageError: naming the units.
    """
    leaked = sorted(u for u in units if _subject_of(u) in set(test_subjects))
    if leaked:
        raise LeakageError(f"split {split}: test subject unit(s) {leaked} given to training")


def _file_digest(paths: Sequence[str | os.PathLike[str]]) -> str:
    digest = hashlib.sha256()
    for path in sorted(str(p) for p in paths):
        digest.update(Path(path).name.encode())
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def run_fingerprint(description: Mapping[str, Any], files: Sequence[str | os.PathLike[str]]) -> str:
    """Hash of what defines a training run: its description and its input files' bytes."""
    text = json.dumps(description, sort_keys=True, default=str)
    return hashlib.sha256((text + _file_digest(files)).encode()).hexdigest()


def _resume_allowed(run_dir: Path, fingerprint: str) -> bool:
    last = run_dir / CHECKPOINT_LAST
    if not last.exists():
        return False
    try:
        saved = torch.load(last, map_location="cpu", weights_only=True)["extra"].get("fingerprint")
    except Exception as exc:  # an unreadable checkpoint cannot be resumed
        logger.warning("%s: unreadable (%s); starting afresh", last, exc)
        return False
    if saved != fingerprint:
        logger.info("%s belongs to another configuration or other data; starting afresh", last)
        return False
    return True


def _unit_files(prefix: str) -> list[str]:
    return [preprocessed_file(prefix, kind) for kind in PREPROC_IMAGE_KINDS]


def load_trained(
    path: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> tuple[torch.nn.Module, dict]:
    """The network of a trained ``model.pt`` (a checkpoint), in eval mode, and its checkpoint."""
    ckpt = load_checkpoint(path, map_location="cpu")
    network = build_network(resolve_spec(ckpt["extra"]["network"]))
    network.load_state_dict(ckpt["model"])
    return network.to(device).eval(), ckpt


def crop_boxes(
    model: Mapping[str, Any],
    chain_steps: Sequence[Mapping[str, Any]],
    units: Mapping[str, str],
    roles: Mapping[str, str],
    cord_network: torch.nn.Module | None,
    *,
    stage1_units: Collection[str] = (),
) -> pd.DataFrame:
    """The cascade's lesion-stage crop boxes on the preprocessed grid.

    Args:
        model: The resolved cascade.
        chain_steps: Its preprocessing chain.
        units: Unit prefix to preprocessed file prefix.
        roles: Unit prefix to ``train`` or ``val``: training units are cropped
            around their cord label, validation units around the cord that
            ``cord_network`` predicts (as at test time).
        cord_network: The trained cord stage (needed when a unit is ``val``
            or in ``stage1_units``).
        stage1_units: Training units cropped around the predicted cord too,
            because their cord mask is not a label (cord source ``model``).

    Returns:
        One row per unit: ``unit, role, source, start, stop`` and, for
        predicted crops, ``cord_dice`` (prediction vs label) and
        ``lesion_inside`` (share of lesion voxels inside the box).
    """
    cfg = inference_settings(inference_config(model, chain_steps))
    rows = []
    for unit, prefix in units.items():
        cord_img = load_nifti(preprocessed_file(prefix, "cord"))
        label = np.asarray(cord_img.dataobj) > 0
        affine = np.asarray(cord_img.affine, dtype=np.float64)
        row: dict[str, Any] = {"unit": unit, "role": roles[unit]}
        if roles[unit] == "train" and unit not in stage1_units:
            mask, row["source"] = label, "label"
        else:
            if cord_network is None:
                raise ValueError(f"{unit}: a crop from the predicted cord needs the trained cord stage")
            image = np.stack(
                [load_nifti(f"{prefix}_{c}.nii.gz").get_fdata(dtype=np.float32) for c in cfg.stage1_contrasts]
            )
            probs = sliding_window(
                cord_network, image, cfg.stage1_patch_size, cfg.overlap, 1, None, cfg.blend_mode
            )
            mask, row["source"] = probs[0] > cfg.stage1_threshold, "stage1"
            row["cord_dice"] = dice(mask, label)
        box = _crop(mask.astype(np.uint8), affine, cfg)
        lesion = np.asarray(load_nifti(f"{prefix}_dseg.nii.gz").dataobj) > 0
        inside = lesion[tuple(slice(a, b) for a, b in zip(*box))].sum()
        row.update(
            start=list(box[0]),
            stop=list(box[1]),
            lesion_inside=float(inside / lesion.sum()) if lesion.any() else float("nan"),
        )
        rows.append(row)
    return pd.DataFrame(
        rows, columns=["unit", "role", "source", "start", "stop", "cord_dice", "lesion_inside"]
    )


def train_stage(
    model: Mapping[str, Any],
    stage: str,
    split: int,
    chain_steps: Sequence[Mapping[str, Any]],
    train_t2w: Sequence[str],
    val_t2w: Sequence[str],
    splits_tsv: str | os.PathLike[str],
    out_model: str | os.PathLike[str],
    out_summary: str | os.PathLike[str],
    *,
    cord_model: str | os.PathLike[str] | None = None,
    predicted_cords: Collection[str] = (),
    threads: int | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """Train one stage of one model on one split (the ``train_model`` rule).

    Args:
        model: The resolved model (:func:`spinetumor.models.definitions.resolve_model`).
        stage: ``cord`` or ``lesion``.
        split: Split number.
        chain_steps: The model's preprocessing chain (recorded, and used for crops).
        train_t2w: Preprocessed T2w files of the training units (the other
            files share their prefix).
        val_t2w: Those of the validation units.
        splits_tsv: The split table; a unit of a test subject is refused.
        out_model: Destination of the trained model (the best checkpoint).
        out_summary: Destination of the run summary (JSON).
        cord_model: The cascade's trained cord stage (its ``lesion`` stage only).
        predicted_cords: Units whose cord mask is a prediction (source
            ``model``): refused by a ``cord`` stage, and cropped around the
            split's own stage-1 prediction by a cascade's ``lesion`` stage.
        threads: Torch CPU threads, or None.
        device: ``cpu``, ``cuda`` or None (GPU when visible).

    Returns:
        The summary.

    Raises:
        LeakageError: a test subject's unit among the inputs.
        ValueError: invalid settings, a stage the model does not have, or a
            predicted cord given to a cord stage as its target.
    """
    started = time.perf_counter()
    if stage not in model_stages(model):
        raise ValueError(f"model {model['name']!r} ({model['type']}) has no stage {stage!r}")
    roles = split_roles(splits_tsv, split)
    train_units = dict(unit_of_preproc(p) for p in train_t2w)
    val_units = dict(unit_of_preproc(p) for p in val_t2w)
    check_no_leakage([*train_units, *val_units], roles["test"], split)
    for unit in train_units:
        if _subject_of(unit) not in roles["train"]:
            raise LeakageError(f"split {split}: unit {unit} is not a training subject of the split")
    for unit in val_units:
        if _subject_of(unit) not in roles["val"]:
            raise LeakageError(f"split {split}: unit {unit} is not a validation subject of the split")
    if stage == "cord":
        pseudo = sorted(set(predicted_cords) & {*train_units, *val_units})
        if pseudo:
            raise ValueError(
                f"split {split}: the cord stage cannot learn from predicted cord masks ({pseudo}); "
                "leave units with the cord source 'model' out of it"
            )
    with torch_threads(threads):
        out_model = Path(out_model)
        description = {
            "model": model,
            "stage": stage,
            "split": int(split),
            "chain": list(chain_steps),
            "train": sorted(train_units),
            "val": sorted(val_units),
            "predicted_cords": sorted(set(predicted_cords) & set(train_units)),
        }
        boxes: dict[str, Any] = {}
        if model["type"] == "cascade" and stage == "lesion":
            cord_network = load_trained(cord_model)[0] if cord_model is not None else None
            roles_of = {**{u: "train" for u in train_units}, **{u: "val" for u in val_units}}
            table = crop_boxes(
                model,
                chain_steps,
                {**train_units, **val_units},
                roles_of,
                cord_network,
                stage1_units=set(predicted_cords),
            )
            with atomic_path(out_model.parent / CROP_BOXES) as tmp:
                table.to_csv(tmp, sep="\t", index=False, na_rep="n/a")
            boxes = {row.unit: (tuple(row.start), tuple(row.stop)) for row in table.itertuples()}
            logger.info("lesion crops: %s", table.to_string(index=False))
        return _fit(
            model,
            stage,
            chain_steps,
            train_units,
            val_units,
            out_model,
            out_summary,
            description=description,
            extra_files=[str(cord_model)] if cord_model is not None else [],
            boxes=boxes,
            device=device,
            started=started,
            split=int(split),
        )


def _fit(
    model: Mapping[str, Any],
    stage: str,
    chain_steps: Sequence[Mapping[str, Any]],
    train_units: Mapping[str, str],
    val_units: Mapping[str, str],
    out_model: Path,
    out_summary: str | os.PathLike[str],
    *,
    description: Mapping[str, Any],
    extra_files: Sequence[str],
    boxes: Mapping[str, Any],
    device: str | None,
    started: float,
    split: int | None,
    summary_extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Train (or resume) one run in ``out_model``'s folder, copy its best checkpoint, write the summary
    (with ``summary_extra`` added)."""
    run_dir = out_model.parent
    try:
        settings = TrainingSettings.from_config(training_config(model, stage))
    except ValueError as exc:
        raise ValueError(f"model {model['name']!r}, stage {stage}: {exc}") from exc
    spec = network_config(model, stage)
    files = [f for prefix in (*train_units.values(), *val_units.values()) for f in _unit_files(prefix)]
    fingerprint = run_fingerprint(description, [*files, *extra_files])

    def records(units: Mapping[str, str]) -> list[SubjectRecord]:
        return [record_from_prefix(u, p, crop_box=boxes.get(u)) for u, p in units.items()]

    result = train(
        records(train_units),
        records(val_units),
        spec,
        settings,
        run_dir,
        resume=_resume_allowed(run_dir, fingerprint),
        device=device,
        extra={
            "fingerprint": fingerprint,
            "model_name": model["name"],
            "model_type": model["type"],
            "stage": stage,
            "split": split,
            "model_config": model,
            "chain": list(chain_steps),
        },
    )
    best = run_dir / CHECKPOINT_BEST
    source = best if best.exists() else run_dir / CHECKPOINT_LAST
    with atomic_path(out_model) as tmp:
        shutil.copyfile(source, tmp)
    summary = {
        "model": model["name"],
        "type": model["type"],
        "stage": stage,
        "split": split,
        "device": str(pick_device(device)),
        "train_units": sorted(train_units),
        "val_units": sorted(val_units),
        "best_epoch": result["best_epoch"],
        # What "best" means for this run: val_dice_mean over scored_targets, or val_loss when no
        # validation unit contains any target.
        "selection_metric": result["selection_metric"],
        "scored_targets": result["scored_targets"],
        "best_metric": result["best_metric"],
        "last_epoch": result["last_epoch"],
        "stopped_early": result["stopped_early"],
        "epochs_this_job": len(result["history"]),
        "seconds_this_job": round(time.perf_counter() - started, 2),
        "model_file": out_model.name,
        "from_checkpoint": source.name,
        **(summary_extra or {}),
    }
    write_json(summary, out_summary)
    where = f"split {split}" if split is not None else "cord source"
    logger.info(
        "model %s stage %s %s: best %s %.4f at epoch %d",
        model["name"],
        stage,
        where,
        result["selection_metric"],
        result["best_metric"],
        result["best_epoch"],
    )
    return summary


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
        out_json: Destination of the sidecar (split, checkpoints, crop, timings).
        out_cord: Destination of the cascade's native cord mask, or None.
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
    networks, epochs = {}, {}
    for stage in model_stages(model):
        networks[stage], ckpt = load_trained(stage_models[stage], dev)
        epochs[stage] = int(ckpt["epoch"])
    cfg = inference_settings(inference_config(model, chain_steps, threads=threads))
    try:
        if model["type"] == "cascade":
            result = predict_cascade(t2w, t1w_on_t2w, networks["cord"], networks["lesion"], cfg)
        elif model["type"] == "single_stage":
            result = predict_single_stage(t2w, t1w_on_t2w, networks["lesion"], cfg)
        else:
            result = predict_unet(t2w, t1w_on_t2w, networks["lesion"], cfg.steps, cfg)
    except (ValueError, FileNotFoundError) as exc:
        raise ValueError(
            f"{subject}: prediction with model {model['name']!r} failed on {t2w}: {exc}"
        ) from exc
    out_probs = None
    if model.get("save_probabilities"):
        out_probs = str(out_dseg).replace("_dseg.nii.gz", "_probseg.nii.gz")
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
        "channels": list(result["channels"]),
        "crop_box_preprocessed": [list(result["crop_box"][0]), list(result["crop_box"][1])],
        "device": str(dev),
        "timings_s": {k: round(v, 3) for k, v in result["timings"].items()},
        "probabilities": Path(written["probabilities"]).name if "probabilities" in written else None,
    }
    write_json(sidecar, out_json)
    return sidecar


def cord_source_roles(units: Sequence[str], val_fraction: float, seed: int) -> dict[str, list[str]]:
    """Training and validation units of the cord-source model, drawn by subject.

    Args:
        units: Unit prefixes (``sub-01``, ``sub-01_ses-2``) whose cord mask is a label.
        val_fraction: Share of subjects kept for validation (at least one,
            and at least one left for training).
        seed: Seed of the draw.

    Returns:
        ``{"train": [...], "val": [...]}``, sorted; a subject's units stay together.

    Raises:
        ValueError: fewer than two subjects.
    """
    subjects = sorted({_subject_of(u) for u in units})
    if len(subjects) < 2:
        raise ValueError(
            f"the cord-source model needs units of at least 2 subjects with a cord label, got {subjects}"
        )
    n_val = min(len(subjects) - 1, max(1, round(val_fraction * len(subjects))))
    val_subjects = set(np.random.default_rng(seed).choice(subjects, size=n_val, replace=False).tolist())
    return {
        "train": sorted(u for u in units if _subject_of(u) not in val_subjects),
        "val": sorted(u for u in units if _subject_of(u) in val_subjects),
    }


def train_cord_source(
    model: Mapping[str, Any],
    chain_steps: Sequence[Mapping[str, Any]],
    t2w: Sequence[str],
    out_model: str | os.PathLike[str],
    out_summary: str | os.PathLike[str],
    *,
    val_fraction: float = 0.2,
    seed: int = 0,
    threads: int | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """Train a cascade's cord stage as the cord mask source ``model`` (the ``train_cord_source`` rule).

    Args:
        model: The resolved cascade.
        chain_steps: Its preprocessing chain.
        t2w: Preprocessed T2w files of every unit whose cord mask is a label.
        out_model: Destination of the trained model (best checkpoint).
        out_summary: Destination of the run summary (JSON).
        val_fraction: Share of subjects held out for validation and model selection.
        seed: Seed of that draw.
        threads: Torch CPU threads, or None.
        device: ``cpu``, ``cuda`` or None (GPU when visible).

    Returns:
        The summary (``split`` is null, ``purpose`` is ``cord_source``).

    Raises:
        ValueError: not a cascade, or fewer than two subjects.
    """
    started = time.perf_counter()
    if model["type"] != "cascade":
        raise ValueError(
            f"cord_mask.model: {model['name']!r} is a {model['type']}, not a cascade (no cord stage)"
        )
    units = dict(unit_of_preproc(p) for p in t2w)
    roles = cord_source_roles(sorted(units), val_fraction, seed)
    with torch_threads(threads):
        description = {
            "model": model,
            "stage": "cord",
            "purpose": "cord_source",
            "chain": list(chain_steps),
            "train": roles["train"],
            "val": roles["val"],
        }
        return _fit(
            model,
            "cord",
            chain_steps,
            {u: units[u] for u in roles["train"]},
            {u: units[u] for u in roles["val"]},
            Path(out_model),
            out_summary,
            description=description,
            extra_files=[],
            boxes={},
            device=device,
            started=started,
            split=None,
            summary_extra={"purpose": "cord_source"},
        )


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
        model: The resolved cascade whose cord stage was trained by :func:`train_cord_source`.
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
