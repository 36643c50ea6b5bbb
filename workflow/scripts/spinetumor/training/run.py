"""The state of one training run: its objects, and how it resumes or starts afresh.

Randomness is seeded per epoch (:mod:`spinetumor.training.data`), so a resumed
run draws what an uninterrupted one would, and on CPU gives the same numbers.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from monai.utils import set_determinism

from spinetumor.models.spec import check_patch_divisible
from spinetumor.training.checkpoints import CHECKPOINT_BEST, CHECKPOINT_LAST, load_checkpoint, save_checkpoint
from spinetumor.training.log import TRAINING_LOG, log_columns, truncate_log
from spinetumor.training.settings import TrainingSettings
from spinetumor.training.validation import selection_metric, worst

__all__ = [
    "Run",
    "RunState",
    "build_optimizer",
    "build_scheduler",
    "check_setup",
    "reproducible_backend",
    "resume_or_start",
]

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def reproducible_backend(device: torch.device, seed: int) -> Iterator[None]:
    """Seed everything; deterministic kernels on CPU, cuDNN autotuning on GPU; flags restored after."""
    previous = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.benchmark,
        torch.backends.cudnn.deterministic,
    )
    set_determinism(seed=seed)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cudnn.deterministic = False
    else:
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = previous[2], previous[3]


def build_optimizer(model: torch.nn.Module, settings: TrainingSettings) -> torch.optim.Optimizer:
    """Adam or AdamW over the model's parameters."""
    cls = torch.optim.Adam if settings.optimizer == "adam" else torch.optim.AdamW
    return cls(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)


def build_scheduler(
    optimizer: torch.optim.Optimizer, settings: TrainingSettings
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """Cosine annealing over ``max_epochs`` (stepped per epoch), or ``None``."""
    if settings.scheduler == "none":
        return None
    return torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=settings.max_epochs, eta_min=settings.min_lr
    )


@dataclass
class RunState:
    """What a resumed run needs besides the model and optimizer."""

    next_epoch: int = 1
    best_metric: float = -math.inf
    best_epoch: int = 0
    stopped_early: bool = False


@dataclass
class Run:
    """Everything one call of :func:`spinetumor.training.loop.train` works with."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None
    scaler: torch.amp.GradScaler | None
    loss_fn: torch.nn.Module
    settings: TrainingSettings
    device: torch.device
    out_dir: Path
    extra: dict[str, Any]
    scored: tuple[str, ...] = ()
    state: RunState = field(default_factory=RunState)

    @property
    def metric(self) -> str:
        """The run's selection criterion (:func:`spinetumor.training.validation.selection_metric`)."""
        return selection_metric(self.scored)

    def save(self, name: str, epoch: int) -> Path:
        """Write a checkpoint of the current state as of the end of ``epoch``."""
        return save_checkpoint(
            self.out_dir / name,
            self.model,
            self.optimizer,
            self.scheduler,
            epoch,
            self.state.best_metric,
            self.settings,
            {**self.extra, "stopped_early": self.state.stopped_early, "selection_metric": self.metric},
            best_epoch=self.state.best_epoch,
            scaler=self.scaler,
        )


def check_setup(spec: Mapping[str, Any], settings: TrainingSettings, n_train: int, n_val: int) -> None:
    """Raise unless there are records and the resolved network ``spec`` fits the settings."""
    if n_train == 0 or n_val == 0:
        raise ValueError(f"training needs training and validation records, got {n_train} and {n_val}")
    if spec["in_channels"] != len(settings.inputs):
        raise ValueError(
            f"network in_channels={spec['in_channels']} but {len(settings.inputs)} inputs {list(settings.inputs)}"
        )
    if spec["out_channels"] != len(settings.targets):
        raise ValueError(
            f"network out_channels={spec['out_channels']} but {len(settings.targets)} targets {list(settings.targets)}"
        )
    check_patch_divisible(spec, settings.patch_size)


def resume_or_start(run: Run, resume: bool) -> None:
    """Restore ``run`` from ``checkpoint_last.pt``, or clear the folder's old outputs."""
    last, log = run.out_dir / CHECKPOINT_LAST, run.out_dir / TRAINING_LOG
    resume = resume and last.exists()
    saved_metric = load_checkpoint(last)["extra"].get("selection_metric") if resume else None
    if resume and saved_metric != run.metric:
        # Its best value is not comparable with this run's: resuming would compare a Dice with a
        # loss (or, from a checkpoint that predates the recorded criterion, with a Dice of 1.0 that
        # stood for "undefined").
        logger.warning("%s selected on %s, this run selects on %s", last, saved_metric, run.metric)
        resume = False
    if resume:
        ckpt = load_checkpoint(
            last, run.model, run.optimizer, run.scheduler, scaler=run.scaler, map_location=run.device
        )
        if ckpt["extra"].get("network") != run.extra["network"]:
            raise ValueError(
                f"{last}: saved network {ckpt['extra'].get('network')} differs from {run.extra['network']}"
            )
        changed = {k: v for k, v in run.settings.to_dict().items() if ckpt["settings"].get(k) != v}
        if changed:
            logger.warning(
                "resuming with settings that differ from the checkpoint's: %s (the learning-rate "
                "schedule keeps its saved state)",
                changed,
            )
        # A run that stopped early stays stopped, unless the patience was raised since.
        finished = (
            ckpt["extra"].get("stopped_early", False)
            and ckpt["epoch"] - ckpt["best_epoch"] >= run.settings.patience
        )
        run.state = RunState(ckpt["epoch"] + 1, ckpt["best_metric"], ckpt["best_epoch"], finished)
        truncate_log(log, log_columns(run.settings.targets), ckpt["epoch"])
        logger.info(
            "resuming %s from epoch %d (best %s %.4f at epoch %d)",
            run.out_dir,
            run.state.next_epoch,
            run.metric,
            run.state.best_metric,
            run.state.best_epoch,
        )
        return
    for stale in (last, run.out_dir / CHECKPOINT_BEST, log):
        if stale.exists():
            logger.warning("starting afresh: removing %s", stale)
            stale.unlink()
    run.state = RunState(best_metric=worst(run.metric))
