"""DenseNet121 on lesion crops: build, train with model selection, predict (Zhuo et al. 2022).

The network is MONAI's ``DenseNet121`` (block configuration 6, 12, 24, 16)
with the widths of :class:`~spinetumor.classification.settings.Zhuo2022Settings`.
A task's samples are the crops' slices (2D) or volumes (3D), each tagged with
its unit; a unit's probabilities are the mean of its samples' softmax.

Training (:func:`fit`): Adam on a weighted cross-entropy in which every class
weighs the same and, within a class, every unit the same (a unit of many
slices does not outweigh one of few); random mirroring and per-channel
intensity scaling and shift. Every ``val_every`` epochs the validation units'
loss (the same weighting, on their mean probabilities) is measured; the
weights of its lowest value are kept (ties: the earlier epoch), and training
stops after ``patience`` validations without a lower one. Without validation
units the last epoch is kept, with a warning. Batches, weights and
augmentation come from the settings' seed, so a CPU run repeats exactly.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from monai.networks.nets import DenseNet121

from spinetumor.classification.settings import Zhuo2022Settings
from spinetumor.runtime import model_device

__all__ = ["Samples", "FitResult", "build_network", "fit", "predict_units", "sample_weights"]

logger = logging.getLogger(__name__)


@dataclass
class Samples:
    """One role's samples of a task.

    Attributes:
        x: ``(n, channels, *spatial)`` inputs.
        y: ``(n,)`` class indices.
        unit: ``(n,)`` index of each sample's unit in ``units``.
        units: The units, in order.
    """

    x: np.ndarray
    y: np.ndarray
    unit: np.ndarray
    units: list[str]

    @classmethod
    def of(cls, per_unit: Sequence[tuple[str, np.ndarray, int]]) -> Samples:
        """From ``(unit, samples, class index)`` triples."""
        if not per_unit:
            return cls(np.zeros((0,)), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), [])
        x = np.concatenate([s for _, s, _ in per_unit])
        y = np.concatenate([np.full(len(s), c, dtype=np.int64) for _, s, c in per_unit])
        unit = np.concatenate([np.full(len(s), k, dtype=np.int64) for k, (_, s, _) in enumerate(per_unit)])
        return cls(x.astype(np.float32), y, unit, [u for u, _, _ in per_unit])


@dataclass
class FitResult:
    """The selected network and its history.

    Attributes:
        network: The weights of the selected epoch, in evaluation mode.
        epoch: That epoch (1-based).
        history: One row per epoch: ``epoch, train_loss, val_loss`` (NaN when not validated), ``seconds``.
    """

    network: torch.nn.Module
    epoch: int
    history: list[dict[str, Any]] = field(default_factory=list)


def build_network(settings: Zhuo2022Settings, n_classes: int) -> torch.nn.Module:
    """MONAI's DenseNet121 for the settings' input (one channel per contrast) and ``n_classes`` outputs."""
    return DenseNet121(
        spatial_dims=settings.dims,
        in_channels=len(settings.contrasts),
        out_channels=n_classes,
        init_features=settings.init_features,
        growth_rate=settings.growth_rate,
        dropout_prob=settings.dropout,
    )


def sample_weights(y: np.ndarray, unit: np.ndarray) -> np.ndarray:
    """Each sample's loss weight: classes weigh alike, and units alike within a class (mean 1)."""
    units_of_class = {c: len(set(unit[y == c])) for c in set(y.tolist())}
    samples_of_unit = np.bincount(unit)
    weights = np.array([1.0 / (units_of_class[c] * samples_of_unit[u]) for c, u in zip(y, unit)])
    return weights * len(weights) / weights.sum()


def _batches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """Shuffled batches; a last batch of one sample joins the one before (batch norm needs two)."""
    order = torch.randperm(n, generator=generator)
    batches = list(order.split(batch_size))
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches[-2:] = [torch.cat(batches[-2:])]
    return batches


