"""The provenance table: what produced each trained run (``tables/provenance.tsv``).

One row per model, split and stage, read from that run's own files: its
``model.pt`` gives the weights' digest, the digest of the resolved model
config stored with them, the seed and the epoch of the weights; its
``training_summary.json`` gives the epochs trained and the code and library
versions of the job that trained it (recorded then, so they name the code that
made the weights, not the code that writes the table). A prediction's sidecar
carries the same ``checkpoint_sha256`` per stage, so every row of
``per_case_metrics.tsv`` joins to its weights on ``(model, split)``.
"""

from __future__ import annotations

import json
import os
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from spinetumor.provenance import LIBRARIES, sha256_file, sha256_json
from spinetumor.training.checkpoints import load_checkpoint

__all__ = ["COLUMNS", "provenance_row", "provenance_frame"]

#: The table's columns before the library versions (one column each, as
#: :func:`spinetumor.provenance.library_versions` names them), in order.
COLUMNS: tuple[str, ...] = (
    "model",
    "split",
    "stage",
    "checkpoint",
    "checkpoint_sha256",
    "config_sha256",
    "seed",
    "epochs",
    "best_epoch",
    "code_version",
)
#: What a row reads from the training summary, and from the checkpoint (``extra`` holds the run's identity).
#: A summary from before ``code_version`` and ``libraries`` were recorded falls back on the checkpoint's
#: ``versions`` (spinetumor, torch, monai), so an older study still gets its table.
SUMMARY_KEYS: tuple[str, ...] = ("last_epoch",)
CHECKPOINT_KEYS: tuple[str, ...] = ("epoch", "seed", "extra")
EXTRA_KEYS: tuple[str, ...] = ("model_name", "split", "stage", "model_config")

PathLike = str | os.PathLike[str]


def _where(run: Mapping[str, Any]) -> str:
    return f"model {run['model']}, split {run['split']}, stage {run['stage']}"


def _require(found: Mapping[str, Any], keys: Sequence[str], run: Mapping[str, Any], what: str) -> None:
    """Fail naming the run, the file and the keys that ``found`` lacks."""
    missing = [key for key in keys if key not in found]
    if missing:
        raise ValueError(f"{_where(run)}: {what} lacks {missing}")


def _existing(run: Mapping[str, Any], key: str, what: str) -> Path:
    path = Path(run[key])
    if not path.is_file():
        raise ValueError(f"{_where(run)}: {what} {path} not found")
    return path


def _read_summary(run: Mapping[str, Any]) -> dict[str, Any]:
    """The run's training summary, with the keys a row needs."""
    path = _existing(run, "summary", "training summary")
    try:
        summary = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{_where(run)}: training summary {path} is not JSON: {exc}") from exc
    _require(summary, SUMMARY_KEYS, run, f"training summary {path}")
    return summary


def _read_checkpoint(run: Mapping[str, Any]) -> dict[str, Any]:
    """The run's checkpoint, with the keys a row needs and the run's own identity."""
    path = _existing(run, "checkpoint", "checkpoint")
    try:
        ckpt = load_checkpoint(path)
    except (ValueError, RuntimeError, pickle.UnpicklingError) as exc:
        raise ValueError(f"{_where(run)}: cannot read checkpoint {path}: {exc}") from exc
    _require(ckpt, CHECKPOINT_KEYS, run, f"checkpoint {path}")
    extra = ckpt["extra"]
    _require(extra, EXTRA_KEYS, run, f"checkpoint {path} (extra)")
    own = (str(extra["model_name"]), str(extra["split"]), str(extra["stage"]))
    if own != (str(run["model"]), str(run["split"]), str(run["stage"])):
        raise ValueError(
            f"{_where(run)}: checkpoint {path} holds model {own[0]}, split {own[1]}, stage {own[2]}"
        )
    return ckpt


def _relative(path: PathLike, results_dir: PathLike) -> str:
    """``path`` relative to the results folder (``models/MODEL/split-K/STAGE/model.pt``)."""
    absolute, root = Path(os.path.abspath(path)), Path(os.path.abspath(results_dir))
    if not absolute.is_relative_to(root):
        raise ValueError(f"checkpoint {path} is not under the results folder {results_dir}")
    return absolute.relative_to(root).as_posix()


def provenance_row(run: Mapping[str, Any], results_dir: PathLike) -> dict[str, Any]:
    """One run's row: :data:`COLUMNS`, then its summary's library versions.

    Args:
        run: ``model``, ``split``, ``stage``, ``checkpoint`` (its ``model.pt``) and
            ``summary`` (its ``training_summary.json``).
        results_dir: The results folder, which ``checkpoint`` is given relative to.

    Returns:
        ``best_epoch`` is the epoch of the weights in ``model.pt`` (its best
        checkpoint, or its last when no validation improved), ``epochs`` the
        last epoch trained.

    Raises:
        ValueError: the summary or the checkpoint is missing, lacks a key, or
            is another run's (naming the model, split, stage and file).
    """
    summary, ckpt = _read_summary(run), _read_checkpoint(run)
    return {
        "model": str(run["model"]),
        "split": int(run["split"]),
        "stage": str(run["stage"]),
        "checkpoint": _relative(run["checkpoint"], results_dir),
        "checkpoint_sha256": sha256_file(run["checkpoint"]),
        "config_sha256": sha256_json(ckpt["extra"]["model_config"]),
        "seed": int(ckpt["seed"]),
        "epochs": int(summary["last_epoch"]),
        "best_epoch": int(ckpt["epoch"]),
        **_versions(summary, ckpt),
    }


def _versions(summary: Mapping[str, Any], ckpt: Mapping[str, Any]) -> dict[str, str]:
    """``code_version`` and the library columns: the summary's, else the checkpoint's ``versions``."""
    recorded = {str(k): str(v) for k, v in dict(ckpt.get("versions") or {}).items()}
    code = summary.get("code_version") or recorded.pop("spinetumor", "unknown")
    libraries = summary.get("libraries") or {k: v for k, v in recorded.items() if k != "spinetumor"}
    return {"code_version": str(code), **{str(k): str(v) for k, v in libraries.items()}}


def _library_columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The library columns: ``python`` and :data:`~spinetumor.provenance.LIBRARIES` in that order, then any other."""
    found = list(dict.fromkeys(key for row in rows for key in row if key not in COLUMNS))
    known = [name for name in ("python", *LIBRARIES) if name in found]
    return known + [name for name in found if name not in known]


def provenance_frame(runs: Sequence[Mapping[str, Any]], results_dir: PathLike) -> pd.DataFrame:
    """The provenance table of ``runs``, in their order (see :func:`provenance_row`).

    A library that a run's summary does not list is ``NaN`` (``n/a`` in the TSV) in its row.
    """
    rows = [provenance_row(run, results_dir) for run in runs]
    return pd.DataFrame(rows, columns=[*COLUMNS, *_library_columns(rows)])
