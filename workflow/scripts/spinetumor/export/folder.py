"""Reading an exported model folder back: its settings, folds and weight files (torch-free).

:func:`open_model` checks the folder against its manifest first, so a
prediction never runs on weights or settings other than those exported.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spinetumor.export import bundle
from spinetumor.export.manifest import ModelFolderError, check_manifest

__all__ = ["ExportedModel", "ModelFolderError", "open_model"]


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
        names = [bundle.weights_path(k, stage) for k in folds for stage in self.stages]
        if onnx:
            names = [name.removesuffix(".pt") + ".onnx" for name in names]
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
