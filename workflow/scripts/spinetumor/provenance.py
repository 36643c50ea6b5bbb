"""What produced a result: file digests, the code's version and the libraries' versions (torch-free).

Shared by the exported model folders, the provenance table and the
prediction sidecars, so that a number in a table traces back to the weights,
the configuration and the code that made it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import subprocess
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

import spinetumor

__all__ = ["LIBRARIES", "code_version", "library_versions", "sha256_file", "sha256_json"]

#: The distributions whose versions a result records (those installed).
LIBRARIES: tuple[str, ...] = (
    "torch",
    "monai",
    "numpy",
    "scipy",
    "nibabel",
    "SimpleITK",
    "snakemake",
    "onnx",
    "onnxruntime",
)


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_json(obj: Any) -> str:
    """Hex SHA-256 of ``obj`` as canonical JSON (sorted keys, no spaces): equal mappings, equal digests."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@functools.cache
def code_version(repo: str | os.PathLike[str] | None = None) -> str:
    """The package's version, with the git commit of ``repo`` (default: the package's own folder).

    ``0.1.0+g<12 hex digits>``, with ``.dirty`` when tracked files differ from
    that commit; the bare version outside a git checkout (or without git).
    """
    where = Path(repo) if repo is not None else Path(spinetumor.__file__).resolve().parent
    try:
        commit = _git(where, "rev-parse", "HEAD")
        dirty = _git(where, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return spinetumor.__version__
    return f"{spinetumor.__version__}+g{commit[:12]}{'.dirty' if dirty else ''}"


def library_versions(names: Iterable[str] = LIBRARIES) -> dict[str, str]:
    """``python`` and each installed distribution of ``names`` with its version (missing ones left out)."""
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _git(where: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(where), *args], capture_output=True, text=True, timeout=30, check=True
    )
    return result.stdout.strip()
