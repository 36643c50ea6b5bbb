"""The workflow's training jobs: one stage of one model on one split, and the cord-source model.

Training (:func:`train_stage`, the ``train_model`` rule)
    The rule passes the ids of the split's training and validation units and
    the folder of the model's preprocessing chain; each unit's files are named
    once, here, by :mod:`spinetumor.layout`. The units are held against the
    split table (:func:`spinetumor.training.roles.check_split_units`): a unit
    of a test subject stops the job (:class:`~spinetumor.training.roles.LeakageError`).
    For the cascade's ``lesion`` stage the volumes are cropped to the cord's
    bounding box plus the model's margin (:mod:`spinetumor.training.crops`). The
    run folder keeps the checkpoints and the training log
    (:func:`spinetumor.training.loop.train`); a killed job's rerun resumes
    when the run's fingerprint (model, stage, split, subjects, settings, input
    files) is unchanged, and starts afresh otherwise (:mod:`spinetumor.training.fingerprint`). When training ends, the
    best checkpoint is copied to the job's declared output ``model.pt`` and a
    summary is written; Snakemake deletes a failed job's declared outputs, so
    the resume state is never one of them.

    Units whose cord mask is itself a prediction (cord source ``model``) are
    never a cord-stage target, and their lesion crops come from the split's
    stage-1 prediction, as for validation units.

Cord source ``model`` (:func:`train_cord_source`, the ``train_cord_source`` rule)
    One cascade's cord stage, trained outside the splits on every unit whose
    cord mask comes from a label (manual or centreline); it predicts the cord
    mask of the other units (:func:`spinetumor.inference.jobs.predict_cord_source`).
    Those masks feed no split's training (see above), so no test subject's
    label reaches a split's training through them.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from spinetumor.inference.jobs import load_trained
from spinetumor.io import atomic_path, write_json
from spinetumor.layout import (
    CHECKPOINT_BEST,
    CHECKPOINT_LAST,
    CROP_BOXES,
    TRAINING_LOG,
    prefix_files,
    preprocessed_prefix,
)
from spinetumor.models.definitions import model_stages, network_config, training_config
from spinetumor.provenance import code_version, library_versions
from spinetumor.runtime import pick_device, torch_threads
from spinetumor.smk import check_declared
from spinetumor.training.crops import crop_boxes
from spinetumor.training.data import SubjectRecord, record_from_prefix
from spinetumor.training.fingerprint import resume_allowed, run_fingerprint
from spinetumor.training.log import read_curves
from spinetumor.training.loop import train
from spinetumor.training.roles import check_split_units, cord_source_roles
from spinetumor.training.settings import TrainingSettings

__all__ = ["train_stage", "train_cord_source"]

logger = logging.getLogger(__name__)

Box = tuple[tuple[int, ...], tuple[int, ...]]


def _prefixes(chain_dir: str | os.PathLike[str], units: Sequence[str]) -> dict[str, str]:
    """Unit id to its preprocessed file prefix, in the order given."""
    return {unit: preprocessed_prefix(chain_dir, unit) for unit in units}


def _check_cord_targets(
    stage: str, split: int, units: Collection[str], predicted_cords: Collection[str]
) -> None:
    """Refuse predicted cord masks (cord source ``model``) as a cord stage's target."""
    pseudo = sorted(set(predicted_cords) & set(units)) if stage == "cord" else []
    if pseudo:
        raise ValueError(
            f"split {split}: the cord stage cannot learn from predicted cord masks ({pseudo}); "
            "leave units with the cord source 'model' out of it"
        )


def _lesion_crops(
    model: Mapping[str, Any],
    chain_steps: Sequence[Mapping[str, Any]],
    train_units: Mapping[str, str],
    val_units: Mapping[str, str],
    run_dir: Path,
    cord_model: str | os.PathLike[str] | None,
    predicted_cords: Collection[str],
    stage1_chain: tuple[Sequence[Mapping[str, Any]], Mapping[str, str]] | None,
) -> dict[str, Box]:
    """The cascade's lesion crops of every unit, also written to the run folder's crop table."""
    cord_network = load_trained(cord_model)[0] if cord_model is not None else None
    roles_of = {**{u: "train" for u in train_units}, **{u: "val" for u in val_units}}
    table = crop_boxes(
        model,
        chain_steps,
        {**train_units, **val_units},
        roles_of,
        cord_network,
        stage1_units=set(predicted_cords),
        stage1_chain=stage1_chain,
    )
    with atomic_path(run_dir / CROP_BOXES) as tmp:
        table.to_csv(tmp, sep="\t", index=False, na_rep="n/a")
    logger.info("lesion crops: %s", table.to_string(index=False))
    return {row.unit: (tuple(row.start), tuple(row.stop)) for row in table.itertuples()}


