"""Reading an exported model folder back: its settings, folds and weight files (torch-free).

:func:`open_model` checks the folder against its manifest first, so a
prediction never runs on weights or settings other than those exported.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spinetumor.export import bundle
from spinetumor.export.manifest import ModelFolderError, check_manifest

__all__ = ["ExportedModel", "ModelFolderError", "describe_folder", "open_model"]


@dataclass(frozen=True)
class ExportedModel:
    """An exported model folder, checked.

    Attributes:
        root: The folder.
        config: ``configs/spinetumor.json``.
        digests: ``{path: sha256}`` of every file (the manifest, checked).
    """

    root: Path
    config: dict[str, Any]
    digests: dict[str, str]

    @property
    def name(self) -> str:
        return str(self.config["model"]["name"])

    @property
    def type(self) -> str:
        return str(self.config["model"]["type"])

    @property
    def desc(self) -> str:
        """The model's name as a BIDS ``desc`` label (its letters and digits), which names the outputs."""
        label = re.sub(r"[^A-Za-z0-9]", "", self.name)
        if not label:
            raise ModelFolderError(
                f"{self.root}: model name {self.name!r} has no letter or digit to name outputs with"
            )
        return label

    @property
    def folds(self) -> list[int]:
        return [int(k) for k in self.config["folds"]]

    @property
    def stages(self) -> list[str]:
        return list(self.config["stages"])

    @property
    def contrasts(self) -> list[str]:
        """Every contrast some stage takes (T2w first)."""
        stage1 = self.config["inference"].get("stage1_contrasts") or []
        return list(dict.fromkeys(["T2w", *stage1, *self.config["contrasts"]]))

    def weights(self, fold: int, stage: str) -> Path:
        """One fold's weight file of one stage."""
        return self.root / bundle.weights_path(fold, stage)

    def weight_digests(self, folds: Sequence[int], *, onnx: bool = False) -> dict[str, str]:
        """``{path: sha256}`` of the weight files of ``folds`` (paths relative to the folder): the
        torch weights, or with ``onnx`` the ONNX networks."""
        path = bundle.onnx_weights_path if onnx else bundle.weights_path
        names = [path(k, stage) for k in folds for stage in self.stages]
        return {name: self.digests[name] for name in names}

    def select_folds(self, folds: str | int | Sequence[int]) -> list[int]:
        """``all``, one fold number or several, checked against the folder's folds."""
        if folds == "all":
            return self.folds
        wanted = [int(folds)] if isinstance(folds, (int, str)) else [int(k) for k in folds]
        unknown = [k for k in wanted if k not in self.folds]
        if unknown or not wanted:
            raise ModelFolderError(f"{self.root}: no fold {unknown or wanted}; its folds are {self.folds}")
        return wanted


def open_model(folder: str | os.PathLike[str]) -> ExportedModel:
    """The exported model in ``folder``, after checking its files against the manifest.

    Raises:
        ModelFolderError: not a model folder, files that do not match the
            manifest, or a folder of another format.
    """
    root = Path(folder)
    digests = check_manifest(root)
    try:
        config = json.loads((root / bundle.CONFIG).read_text())
    except (OSError, ValueError) as exc:
        raise ModelFolderError(f"{root / bundle.CONFIG}: unreadable ({exc})") from exc
    if config.get("format") != bundle.FORMAT:
        raise ModelFolderError(
            f"{root}: folder format {config.get('format')!r}; this spinetumor reads format {bundle.FORMAT}"
        )
    missing = [bundle.weights_path(k, s) for k in config["folds"] for s in config["stages"]]
    missing = [name for name in missing if name not in digests]
    if missing:
        raise ModelFolderError(f"{root}: weight files missing from the folder: {', '.join(missing)}")
    return ExportedModel(root=root, config=config, digests=digests)


def describe_folder(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """What the workflow needs to know of a model folder to name a dataset's outputs, after checking it:
    ``desc``, ``outputs``, ``contrasts`` and ``cascade``."""
    model = open_model(folder)
    return {
        "desc": model.desc,
        "outputs": list(model.config["outputs"]),
        "contrasts": model.contrasts,
        "cascade": model.type == "cascade",
    }
