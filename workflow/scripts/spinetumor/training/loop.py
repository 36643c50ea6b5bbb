"""The training loop: epochs, validation, early stopping, resume and SIGTERM.

:func:`train` trains a network on random patches
(:mod:`spinetumor.training.data`), validates whole volumes
(:mod:`spinetumor.training.validation`), keeps the best and the last checkpoint
(:mod:`spinetumor.training.checkpoints`) and logs every epoch
(:mod:`spinetumor.training.log`). Randomness is derived from ``(seed, epoch)``
at the start of every epoch, so a resumed run draws what an uninterrupted one
would, and on CPU gives the same numbers.

SLURM stops a job with SIGTERM. During :func:`train` that signal only sets a
flag: the current step finishes, ``checkpoint_last.pt`` is written and
:class:`TrainingInterrupted` is raised, so the job fails and its rerun
resumes. A stop in the middle of an epoch keeps that epoch's progress in the
weights, and the rerun repeats the epoch.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import statistics
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from monai.data import Dataset

from spinetumor.models.losses import build_loss
from spinetumor.models.networks import build_network
from spinetumor.models.spec import downsampling_factors, resolve_spec
from spinetumor.runtime import autocast, model_device, pick_device
from spinetumor.training.checkpoints import CHECKPOINT_BEST, CHECKPOINT_LAST
from spinetumor.training.data import (
    SubjectRecord,
    epoch_loader,
    epoch_seed,
    load_record,
    make_dataset,
    seed_globals,
)
from spinetumor.training.log import TRAINING_LOG, append_log, log_columns, log_epoch
from spinetumor.training.run import (
    Run,
    build_optimizer,
    build_scheduler,
    check_setup,
    reproducible_backend,
    resume_or_start,
)
from spinetumor.training.settings import TrainingSettings
from spinetumor.training.validation import amp_dtype, improves, scored_targets, validate_volumes

__all__ = ["TrainingInterrupted", "train", "train_step"]

logger = logging.getLogger(__name__)


class TrainingInterrupted(RuntimeError):
    """Training stopped on SIGTERM after saving ``checkpoint_last.pt``; rerun to resume.

    Attributes:
        epoch: The last finished epoch stored in the checkpoint.
    """

    def __init__(self, message: str, epoch: int) -> None:
        super().__init__(message)
        self.epoch = epoch


def train_step(
    model: torch.nn.Module,
    batch: Mapping[str, torch.Tensor],
    loss_fn: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    amp_dtype: torch.dtype | None = None,
    scaler: torch.amp.GradScaler | None = None,
) -> float:
    """One optimisation step on one batch.

    Args:
        model: The network (put in training mode here).
        batch: ``{"image": (B, C, ...), "label": (B, T, ...)}``; moved to the
            model's device.
        loss_fn: Loss of the output (logits, or stacked deep-supervision
            heads) against the labels.
        optimizer: The optimizer.
        amp_dtype: Autocast dtype (``torch.bfloat16`` on GPU), or ``None``.
        scaler: Gradient scaler for ``float16`` autocast, or ``None``.

    Returns:
        The batch loss.

    Raises:
        FloatingPointError: the loss is not finite.
    """
    device = model_device(model)
    model.train()
    image = batch["image"].to(device, non_blocking=True)
    label = batch["label"].to(device, non_blocking=True)
    optimizer.zero_grad(set_to_none=True)
    with autocast(device, amp_dtype):
        output = model(image)
    loss = loss_fn(output.float(), label)
    if not torch.isfinite(loss):
        raise FloatingPointError(f"non-finite training loss {loss.item()}")
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        optimizer.step()
    return float(loss.detach())


@contextlib.contextmanager
def _sigterm_flag() -> Iterator[threading.Event]:
    """Turn SIGTERM into a flag for the duration of the block (main thread only)."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    try:
        yield stop
    finally:
        signal.signal(signal.SIGTERM, previous)