# Long only for its documented arguments: the body is under 50 lines.
def train_stage(
    model: Mapping[str, Any],
    stage: str,
    split: int,
    chain_steps: Sequence[Mapping[str, Any]],
    chain_dir: str | os.PathLike[str],
    train_units: Sequence[str],
    val_units: Sequence[str],
    splits_tsv: str | os.PathLike[str],
    out_model: str | os.PathLike[str],
    out_summary: str | os.PathLike[str],
    *,
    cord_model: str | os.PathLike[str] | None = None,
    predicted_cords: Collection[str] = (),
    cord_chain: tuple[Sequence[Mapping[str, Any]], str | os.PathLike[str]] | None = None,
    declared_inputs: Collection[str] | None = None,
    threads: int | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """Train one stage of one model on one split (the ``train_model`` rule).

    Args:
        model: The resolved model (:func:`spinetumor.models.definitions.resolve_model`).
        stage: ``cord`` or ``lesion``.
        split: Split number.
        chain_steps: The model's preprocessing chain (recorded, and used for crops).
        chain_dir: The chain's folder of preprocessed files (:func:`spinetumor.layout.preprocessed_dir`).
        train_units: Ids of the training units, in training order.
        val_units: Ids of the validation units.
        splits_tsv: The split table; a unit of a test subject is refused.
        out_model: Destination of the trained model (the best checkpoint).
        out_summary: Destination of the run summary (JSON).
        cord_model: The cascade's trained cord stage (its ``lesion`` stage only).
        predicted_cords: Units whose cord mask is a prediction (source
            ``model``): refused by a ``cord`` stage, and cropped around the
            split's own stage-1 prediction by a cascade's ``lesion`` stage.
        cord_chain: A cascade's cord-stage chain when it has one of its own:
            its steps and folder, where a ``lesion`` stage predicts the cords
            of its crops.
        declared_inputs: The rule's input files; every file read must be one (None: not checked).
        threads: Torch CPU threads, or None.
        device: ``cpu``, ``cuda`` or None (GPU when visible).

    Returns:
        The summary.

    Raises:
        LeakageError: a test subject's unit among the inputs.
        ValueError: invalid settings, a stage the model does not have, a
            predicted cord given to a cord stage as its target, or a unit file
            the rule did not declare.
    """
    started = time.perf_counter()
    if stage not in model_stages(model):
        raise ValueError(f"model {model['name']!r} ({model['type']}) has no stage {stage!r}")
    check_split_units(splits_tsv, split, train_units, val_units)
    _check_cord_targets(stage, split, [*train_units, *val_units], predicted_cords)
    train_prefixes, val_prefixes = _prefixes(chain_dir, train_units), _prefixes(chain_dir, val_units)
    files = [f for p in (*train_prefixes.values(), *val_prefixes.values()) for f in prefix_files(p)]
    stage1_chain = None
    if cord_chain is not None and model["type"] == "cascade" and stage == "lesion":
        stage1_chain = (list(cord_chain[0]), _prefixes(cord_chain[1], [*train_units, *val_units]))
        files += [f for p in stage1_chain[1].values() for f in prefix_files(p)]
    check_declared(files, declared_inputs)
    with torch_threads(threads):
        out_model = Path(out_model)
        description = {
            "model": model,
            "stage": stage,
            "split": int(split),
            "chain": list(chain_steps),
            "train": sorted(train_prefixes),
            "val": sorted(val_prefixes),
            "predicted_cords": sorted(set(predicted_cords) & set(train_prefixes)),
            **({"stage1_chain": stage1_chain[0]} if stage1_chain else {}),
        }
        boxes: dict[str, Box] = {}
        if model["type"] == "cascade" and stage == "lesion":
            boxes = _lesion_crops(
                model,
                chain_steps,
                train_prefixes,
                val_prefixes,
                out_model.parent,
                cord_model,
                predicted_cords,
                stage1_chain,
            )
        return _fit(
            model,
            stage,
            chain_steps,
            train_prefixes,
            val_prefixes,
            out_model,
            out_summary,
            description=description,
            extra_files=[
                *([str(cord_model)] if cord_model is not None else []),
                *(f for p in (stage1_chain[1].values() if stage1_chain else []) for f in prefix_files(p)),
            ],
            boxes=boxes,
            device=device,
            started=started,
            split=int(split),
        )


def _records(units: Mapping[str, str], boxes: Mapping[str, Box]) -> list[SubjectRecord]:
    """The training records of units (id to file prefix), each with its crop box if any."""
    return [record_from_prefix(u, p, crop_box=boxes.get(u)) for u, p in units.items()]


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
    boxes: Mapping[str, Box],
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
    files = [f for prefix in (*train_units.values(), *val_units.values()) for f in prefix_files(prefix)]
    fingerprint = run_fingerprint(description, [*files, *extra_files])
    result = train(
        _records(train_units, boxes),
        _records(val_units, boxes),
        network_config(model, stage),
        settings,
        run_dir,
        resume=resume_allowed(run_dir, fingerprint),
        device=device,
        extra=_checkpoint_extra(model, stage, split, chain_steps, fingerprint),
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
        "seed": settings.seed,
        "train_units": sorted(train_units),
        "val_units": sorted(val_units),
        **_result_summary(result),
        "seconds_this_job": round(time.perf_counter() - started, 2),
        "model_file": out_model.name,
        "from_checkpoint": source.name,
        # The code and libraries that trained it: the provenance table reads them here, not from
        # the environment that writes the table.
        "code_version": code_version(),
        "libraries": library_versions(),
        # Every epoch's losses and validation Dice (also those before a resume), for the figures.
        "curves": read_curves(run_dir / TRAINING_LOG),
        **(summary_extra or {}),
    }
    write_json(summary, out_summary)
    _log_result(model, stage, split, result)
    return summary


def _checkpoint_extra(
    model: Mapping[str, Any],
    stage: str,
    split: int | None,
    chain_steps: Sequence[Mapping[str, Any]],
    fingerprint: str,
) -> dict[str, Any]:
    """What the run's checkpoints record about it (read back by prediction and by a resume)."""
    return {
        "fingerprint": fingerprint,
        "model_name": model["name"],
        "model_type": model["type"],
        "stage": stage,
        "split": split,
        "model_config": model,
        "chain": list(chain_steps),
    }


def _result_summary(result: Mapping[str, Any]) -> dict[str, Any]:
    """The summary's account of what :func:`train` returned, in the summary's key order."""
    return {
        "best_epoch": result["best_epoch"],
        # What "best" means for this run: val_dice_mean over scored_targets, or val_loss when no
        # validation unit contains any target.
        "selection_metric": result["selection_metric"],
        "scored_targets": result["scored_targets"],
        "best_metric": result["best_metric"],
        "last_epoch": result["last_epoch"],
        "stopped_early": result["stopped_early"],
        "epochs_this_job": len(result["history"]),
    }


def _log_result(model: Mapping[str, Any], stage: str, split: int | None, result: Mapping[str, Any]) -> None:
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


# Long only for its documented arguments: the body is about 35 lines.
def train_cord_source(
    model: Mapping[str, Any],
    chain_steps: Sequence[Mapping[str, Any]],
    chain_dir: str | os.PathLike[str],
    units: Sequence[str],
    out_model: str | os.PathLike[str],
    out_summary: str | os.PathLike[str],
    *,
    val_fraction: float = 0.2,
    seed: int = 0,
    declared_inputs: Collection[str] | None = None,
    threads: int | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """Train a cascade's cord stage as the cord mask source ``model`` (the ``train_cord_source`` rule).

    Args:
        model: The resolved cascade.
        chain_steps: Its preprocessing chain.
        chain_dir: The chain's folder of preprocessed files.
        units: Ids of every unit whose cord mask is a label.
        out_model: Destination of the trained model (best checkpoint).
        out_summary: Destination of the run summary (JSON).
        val_fraction: Share of subjects held out for validation and model selection.
        seed: Seed of that draw.
        declared_inputs: The rule's input files; every file read must be one (None: not checked).
        threads: Torch CPU threads, or None.
        device: ``cpu``, ``cuda`` or None (GPU when visible).

    Returns:
        The summary (``split`` is null, ``purpose`` is ``cord_source``).

    Raises:
        ValueError: not a cascade, fewer than two subjects, or a unit file the
            rule did not declare.
    """
    started = time.perf_counter()
    if model["type"] != "cascade":
        raise ValueError(
            f"cord_mask.model: {model['name']!r} is a {model['type']}, not a cascade (no cord stage)"
        )
    roles = cord_source_roles(sorted(units), val_fraction, seed)
    train_prefixes, val_prefixes = _prefixes(chain_dir, roles["train"]), _prefixes(chain_dir, roles["val"])
    check_declared(
        [f for p in _prefixes(chain_dir, units).values() for f in prefix_files(p)], declared_inputs
    )
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
            train_prefixes,
            val_prefixes,
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