def _augment(x: torch.Tensor, settings: Zhuo2022Settings, generator: torch.Generator) -> torch.Tensor:
    for axis in settings.flip_axes:
        flip = torch.rand(len(x), generator=generator) < 0.5
        x = torch.where(flip.view(-1, *[1] * (x.ndim - 1)), x.flip(2 + axis), x)
    shape = (len(x), x.shape[1], *[1] * (x.ndim - 2))
    scale = 1 + settings.intensity_scale * (2 * torch.rand(shape, generator=generator) - 1)
    shift = settings.intensity_shift * (2 * torch.rand(shape, generator=generator) - 1)
    return x * scale + shift


def _train_epoch(
    network: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    train: Samples,
    weights: torch.Tensor,
    settings: Zhuo2022Settings,
    generator: torch.Generator,
) -> float:
    network.train()
    device = model_device(network)
    x, y = torch.from_numpy(train.x), torch.from_numpy(train.y)
    total = 0.0
    for batch in _batches(len(x), settings.batch_size, generator):
        optimizer.zero_grad()
        logits = network(_augment(x[batch], settings, generator).to(device))
        losses = torch.nn.functional.cross_entropy(logits, y[batch].to(device), reduction="none")
        w = weights[batch].to(device)
        loss = (losses * w).sum() / w.sum()
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * len(batch)
    return total / len(x)


@torch.no_grad()
def predict_units(network: torch.nn.Module, samples: Samples, batch_size: int = 64) -> np.ndarray:
    """``(units, classes)``: each unit's mean softmax over its samples."""
    network.eval()
    x, device = torch.from_numpy(samples.x), model_device(network)
    prob = torch.cat(
        [network(x[i : i + batch_size].to(device)).softmax(dim=1).cpu() for i in range(0, len(x), batch_size)]
    )
    out = np.zeros((len(samples.units), prob.shape[1]))
    np.add.at(out, samples.unit, prob.numpy().astype(np.float64))
    return out / np.bincount(samples.unit, minlength=len(samples.units))[:, None]


def _unit_classes(samples: Samples) -> np.ndarray:
    classes = np.zeros(len(samples.units), dtype=np.int64)
    classes[samples.unit] = samples.y
    return classes


def validation_loss(network: torch.nn.Module, val: Samples) -> float:
    """The validation units' cross-entropy on their mean probabilities, every class weighing alike."""
    prob = predict_units(network, val)
    y = _unit_classes(val)
    nll = -np.log(np.clip(prob[np.arange(len(y)), y], 1e-7, None))
    return float(np.mean([nll[y == c].mean() for c in set(y.tolist())]))


def fit(
    train: Samples,
    val: Samples,
    n_classes: int,
    settings: Zhuo2022Settings,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    device: torch.device | None = None,
) -> FitResult:
    """Train on ``train``, select the epoch on ``val`` (see the module); call ``on_epoch`` with each row.

    The network trains on ``device`` (None: the CPU); the batches and augmentation are drawn on the CPU.

    Raises:
        ValueError: no training sample.
    """
    if not len(train.y):
        raise ValueError("no training sample")
    generator = torch.Generator().manual_seed(settings.seed)
    torch.manual_seed(settings.seed)
    network = build_network(settings, n_classes).to(device or torch.device("cpu"))
    optimizer = torch.optim.Adam(network.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    weights = torch.from_numpy(sample_weights(train.y, train.unit)).float()
    if not val.units:
        logger.warning("no validation unit: the last epoch is kept")
    best = (math.inf, 0, copy.deepcopy(network.state_dict()))
    history, waited = [], 0
    for epoch in range(1, settings.max_epochs + 1):
        start = time.perf_counter()
        row = {
            "epoch": epoch,
            "train_loss": _train_epoch(network, optimizer, train, weights, settings, generator),
        }
        validate = bool(val.units) and (epoch % settings.val_every == 0 or epoch == settings.max_epochs)
        row["val_loss"] = validation_loss(network, val) if validate else math.nan
        row["seconds"] = time.perf_counter() - start
        history.append(row)
        if on_epoch:
            on_epoch(row)
        if not val.units or (validate and row["val_loss"] < best[0]):
            best, waited = (row["val_loss"], epoch, copy.deepcopy(network.state_dict())), 0
        elif validate:
            waited += 1
            if waited >= settings.patience:
                break
    network.load_state_dict(best[2])
    return FitResult(network.eval(), best[1], history)