def _train_epoch(
    run: Run, dataset: Dataset, n_volumes: int, epoch: int, stop: threading.Event
) -> tuple[float, float, bool]:
    """Train one epoch; returns the mean loss, the seconds spent waiting for data and whether SIGTERM cut it short."""
    generator = seed_globals(epoch_seed(run.settings.seed, epoch))
    loader = epoch_loader(dataset, n_volumes, run.settings, generator, pin_memory=run.device.type == "cuda")
    dtype = amp_dtype(run.settings, run.device)
    losses: list[float] = []
    data_seconds = 0.0
    batches = iter(loader)
    while True:
        tick = time.perf_counter()
        batch = next(batches, None)
        data_seconds += time.perf_counter() - tick
        if batch is None:
            return statistics.fmean(losses), data_seconds, False
        losses.append(
            train_step(run.model, batch, run.loss_fn, run.optimizer, amp_dtype=dtype, scaler=run.scaler)
        )
        if stop.is_set():
            return math.nan, data_seconds, True


def _interrupt(run: Run, epoch_done: int, during: str, *, save: bool) -> TrainingInterrupted:
    """Save ``checkpoint_last.pt`` (unless done already) and say how to resume."""
    path = run.save(CHECKPOINT_LAST, epoch_done) if save else run.out_dir / CHECKPOINT_LAST
    message = (
        f"SIGTERM received {during}; {path} holds epoch {epoch_done}; rerun to resume from epoch "
        f"{epoch_done + 1}"
    )
    logger.warning(message)
    return TrainingInterrupted(message, epoch_done)


def _new_run(
    spec: dict[str, Any],
    settings: TrainingSettings,
    dev: torch.device,
    out_dir: Path,
    records_train: Sequence[SubjectRecord],
    records_val: Sequence[SubjectRecord],
    val_volumes: Sequence[Mapping[str, Any]],
    extra: Mapping[str, Any] | None,
) -> Run:
    """The run's network, optimizer, scheduler, scaler and loss, before any resume."""
    model = build_network(spec).to(dev)
    optimizer = build_optimizer(model, settings)
    return Run(
        model=model,
        optimizer=optimizer,
        scheduler=build_scheduler(optimizer, settings),
        scaler=torch.amp.GradScaler("cuda") if dev.type == "cuda" and settings.amp == "fp16" else None,
        loss_fn=build_loss(kind=settings.loss, batch=settings.dice_batch, smooth=settings.dice_smooth),
        settings=settings,
        device=dev,
        out_dir=out_dir,
        extra={
            **dict(extra or {}),
            "network": spec,
            "train_subjects": [r.subject for r in records_train],
            "val_subjects": [r.subject for r in records_val],
        },
        scored=scored_targets(val_volumes, settings.targets),
    )


def _report_start(run: Run, n_train: int, n_val: int) -> None:
    """Log the run's selection criterion, device, subjects and epochs."""
    settings = run.settings
    if run.metric == "val_loss":
        logger.warning(
            "no validation volume contains any of the targets %s: the best checkpoint and early "
            "stopping use the validation loss",
            list(settings.targets),
        )
    else:
        logger.info("model selection on val_dice_mean over %s", list(run.scored))
    logger.info(
        "training on %s: %d train / %d val subjects, epochs %d-%d, amp %s",
        run.device,
        n_train,
        n_val,
        run.state.next_epoch,
        settings.max_epochs,
        amp_dtype(settings, run.device),
    )


