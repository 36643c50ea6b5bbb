"""The deep classifier's job (``train_classifier``): DenseNet121 per task on one split.

:func:`train_classifier` crops every unit once (:mod:`spinetumor.classification.crops`:
a training or validation unit around its reference lesion, a test unit around
the segmentation model's prediction for that split, never its labels), holds
the training and validation units against the split table (no test subject
reaches training), then per task fits a network on the training units of the
task's classes, selects its epoch on the validation units
(:mod:`spinetumor.classification.densenet`) and predicts the test units.

It writes the test predictions (the feature classifier's columns, model
``zhuo2022``), each unit's crop record (``crops.tsv``: where its crop came
from and how many samples it gave), the per-epoch training log of every task
and one checkpoint with every task's selected weights, the settings, the
split and the seed.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import nibabel as nib
import pandas as pd
import torch

from spinetumor.classification.crops import LesionCrop, lesion_crop, samples
from spinetumor.classification.densenet import FitResult, Samples, fit, predict_units
from spinetumor.classification.jobs import task_classes
from spinetumor.classification.settings import Zhuo2022Settings, zhuo2022_settings
from spinetumor.classification.tables import prediction_table
from spinetumor.evaluation.per_case import write_tsv
from spinetumor.io import atomic_path
from spinetumor.runtime import pick_device, torch_threads
from spinetumor.training.roles import check_split_units
from spinetumor.training.run import reproducible_backend

__all__ = ["MODEL", "crop_units", "train_classifier"]

logger = logging.getLogger(__name__)

#: The name of the deep classifier in the tables.
MODEL = "zhuo2022"

PathLike = str | os.PathLike[str]


def crop_units(
    units: Sequence[Mapping[str, Any]], settings: Zhuo2022Settings
) -> tuple[dict[str, LesionCrop], pd.DataFrame]:
    """Every unit's crop, and their record: ``unit, role, source, dseg, crop_from, samples``.

    Raises:
        ValueError: a unit's images on different grids, or neither lesion nor cord (naming the unit and
            its label map).
    """
    crops, rows = {}, []
    for u in units:
        files = ("dseg", "cord", *settings.contrasts)
        images = {k: nib.load(u[k]) for k in files}
        try:
            crop = lesion_crop(
                u["unit"],
                images,
                settings.contrasts,
                settings.spacing_mm,
                settings.crop_shape,
                settings.margin_mm,
            )
        except ValueError as exc:
            raise ValueError(f"{exc} (label map {u['dseg']})") from exc
        crops[u["unit"]] = crop
        n = len(samples(crop, settings.dims))
        rows.append(
            {k: u[k] for k in ("unit", "role", "source", "dseg")}
            | {"crop_from": crop.crop_from, "samples": n}
        )
    return crops, pd.DataFrame(rows, columns=["unit", "role", "source", "dseg", "crop_from", "samples"])


def _role_samples(
    units: Sequence[Mapping[str, Any]], crops: Mapping[str, LesionCrop], dims: int, classes: Sequence[str]
) -> Samples:
    return Samples.of(
        [(u["unit"], samples(crops[u["unit"]], dims), classes.index(u["true_class"])) for u in units]
    )


def _fit_task(
    name: str,
    labelled: Sequence[Mapping[str, Any]],
    crops: Mapping[str, LesionCrop],
    classes: list[str],
    settings: Zhuo2022Settings,
    log_rows: list[dict[str, Any]],
    device: torch.device,
) -> FitResult | None:
    """One task's network, or None (with a warning) when a class has no training unit."""
    train = [u for u in labelled if u["role"] == "train"]
    missing = [c for c in classes if c not in {u["true_class"] for u in train}]
    if missing:
        logger.warning("task %s: no training unit of class %s; no %s prediction", name, missing, MODEL)
        return None
    val = [u for u in labelled if u["role"] == "val"]
    logger.info("task %s: %d training and %d validation units", name, len(train), len(val))
    return fit(
        _role_samples(train, crops, settings.dims, classes),
        _role_samples(val, crops, settings.dims, classes),
        len(classes),
        settings,
        on_epoch=lambda row: log_rows.append({"task": name, **row}),
        device=device,
    )


