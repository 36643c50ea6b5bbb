"""Training checkpoints: written atomically, read with ``torch.load(..., weights_only=True)``.

A training run lives in one folder::

    checkpoint_last.pt    state after the last finished epoch (resume point)
    checkpoint_best.pt    state at the best validation score so far
    training_log.tsv      one row per epoch (:mod:`spinetumor.training.log`)

Checkpoints hold tensors and plain Python values only, so
``torch.load(path, weights_only=True)`` reads them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import monai
import numpy as np
import torch

from spinetumor import __version__
from spinetumor.io import atomic_path
from spinetumor.layout import CHECKPOINT_BEST, CHECKPOINT_LAST
from spinetumor.training.settings import TrainingSettings, to_plain

__all__ = ["CHECKPOINT_BEST", "CHECKPOINT_FORMAT", "CHECKPOINT_LAST", "load_checkpoint", "save_checkpoint"]

CHECKPOINT_FORMAT = 1


def _tensor(obj: Any) -> Any:
    """NumPy values as Python numbers and tensors; anything else is left to :func:`to_plain`."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obj))
    if isinstance(obj, torch.Tensor):
        return obj
    return NotImplemented


def save_checkpoint(
    path: str | os.PathLike[str],
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    epoch: int,
    best_metric: float,
    settings: TrainingSettings,
    extra: Mapping[str, Any] | None = None,
    *,
    best_epoch: int = 0,
    scaler: torch.amp.GradScaler | None = None,
) -> Path:
    """Write a training checkpoint atomically (temporary file, then rename).

    Only tensors and plain values are stored, so
    ``torch.load(path, weights_only=True)`` reads it.

    Args:
        path: Destination ``.pt`` file.
        model: The network.
        optimizer: Its optimizer.
        scheduler: The learning-rate scheduler, or ``None``.
        epoch: Last finished epoch.
        best_metric: Best value of the run's selection criterion so far
            (``extra["selection_metric"]``; ``-inf`` or ``inf`` before any).
        settings: Training settings (stored resolved, seed included).
        extra: Further plain values, e.g. the network spec and the split.
        best_epoch: Epoch of ``best_metric`` (0 before any validation).
        scaler: Gradient scaler of ``float16`` training, or ``None``.

    Returns:
        The destination path.
    """
    payload = {
        "format": CHECKPOINT_FORMAT,
        "epoch": int(epoch),
        "best_metric": float(best_metric),
        "best_epoch": int(best_epoch),
        "seed": settings.seed,
        "settings": settings.to_dict(),
        "extra": to_plain(dict(extra or {}), _tensor),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict() if scaler is not None else None,
        "versions": {
            "spinetumor": str(__version__),
            "torch": str(torch.__version__),
            "monai": str(monai.__version__),
        },
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def load_checkpoint(
    path: str | os.PathLike[str],
    model: torch.nn.Module | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    *,
    scaler: torch.amp.GradScaler | None = None,
    map_location: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Read a checkpoint (``weights_only``) and restore the given objects from it.

    Args:
        path: Checkpoint written by :func:`save_checkpoint`.
        model: Network to load the weights into, or ``None``.
        optimizer: Optimizer to restore, or ``None``.
        scheduler: Scheduler to restore, or ``None``.
        scaler: Gradient scaler to restore, or ``None``.
        map_location: Where tensors are loaded.

    Returns:
        The checkpoint's contents.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a checkpoint of this format.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    ckpt = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a spinetumor checkpoint (format {CHECKPOINT_FORMAT})")
    if model is not None:
        model.load_state_dict(ckpt["model"])
    if optimizer is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
    if scheduler is not None and ckpt["scheduler"] is not None:
        scheduler.load_state_dict(ckpt["scheduler"])
    if scaler is not None and ckpt["scaler"] is not None:
        scaler.load_state_dict(ckpt["scaler"])
    return ckpt
