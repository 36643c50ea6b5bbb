"""The manifest of an exported model folder: the SHA-256 of every file, and its check (torch-free).

A folder whose files differ from its manifest (a weight file replaced, a
config edited, a file lost in a copy) is refused before it predicts anything.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from spinetumor.io import write_json
from spinetumor.provenance import sha256_file

__all__ = ["MANIFEST", "ModelFolderError", "check_manifest", "write_manifest"]

#: The manifest's name, at the folder's root.
MANIFEST = "manifest.json"


class ModelFolderError(ValueError):
    """An exported model folder that cannot be used: what is wrong, and where."""


def _files(folder: Path) -> list[str]:
    """Every file under ``folder`` but the manifest and hidden files (a workflow's timestamp, a file
    manager's index: never read), as sorted POSIX paths relative to it."""
    names = (p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    return sorted(
        n for n in names if n != MANIFEST and not any(part.startswith(".") for part in n.split("/"))
    )


def write_manifest(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Write ``manifest.json``: ``{"algorithm": "sha256", "files": {path: digest}}`` of every other file."""
    folder = Path(folder)
    manifest = {"algorithm": "sha256", "files": {name: sha256_file(folder / name) for name in _files(folder)}}
    write_json(manifest, folder / MANIFEST)
    return manifest


def check_manifest(folder: str | os.PathLike[str]) -> dict[str, str]:
    """The folder's ``{path: sha256}``, after checking every file against the manifest.

    Raises:
        ModelFolderError: no folder or no manifest, or files missing, changed
            or not listed (each named).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelFolderError(f"{folder}: no such model folder")
    try:
        listed: dict[str, str] = json.loads((folder / MANIFEST).read_text())["files"]
    except FileNotFoundError:
        raise ModelFolderError(f"{folder}: no {MANIFEST}; not an exported spinetumor model") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelFolderError(f"{folder / MANIFEST}: unreadable manifest ({exc})") from exc
    present = set(_files(folder))
    problems = [f"missing {name}" for name in sorted(set(listed) - present)]
    problems += [f"not in the manifest: {name}" for name in sorted(present - set(listed))]
    problems += [
        f"changed since export: {name}"
        for name in sorted(set(listed) & present)
        if sha256_file(folder / name) != listed[name]
    ]
    if problems:
        raise ModelFolderError(f"{folder}: the files do not match {MANIFEST}: " + "; ".join(problems))
    return listed