def _prediction_rows(
    name: str,
    result: FitResult,
    test: Sequence[Mapping[str, Any]],
    crops: Mapping[str, LesionCrop],
    classes: list[str],
    settings: Zhuo2022Settings,
    split: int,
) -> list[dict[str, Any]]:
    if not test:
        return []
    prob = predict_units(result.network, _role_samples(test, crops, settings.dims, classes))
    return [
        {
            "task": name,
            "model": MODEL,
            "split": split,
            "subject": u["unit"],
            "participant": u["participant"],
            "true_class": u["true_class"],
            **{f"p_{c}": float(p) for c, p in zip(classes, prob[k], strict=True)},
        }
        for k, u in enumerate(test)
    ]


def train_classifier(
    tasks: Mapping[str, Mapping[str, Any]],
    split: int,
    units: Sequence[Mapping[str, Any]],
    participants_tsv: PathLike,
    splits_tsv: PathLike,
    config: Mapping[str, Any],
    outs: Mapping[str, PathLike],
    threads: int = 1,
    device: str | None = None,
) -> pd.DataFrame:
    """DenseNet121 of every task on one split (see the module).

    Args:
        tasks: Task name to ``column`` (of ``participants.tsv``) and ``classes``.
        split: The split.
        units: The split's units (as for the feature classifier: ``unit``, ``participant``,
            ``role``, ``source`` and the files ``dseg``, ``cord``, ``T2w``, ``T1w``).
        participants_tsv: The participants table (the tasks' columns).
        splits_tsv: The split table the training and validation units are held against.
        config: The validated ``classification.zhuo2022`` settings.
        outs: ``predictions``, ``crops``, ``log`` (TSV) and ``checkpoint``.
        threads: Torch CPU threads.
        device: Torch device (None: a GPU when one is visible; a CPU run repeats exactly).

    Returns:
        The test predictions.

    Raises:
        LeakageError: a training or validation unit of a test subject of the split.
    """
    settings = zhuo2022_settings(config)
    roles = {r: [u["unit"] for u in units if u["role"] == r] for r in ("train", "val")}
    check_split_units(splits_tsv, split, roles["train"], roles["val"])
    classes_of = task_classes(tasks, participants_tsv)
    rows, log_rows, checkpoint = [], [], {}
    torch_device = pick_device(device)
    with torch_threads(threads), reproducible_backend(torch_device, settings.seed):
        crops, record = crop_units(units, settings)
        write_tsv(record, outs["crops"])
        for name, task in tasks.items():
            classes, of = list(task["classes"]), classes_of.get(task["column"], {})
            labelled = [{**u, "true_class": of.get(u["participant"])} for u in units]
            labelled = [u for u in labelled if u["true_class"] in classes]
            result = _fit_task(name, labelled, crops, classes, settings, log_rows, torch_device)
            if result is None:
                continue
            checkpoint[name] = {
                "classes": classes,
                "epoch": result.epoch,
                "state_dict": result.network.state_dict(),
            }
            test = [u for u in labelled if u["role"] == "test"]
            rows += _prediction_rows(name, result, test, crops, classes, settings, split)
    table = prediction_table(rows)
    write_tsv(table, outs["predictions"])
    write_tsv(
        pd.DataFrame(log_rows, columns=["task", "epoch", "train_loss", "val_loss", "seconds"]), outs["log"]
    )
    with atomic_path(outs["checkpoint"]) as path:
        torch.save(
            {
                "model": MODEL,
                "split": split,
                "seed": settings.seed,
                "settings": dataclasses.asdict(settings),
                "tasks": checkpoint,
            },
            path,
        )
    return table
