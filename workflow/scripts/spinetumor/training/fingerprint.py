"""A training run's identity: what defines it, and whether its folder may be resumed.

A run is defined by its description (model, stage, split, units, settings)
and by the bytes of its input files; :func:`run_fingerprint` hashes both and
the training job records the hash in the run's checkpoints. A rerun after a
kill resumes from :data:`spinetumor.layout.CHECKPOINT_LAST` only when that
checkpoint carries the same fingerprint (:func:`resume_allowed`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from spinetumor.layout import CHECKPOINT_LAST

__all__ = ["run_fingerprint", "resume_allowed"]

logger = logging.getLogger(__name__)


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


def resume_allowed(run_dir: Path, fingerprint: str) -> bool:
    """Whether the run folder's last checkpoint belongs to the run of ``fingerprint`` (and can be read)."""
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
