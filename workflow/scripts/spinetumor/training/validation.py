"""Validation during training: Dice of whole volumes and the run's selection criterion.

Model selection (best checkpoint, early stopping) uses one criterion for the
whole run, chosen from the validation set, which is fixed:
``val_dice_mean``, the mean Dice over the targets present in at least one
validation volume, or ``val_loss`` when no validation volume contains any
target (a lesion-free validation set has no Dice to select on, and an
undefined Dice never counts as perfect). A target absent from every
validation volume has no Dice (``n/a`` in the log). The log's
``selection_metric`` column and the summary name the criterion.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from spinetumor.evaluation.metrics import dice
from spinetumor.inference.regions import fitted_window
from spinetumor.inference.window import sliding_window
from spinetumor.models.losses import build_loss
from spinetumor.runtime import model_device
from spinetumor.training.data import SubjectRecord, load_record
from spinetumor.training.settings import TrainingSettings

__all__ = [
    "amp_dtype",
    "improves",
    "scored_targets",
    "selection_metric",
    "validate",
    "validate_volumes",
    "worst",
]


def _dice_or_nan(pred: np.ndarray, truth: np.ndarray) -> float:
    """Dice, or NaN when prediction and target are both empty (no information either way)."""
    value = dice(pred, truth)
    return math.nan if value is None else value


def _mean_defined(values: Sequence[float]) -> float:
    """Mean of the values that are not NaN (NaN when none is)."""
    defined = [v for v in values if not math.isnan(v)]
    return statistics.fmean(defined) if defined else math.nan


def amp_dtype(settings: TrainingSettings, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of ``settings.amp`` on ``device`` (``None``: float32, always on CPU)."""
    if device.type != "cuda" or settings.amp == "none":
        return None
    return torch.bfloat16 if settings.amp == "bf16" else torch.float16


def scored_targets(volumes: Sequence[Mapping[str, Any]], targets: Sequence[str]) -> tuple[str, ...]:
    """The targets that have a Dice on these validation volumes: present in at least one of them.

    Args:
        volumes: Loaded validation volumes (:func:`load_record`), ``label`` as ``(C, X, Y, Z)``.
        targets: Target name of each label channel.

    Returns:
        The targets, in the order of ``targets``, with a foreground voxel in some volume.
    """
    return tuple(
        target
        for channel, target in enumerate(targets)
        if any(np.asarray(volume["label"][channel]).any() for volume in volumes)
    )


def selection_metric(scored: Sequence[str]) -> str:
    """The run's selection criterion: ``val_dice_mean`` when some target is scored, else ``val_loss``."""
    return "val_dice_mean" if scored else "val_loss"


def improves(value: float, best: float, min_delta: float, metric: str) -> bool:
    """Whether ``value`` beats ``best`` by more than ``min_delta`` (Dice rises, the loss falls)."""
    if math.isnan(value):
        return False
    return value > best + min_delta if metric == "val_dice_mean" else value < best - min_delta


def worst(metric: str) -> float:
    """The best value before any validation: every real value improves on it."""
    return -math.inf if metric == "val_dice_mean" else math.inf


def validate_volumes(
    model: torch.nn.Module,
    volumes: Sequence[Mapping[str, Any]],
    settings: TrainingSettings,
    device: torch.device,
    scored: Sequence[str] | None = None,
    divisor: Sequence[int] = (1, 1, 1),
) -> dict[str, float]:
    """:func:`validate` on loaded volumes, scoring ``scored`` (default: :func:`scored_targets`)."""
    scored = scored_targets(volumes, settings.targets) if scored is None else tuple(scored)
    loss_fn = build_loss(
        kind=settings.loss, batch=settings.dice_batch, smooth=settings.dice_smooth, sigmoid=False
    )
    losses: list[float] = []
    scores: dict[str, list[float]] = {t: [] for t in settings.targets}
    for volume in volumes:
        prob = sliding_window(
            model,
            volume["image"],
            _window(settings, np.shape(volume["image"])[1:], divisor),
            settings.val_patch_overlap,
            settings.batch_size,
            device,
            settings.val_blend,
            amp_dtype(settings, device),
        )
        truth = np.asarray(volume["label"], dtype=bool)
        losses.append(
            float(loss_fn(torch.from_numpy(prob)[None], torch.from_numpy(truth.astype(np.float32))[None]))
        )
        for channel, target in enumerate(settings.targets):
            scores[target].append(_dice_or_nan(prob[channel] > 0.5, truth[channel]))
    # A class absent from a volume and not predicted there says nothing about the model: such
    # volumes are left out of that class's mean. A class absent from every volume has no Dice at
    # all (NaN, even where it was predicted: its false positives weigh in the loss), so the set of
    # classes in the overall mean is the same at every epoch and the means stay comparable.
    result = {"val_loss": statistics.fmean(losses)}
    result.update({f"val_dice_{t}": _mean_defined(v) if t in scored else math.nan for t, v in scores.items()})
    result["val_dice_mean"] = _mean_defined([result[f"val_dice_{t}"] for t in scored])
    return result


def _window(settings: TrainingSettings, shape: Sequence[int], divisor: Sequence[int]) -> tuple[int, ...]:
    """The validation window: the training patch, or the whole volume padded to a multiple of ``divisor``."""
    return fitted_window(shape, divisor) if settings.val_window == "whole" else settings.patch_size


def validate(
    model: torch.nn.Module,
    records: Sequence[SubjectRecord],
    settings: TrainingSettings,
    *,
    device: str | torch.device | None = None,
    divisor: Sequence[int] = (1, 1, 1),
) -> dict[str, float]:
    """Dice of whole validation volumes, per target and averaged.

    Each volume (cut to its crop box) is predicted with
    :func:`spinetumor.inference.window.sliding_window` (in windows of the
    training patch, or, with ``val_window: whole``, in one window zero-padded
    to a multiple of ``divisor``) and thresholded at 0.5. A target absent from a
    volume and not predicted there has no Dice there (NaN, left out of the
    means); a target absent from every volume has no Dice (NaN).
    ``val_dice_mean`` is the mean over the targets present in some volume
    (:func:`scored_targets`); NaN, never 1, when none is.

    Args:
        model: The network.
        records: Validation subjects (at least one).
        settings: Training settings (targets, patch size, overlap, blending).
        device: Where to run (default: the model's device).
        divisor: The network's total downsampling per axis, to which a whole
            volume is padded (:func:`spinetumor.models.spec.downsampling_factors`).

    Returns:
        ``val_loss`` (Dice loss of the probabilities), ``val_dice_<target>``
        for every target (mean over volumes) and ``val_dice_mean``.
    """
    if not records:
        raise ValueError("validation needs at least one record")
    dev = torch.device(device) if device is not None else model_device(model)
    volumes = [load_record(r, settings.inputs, settings.targets) for r in records]
    return validate_volumes(model, volumes, settings, dev, divisor=divisor)