def train(
    records_train: Sequence[SubjectRecord],
    records_val: Sequence[SubjectRecord],
    network_spec: Mapping[str, Any],
    settings: TrainingSettings,
    out_dir: str | os.PathLike[str],
    *,
    resume: bool = True,
    device: str | torch.device | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Train a network with validation, early stopping, checkpoints and resume.

    Args:
        records_train: Training subjects.
        records_val: Validation subjects (whole volumes, every ``val_every``
            epochs).
        network_spec: Network spec (:mod:`spinetumor.models.spec`); its channel
            counts must match ``settings.inputs`` and ``settings.targets``.
        settings: Training settings.
        out_dir: Run folder (checkpoints and ``training_log.tsv``).
        resume: Continue from ``checkpoint_last.pt`` when present; otherwise
            start afresh and remove the folder's old checkpoints and log.
        device: ``cpu``, ``cuda`` or ``None`` (GPU when available).
        extra: Plain values stored in every checkpoint (e.g. the split).

    Returns:
        ``last_epoch``, ``best_epoch``, ``selection_metric`` (``val_dice_mean``
        or ``val_loss``, chosen once from the validation set:
        :mod:`spinetumor.training.validation`), ``scored_targets`` (the
        targets with a validation Dice), ``best_metric`` (best value of the criterion), ``stopped_early``,
        ``history`` (this call's log rows) and the output paths.

    Raises:
        TrainingInterrupted: SIGTERM arrived; ``checkpoint_last.pt`` was saved.
        ValueError: inconsistent network, settings or records.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    spec = resolve_spec(network_spec)
    check_setup(spec, settings, len(records_train), len(records_val))
    dev = pick_device(device)
    val_volumes = [load_record(r, settings.inputs, settings.targets) for r in records_val]
    with reproducible_backend(dev, settings.seed), _sigterm_flag() as stop:
        run = _new_run(spec, settings, dev, out_dir, records_train, records_val, val_volumes, extra)
        resume_or_start(run, resume)
        _report_start(run, len(records_train), len(records_val))
        dataset = make_dataset(records_train, settings)
        return _loop(run, dataset, len(records_train), val_volumes, stop)


def _validate_epoch(run: Run, val_volumes: Sequence[Mapping[str, Any]], epoch: int) -> dict[str, Any]:
    """Validate after ``epoch``: keep the best checkpoint, decide on early stopping; returns the log values."""
    settings, state = run.settings, run.state
    divisor = downsampling_factors(run.extra["network"])
    row: dict[str, Any] = validate_volumes(run.model, val_volumes, settings, run.device, run.scored, divisor)
    row["selection_metric"] = run.metric
    if improves(row[run.metric], state.best_metric, settings.min_delta, run.metric):
        state.best_metric, state.best_epoch = row[run.metric], epoch
        run.save(CHECKPOINT_BEST, epoch)
    state.stopped_early = epoch - state.best_epoch >= settings.patience
    return row


def _loop(
    run: Run,
    dataset: Dataset,
    n_volumes: int,
    val_volumes: Sequence[Mapping[str, Any]],
    stop: threading.Event,
) -> dict[str, Any]:
    """The epochs of :func:`train`, from ``run.state.next_epoch`` on; returns its summary."""
    settings, state = run.settings, run.state
    columns = log_columns(settings.targets)
    history: list[dict[str, Any]] = []
    epoch = state.next_epoch - 1
    if state.stopped_early:
        logger.info("%s stopped early at epoch %d; nothing to do", run.out_dir, epoch)
    last_epoch = epoch if state.stopped_early else settings.max_epochs
    for epoch in range(state.next_epoch, last_epoch + 1):
        started = time.perf_counter()
        lr = run.optimizer.param_groups[0]["lr"]
        train_loss, data_seconds, cut = _train_epoch(run, dataset, n_volumes, epoch, stop)
        if cut:
            raise _interrupt(run, epoch - 1, f"during epoch {epoch}", save=True)
        if run.scheduler is not None:
            run.scheduler.step()
        row: dict[str, Any] = {"epoch": epoch, "train_loss": train_loss, "lr": lr}
        if epoch % settings.val_every == 0 or epoch == settings.max_epochs:
            row.update(_validate_epoch(run, val_volumes, epoch))
        run.save(CHECKPOINT_LAST, epoch)
        row.update(seconds=time.perf_counter() - started, data_seconds=data_seconds)
        append_log(run.out_dir / TRAINING_LOG, columns, row)
        history.append(row)
        log_epoch(row, settings.max_epochs)
        if stop.is_set():
            raise _interrupt(run, epoch, f"at the end of epoch {epoch}", save=False)
        if state.stopped_early:
            logger.info(
                "early stopping at epoch %d: no gain of %g in %s for %d epochs (best %.4f at epoch %d)",
                epoch,
                settings.min_delta,
                run.metric,
                epoch - state.best_epoch,
                state.best_metric,
                state.best_epoch,
            )
            break
    return {
        "last_epoch": epoch,
        "best_epoch": state.best_epoch,
        "selection_metric": run.metric,
        "scored_targets": list(run.scored),
        "best_metric": state.best_metric,
        "stopped_early": state.stopped_early,
        "history": history,
        "checkpoint_last": str(run.out_dir / CHECKPOINT_LAST),
        "checkpoint_best": str(run.out_dir / CHECKPOINT_BEST),
        "log": str(run.out_dir / TRAINING_LOG),
    }
