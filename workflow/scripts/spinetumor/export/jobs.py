"""The ``export_model`` job: a trained model of the study as a self-contained folder.

The folder (:mod:`spinetumor.export.bundle` describes its layout) holds every
split's weights, byte for byte the study's ``model.pt`` files (so their
SHA-256 in the manifest equals the provenance table's), and every setting
prediction needs, so that :mod:`spinetumor.apply` runs it without the
study's config.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from spinetumor.export import bundle
from spinetumor.export.manifest import write_manifest
from spinetumor.io import write_json
from spinetumor.models.definitions import inference_config, model_stages
from spinetumor.provenance import library_versions
from spinetumor.registration.settings import RegistrationSettings

__all__ = ["export_model", "folder_config"]

logger = logging.getLogger(__name__)

#: One trained run: split, stage, its ``model.pt`` and its training summary.
Run = tuple[int, str, str, str]


def folder_config(
    model: Mapping[str, Any],
    chain_steps: Sequence[Mapping[str, Any]],
    stage1_chain_steps: Sequence[Mapping[str, Any]] | None,
    registration: Mapping[str, Any] | None,
    folds: Sequence[int],
) -> dict[str, Any]:
    """``configs/spinetumor.json``: the resolved model and every setting its prediction needs."""
    inference = inference_config(model, chain_steps, stage1_chain_steps=stage1_chain_steps)
    for key in ("threads", "device"):  # the machine's, chosen where it runs
        inference.pop(key, None)
    settings = dataclasses.asdict(RegistrationSettings.from_config(registration))
    settings.pop("threads", None)
    return json.loads(
        json.dumps(
            {
                "format": bundle.FORMAT,
                "model": dict(model),
                "stages": list(model_stages(model)),
                "contrasts": list(inference["contrasts"]),
                "outputs": list(inference["outputs"]),
                "chain": [dict(step) for step in chain_steps],
                "stage1_chain": None if stage1_chain_steps is None else [dict(s) for s in stage1_chain_steps],
                "inference": inference,
                "registration": settings,
                "folds": sorted(int(k) for k in folds),
            }
        )
    )  # plain JSON values (tuples as lists), as the folder will hold them


def _check_runs(model: Mapping[str, Any], runs: Sequence[Run]) -> list[int]:
    """The folds of ``runs``, after checking that each has every stage of the model once."""
    stages = list(model_stages(model))
    folds = sorted({int(split) for split, *_ in runs})
    have = sorted((int(split), stage) for split, stage, *_ in runs)
    want = sorted((k, stage) for k in folds for stage in stages)
    if not folds or have != want:
        raise ValueError(
            f"model {model['name']!r}: export needs each split's {stages} once, got {[f'{k}/{s}' for k, s in have]}"
        )
    return folds


# Long only for its documented arguments: the body is about 30 lines.
def export_model(
    model: Mapping[str, Any],
    chain_steps: Sequence[Mapping[str, Any]],
    stage1_chain_steps: Sequence[Mapping[str, Any]] | None,
    registration: Mapping[str, Any] | None,
    runs: Sequence[Run],
    out_dir: str | os.PathLike[str],
) -> dict[str, Any]:
    """Write ``out_dir``: the model's folder, built beside it and moved into place when complete.

    Args:
        model: The resolved model.
        chain_steps: Its preprocessing chain.
        stage1_chain_steps: A cascade's cord-stage chain of its own, else None.
        registration: The study's ``registration`` settings (T1w onto T2w).
        runs: ``(split, stage, model.pt, training_summary.json)`` of every split and stage.
        out_dir: The folder to write (replaced if it exists).

    Returns:
        The folder's manifest.

    Raises:
        ValueError: a split lacks a stage, or a stage is there twice.
    """
    folds = _check_runs(model, runs)
    config = folder_config(model, chain_steps, stage1_chain_steps, registration, folds)
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(f".{out_dir.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        summaries = _copy_runs(runs, tmp)
        versions, trained_by = _training_versions(summaries[min(summaries)])
        write_json(config, tmp / bundle.CONFIG)
        write_json(bundle.metadata(config, versions, trained_by), tmp / bundle.METADATA)
        (tmp / bundle.README).parent.mkdir(parents=True, exist_ok=True)
        (tmp / bundle.README).write_text(bundle.readme(config, summaries))
        manifest = write_manifest(tmp)
        shutil.rmtree(out_dir, ignore_errors=True)
        os.replace(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info(
        "exported %s: %d folds, %d files, to %s", model["name"], len(folds), len(manifest["files"]), out_dir
    )
    return manifest


def _training_versions(summary: Mapping[str, Any]) -> tuple[dict[str, str], str]:
    """The library and code versions that trained a run: its summary's, or, from a training that
    did not record them, its checkpoint's (torch, monai) and this environment's for the others."""
    if summary.get("libraries"):
        return dict(summary["libraries"]), str(summary.get("code_version") or "unknown")
    recorded = dict(summary.get("versions") or {})
    code = str(recorded.pop("spinetumor", "unknown"))
    return {**library_versions(), **recorded}, code


def _copy_runs(runs: Sequence[Run], folder: Path) -> dict[tuple[int, str], dict[str, Any]]:
    """Copy each run's weights and summary into ``folder``; their summaries, with the training seed (and,
    from a training that did not record them, the checkpoint's versions)."""
    summaries = {}
    for split, stage, weights, summary_file in runs:
        for source, dest in (
            (weights, bundle.weights_path(split, stage)),
            (summary_file, bundle.summary_path(split, stage)),
        ):
            (folder / dest).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, folder / dest)
        summary = json.loads(Path(summary_file).read_text())
        if "seed" not in summary or not summary.get("libraries"):  # an older training's summary
            from spinetumor.training.checkpoints import load_checkpoint  # torch, only then

            checkpoint = load_checkpoint(weights)
            summary.setdefault("seed", checkpoint.get("seed"))
            summary.setdefault("versions", checkpoint.get("versions"))
        summaries[(int(split), stage)] = summary
    return summaries
