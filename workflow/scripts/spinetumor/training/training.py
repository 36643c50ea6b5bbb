"""Patch-based training of the segmentation networks, with checkpoints and resume.

Every hyper-parameter comes from the ``training`` config mapping through
:meth:`TrainingSettings.from_config`; the network comes from its own spec
(:mod:`spinetumor.models.models`). The defaults follow Lemay et al. (2021): Adam at
1e-3, cosine annealing over at most 200 epochs, early stopping after 50
epochs without a gain of 0.001 in validation Dice, and random affine
augmentation (rotation ±5°, scaling ±10 %, translation ±3 %).

Model selection (best checkpoint, early stopping) uses one criterion for the
whole run, chosen from the validation set, which is fixed:
``val_dice_mean``, the mean Dice over the targets present in at least one
validation volume, or ``val_loss`` when no validation volume contains any
target (a lesion-free validation set has no Dice to select on, and an
undefined Dice never counts as perfect). A target absent from every
validation volume has no Dice (``n/a`` in the log). The log's
``selection_metric`` column and the summary name the criterion.

A training run lives in one folder::

    checkpoint_last.pt    state after the last finished epoch (resume point)
    checkpoint_best.pt    state at the best validation score so far (see below)
    training_log.tsv      one row per epoch (see :func:`log_columns`)

Checkpoints hold tensors and plain Python values only, so
``torch.load(path, weights_only=True)`` reads them. Randomness is derived from
``(seed, epoch)`` at the start of every epoch (data order, patch positions,
augmentation, dropout), so a resumed run draws what an uninterrupted one
would, and on CPU gives the same numbers.

SLURM stops a job with SIGTERM. During :func:`train` that signal only sets a
flag: the current step finishes, ``checkpoint_last.pt`` is written and
:class:`TrainingInterrupted` is raised, so the job fails and its rerun
resumes. A stop in the middle of an epoch keeps that epoch's progress in the
weights, and the rerun repeats the epoch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import random
import signal
import statistics
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import monai
import numpy as np
import pandas as pd
import torch
from monai.data import CacheDataset, DataLoader, Dataset
from monai.transforms import (
    CastToTyped,
    Compose,
    EnsureTyped,
    RandAffined,
    RandCropByPosNegLabeld,
    RandSpatialCropd,
    SpatialPadd,
    Transform,
)
from monai.utils import set_determinism

from spinetumor import LABELS, __version__
from spinetumor.evaluation.overlap import dice
from spinetumor.inference.window import sliding_window
from spinetumor.io import atomic_path, load_nifti
from spinetumor.layout import preprocessed_file
from spinetumor.models.models import LOSSES, build_loss, build_network, check_patch_divisible, resolve_spec
from spinetumor.preprocessing.volumes import IMAGE_KEYS
from spinetumor.runtime import autocast, model_device, pick_device

__all__ = [
    "INPUTS",
    "TARGETS",
    "AugmentationSettings",
    "TrainingSettings",
    "SubjectRecord",
    "TrainingInterrupted",
    "record_from_prefix",
    "make_targets",
    "load_record",
    "LoadRecord",
    "augmentation_ranges",
    "training_transforms",
    "make_dataset",
    "train_step",
    "validate",
    "scored_targets",
    "selection_metric",
    "save_checkpoint",
    "load_checkpoint",
    "log_columns",
    "train",
]

logger = logging.getLogger(__name__)

#: Input contrasts a network may take (the preprocessed images), as channels in the configured order.
INPUTS: tuple[str, ...] = IMAGE_KEYS

#: Output channels a network may predict; ``whole`` is labels 1-3, ``cord``
#: the spinal cord mask.
TARGETS: tuple[str, ...] = ("tumor", "edema", "cavity", "whole", "cord")

CHECKPOINT_LAST = "checkpoint_last.pt"
CHECKPOINT_BEST = "checkpoint_best.pt"
TRAINING_LOG = "training_log.tsv"
CHECKPOINT_FORMAT = 1

_OPTIMIZERS = ("adam", "adamw")
_SCHEDULERS = ("cosine", "none")
_SAMPLING = ("foreground", "uniform")
_AMP = ("none", "bf16", "fp16")
_BLEND = ("constant", "gaussian")
_KEYS = ("image", "label")
_CHOICES = {
    "loss": LOSSES,
    "optimizer": _OPTIMIZERS,
    "scheduler": _SCHEDULERS,
    "sampling": _SAMPLING,
    "amp": _AMP,
    "val_blend": _BLEND,
}
_INT_MINIMA = {
    "max_epochs": 1,
    "batch_size": 1,
    "patches_per_volume": 1,
    "val_every": 1,
    "patience": 0,
    "seed": 0,
    "num_workers": 0,
}


class TrainingInterrupted(RuntimeError):
    """Training stopped on SIGTERM after saving ``checkpoint_last.pt``; rerun to resume.

    Attributes:
        epoch: The last finished epoch stored in the checkpoint.
    """

    def __init__(self, message: str, epoch: int) -> None:
        super().__init__(message)
        self.epoch = epoch


# --------------------------------------------------------------------------- settings


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(f"training settings: {message}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _plain_dict(obj: Any) -> Any:
    """Dataclasses, tuples and mappings as dicts and lists (checkpoint- and JSON-safe)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): _plain_dict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain_dict(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obj))
    if obj is None or isinstance(obj, (bool, int, float, str, torch.Tensor)):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} in a checkpoint")


def _unknown_keys(cfg: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    unknown = sorted(set(cfg) - set(allowed))
    _check(not unknown, f"unknown key(s) {unknown} in {where}; allowed: {sorted(allowed)}")


@dataclass(frozen=True)
class AugmentationSettings:
    """Random affine augmentation of the training patches.

    Attributes:
        rotate_deg: Largest rotation about each axis, in degrees.
        scale: Largest relative scaling per axis (0.1 = ±10 %).
        translate: Largest translation per axis, as a fraction of the patch.
        prob: Probability that a patch is transformed (ivadomed transforms
            every sample; 0 turns augmentation off).
    """

    rotate_deg: float = 5.0
    scale: float = 0.10
    translate: float = 0.03
    prob: float = 1.0

    def __post_init__(self) -> None:
        for name in ("rotate_deg", "scale", "translate", "prob"):
            value = getattr(self, name)
            _check(
                _is_number(value) and value >= 0, f"augmentation.{name} must be a number >= 0, got {value!r}"
            )
        _check(self.prob <= 1, f"augmentation.prob must be at most 1, got {self.prob}")
        _check(self.scale < 1, f"augmentation.scale must be below 1, got {self.scale}")

    @property
    def enabled(self) -> bool:
        """Whether any patch is transformed at all."""
        return self.prob > 0 and (self.rotate_deg > 0 or self.scale > 0 or self.translate > 0)


@dataclass(frozen=True)
class TrainingSettings:
    """Hyper-parameters of one training run (defaults: Lemay et al. 2021).

    Attributes:
        inputs: Input contrasts, in channel order (from :data:`INPUTS`).
        targets: Output channels, in order (from :data:`TARGETS`).
        optimizer: ``adam`` or ``adamw``.
        lr: Initial learning rate.
        weight_decay: Optimizer weight decay.
        scheduler: ``cosine`` (``CosineAnnealingLR`` over ``max_epochs``,
            stepped per epoch) or ``none``.
        min_lr: Final learning rate of the cosine schedule.
        max_epochs: Most epochs to train.
        patience: Epochs without improvement before stopping early.
        min_delta: Least gain in validation mean Dice that counts.
        batch_size: Patches per optimisation step (and sliding-window batch).
        patch_size: Spatial patch size; must suit the network's downsampling.
        patches_per_volume: Patches drawn from each training volume per epoch.
        iterations_per_epoch: Optional cap on the steps of an epoch.
        sampling: ``foreground`` (centres on target voxels with probability
            ``pos_neg_ratio / (pos_neg_ratio + 1)``) or ``uniform``.
        pos_neg_ratio: Foreground-to-background ratio of patch centres.
        augmentation: Random affine augmentation.
        loss: ``dice`` (the papers') or ``dice_bce`` (Dice plus binary
            cross-entropy, :class:`spinetumor.models.models.DiceBCELoss`).
        dice_batch: Pool the batch's voxels in the Dice loss (ivadomed).
        dice_smooth: Smoothing term of the Dice loss (ivadomed: 1).
        seed: Seed of every random draw.
        num_workers: Data-loading worker processes (0: in the main process).
        cache: Keep the loaded volumes in memory (MONAI ``CacheDataset``).
        amp: Mixed precision on GPU: ``bf16``, ``fp16`` or ``none``; CPU
            runs always use float32.
        val_every: Validate every this many epochs (and at the last one).
        val_patch_overlap: Sliding-window overlap for validation (0.5 =
            stride of half a patch, as in the paper).
        val_blend: How overlapping windows are averaged: ``constant`` (plain
            mean, as in the paper) or ``gaussian``.
    """

    inputs: tuple[str, ...] = ("T2w",)
    targets: tuple[str, ...] = ("whole",)
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    scheduler: str = "cosine"
    min_lr: float = 0.0
    max_epochs: int = 200
    patience: int = 50
    min_delta: float = 0.001
    batch_size: int = 1
    patch_size: tuple[int, int, int] = (128, 128, 32)
    patches_per_volume: int = 1
    iterations_per_epoch: int | None = None
    sampling: str = "foreground"
    pos_neg_ratio: float = 1.0
    augmentation: AugmentationSettings = field(default_factory=AugmentationSettings)
    loss: str = "dice"
    dice_batch: bool = True
    dice_smooth: float = 1.0
    seed: int = 0
    num_workers: int = 0
    cache: bool = True
    amp: str = "bf16"
    val_every: int = 1
    val_patch_overlap: float = 0.5
    val_blend: str = "constant"

    def __post_init__(self) -> None:
        self._normalise()
        self._check_channels()
        for name, allowed in _CHOICES.items():
            value = getattr(self, name)
            _check(value in allowed, f"{name} must be one of {list(allowed)}, got {value!r}")
        for name in ("lr", "weight_decay", "min_lr", "min_delta", "dice_smooth", "pos_neg_ratio"):
            value = getattr(self, name)
            _check(_is_number(value) and value >= 0, f"{name} must be a number >= 0, got {value!r}")
        for name, minimum in _INT_MINIMA.items():
            value = getattr(self, name)
            _check(_is_int(value, minimum), f"{name} must be an integer >= {minimum}, got {value!r}")
        _check(
            self.iterations_per_epoch is None or _is_int(self.iterations_per_epoch, 1),
            f"iterations_per_epoch must be null or an integer >= 1, got {self.iterations_per_epoch!r}",
        )
        _check(
            len(self.patch_size) == 3 and all(_is_int(s, 1) for s in self.patch_size),
            f"patch_size must be 3 positive integers, got {self.patch_size!r}",
        )
        _check(self.pos_neg_ratio > 0, "pos_neg_ratio must be > 0")
        _check(
            0 <= self.val_patch_overlap < 1,
            f"val_patch_overlap must be in [0, 1), got {self.val_patch_overlap}",
        )
        _check(
            isinstance(self.dice_batch, bool) and isinstance(self.cache, bool),
            "dice_batch and cache: booleans",
        )

    def _normalise(self) -> None:
        """Lists from YAML as tuples, the augmentation mapping as its dataclass."""
        for name in ("inputs", "targets", "patch_size"):
            value = getattr(self, name)
            _check(
                isinstance(value, Sequence) and not isinstance(value, str),
                f"{name} must be a list, got {value!r}",
            )
            object.__setattr__(self, name, tuple(value))
        aug = self.augmentation
        if aug is None or aug is False:
            aug = AugmentationSettings(prob=0.0)
        elif isinstance(aug, Mapping):
            _unknown_keys(aug, [f.name for f in dataclasses.fields(AugmentationSettings)], "augmentation")
            aug = AugmentationSettings(**aug)
        _check(isinstance(aug, AugmentationSettings), f"augmentation must be a mapping, got {aug!r}")
        object.__setattr__(self, "augmentation", aug)
        if self.amp is None or self.amp is False:
            object.__setattr__(self, "amp", "none")

    def _check_channels(self) -> None:
        for name, allowed in (("inputs", INPUTS), ("targets", TARGETS)):
            values = getattr(self, name)
            _check(len(values) > 0, f"{name} must not be empty")
            _check(len(set(values)) == len(values), f"{name} lists a name twice: {list(values)}")
            unknown = [v for v in values if v not in allowed]
            _check(not unknown, f"unknown {name} {unknown}; expected names from {list(allowed)}")

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None) -> TrainingSettings:
        """Settings from the ``training`` config mapping (missing keys take defaults).

        Args:
            cfg: Mapping parsed from YAML; ``augmentation`` is a nested mapping
                (``null`` or ``false`` turns it off); ``amp: null`` means
                ``none``.

        Returns:
            The checked settings.

        Raises:
            ValueError: unknown key or invalid value.
        """
        cfg = dict(cfg or {})
        _unknown_keys(cfg, [f.name for f in dataclasses.fields(cls)], "training settings")
        return cls(**cfg)

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain dicts and lists (for checkpoints and JSON)."""
        return _plain_dict(self)


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class SubjectRecord:
    """The preprocessed files of one training or validation subject.

    Attributes:
        subject: Subject (or unit) identifier, for messages and logs.
        images: Contrast name (``T2w``, ``T1w``) to image path.
        dseg: Lesion map (0 background, 1 tumour, 2 edema, 3 cavity).
        cord: Spinal cord mask, needed for the ``cord`` target.
        crop_box: Optional ``(start, stop)`` voxel indices (3 each); the
            volumes are cut to ``[start:stop]`` before patches are drawn (the
            cascade's second stage).
    """

    subject: str
    images: Mapping[str, Path]
    dseg: Path
    cord: Path | None = None
    crop_box: tuple[tuple[int, int, int], tuple[int, int, int]] | None = None

    def __post_init__(self) -> None:
        if self.crop_box is not None:
            start, stop = (tuple(int(v) for v in corner) for corner in self.crop_box)
            if len(start) != 3 or len(stop) != 3 or any(a < 0 or b <= a for a, b in zip(start, stop)):
                raise ValueError(
                    f"{self.subject}: crop_box must be (start, stop) with 0 <= start < stop, got {self.crop_box}"
                )
            object.__setattr__(self, "crop_box", (start, stop))


def record_from_prefix(
    subject: str,
    prefix: str | os.PathLike[str],
    *,
    crop_box: tuple[Sequence[int], Sequence[int]] | None = None,
) -> SubjectRecord:
    """The record of a preprocessed unit from its file prefix.

    Args:
        subject: Identifier for messages.
        prefix: Path up to ``_desc-preproc`` (e.g.
            ``results/preprocessed/lemay2021/sub-01/anat/sub-01_desc-preproc``);
            the files are named by :func:`spinetumor.layout.preprocessed_file`.
        crop_box: Optional ``(start, stop)`` voxel indices.

    Returns:
        The record (files are not opened here).
    """
    prefix = str(prefix)
    images = {contrast: Path(preprocessed_file(prefix, contrast)) for contrast in INPUTS}
    box = None if crop_box is None else (tuple(crop_box[0]), tuple(crop_box[1]))
    return SubjectRecord(
        subject, images, Path(preprocessed_file(prefix, "dseg")), Path(preprocessed_file(prefix, "cord")), box
    )


def make_targets(dseg: np.ndarray, cord: np.ndarray | None, targets: Sequence[str]) -> np.ndarray:
    """Binary target channels from a lesion map and a cord mask.

    Args:
        dseg: 3-D lesion map with values 0-3.
        cord: 3-D cord mask (non-zero = cord), or ``None`` when ``cord`` is not
            a target.
        targets: Channel names from :data:`TARGETS`.

    Returns:
        ``uint8`` array ``(len(targets), X, Y, Z)`` of 0 and 1.

    Raises:
        ValueError: unknown target, wrong shapes, values outside 0-3, or a
            missing cord mask.
    """
    dseg = np.asarray(dseg)
    if dseg.ndim != 3:
        raise ValueError(f"dseg must be 3-D, got shape {dseg.shape}")
    if dseg.size and (dseg.min() < 0 or dseg.max() > max(LABELS.values())):
        raise ValueError(f"dseg values must be 0-3, got range {dseg.min()}..{dseg.max()}")
    channels = []
    for name in targets:
        if name in LABELS:
            channels.append(dseg == LABELS[name])
        elif name == "whole":
            channels.append(dseg > 0)
        elif name == "cord":
            if cord is None:
                raise ValueError("the 'cord' target needs a cord mask")
            cord = np.asarray(cord)
            if cord.shape != dseg.shape:
                raise ValueError(f"cord mask shape {cord.shape} differs from dseg shape {dseg.shape}")
            channels.append(cord > 0)
        else:
            raise ValueError(f"unknown target {name!r}; expected names from {list(TARGETS)}")
    return np.stack(channels).astype(np.uint8)


def _read_volume(path: Path, subject: str, what: str) -> np.ndarray:
    data = np.asanyarray(load_nifti(path).dataobj)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise ValueError(f"{subject}: {what} {path} is not a 3-D volume (shape {data.shape})")
    return data


def _crop(array: np.ndarray, box: tuple[tuple[int, ...], tuple[int, ...]] | None, subject: str) -> np.ndarray:
    """Cut the spatial axes (the last three) of ``array`` to ``box``."""
    if box is None:
        return array
    shape = array.shape[-3:]
    if any(stop > size for stop, size in zip(box[1], shape)):
        raise ValueError(f"{subject}: crop_box {box} exceeds the volume shape {shape}")
    slices = tuple(slice(a, b) for a, b in zip(*box))
    return np.ascontiguousarray(array[(..., *slices)])


def load_record(record: SubjectRecord, inputs: Sequence[str], targets: Sequence[str]) -> dict[str, Any]:
    """Load a subject as network input and targets, cropped to its box.

    Args:
        record: The subject's files.
        inputs: Contrasts, in channel order.
        targets: Target channels (see :func:`make_targets`).

    Returns:
        ``{"subject": str, "image": float32 (C, X, Y, Z), "label": uint8
        (T, X, Y, Z)}``.

    Raises:
        ValueError: a contrast is missing from the record, or the volumes do
            not share one shape.
    """
    missing = [c for c in inputs if c not in record.images]
    if missing:
        raise ValueError(f"{record.subject}: no image for input(s) {missing}")
    images = [_read_volume(Path(record.images[c]), record.subject, c).astype(np.float32) for c in inputs]
    dseg = np.rint(_read_volume(Path(record.dseg), record.subject, "dseg")).astype(np.int16)
    cord = None
    if "cord" in targets:
        if record.cord is None:
            raise ValueError(f"{record.subject}: the 'cord' target needs a cord mask")
        cord = _read_volume(Path(record.cord), record.subject, "cord mask")
    shapes = {img.shape for img in images} | {dseg.shape}
    if len(shapes) != 1:
        raise ValueError(f"{record.subject}: volumes differ in shape {sorted(shapes)}; expected one grid")
    image = _crop(np.stack(images), record.crop_box, record.subject)
    label = _crop(make_targets(dseg, cord, targets), record.crop_box, record.subject)
    return {"subject": record.subject, "image": image, "label": label}


class LoadRecord(Transform):
    """MONAI transform: :class:`SubjectRecord` to the dict of :func:`load_record`.

    Deterministic, so ``CacheDataset`` caches its output.

    Args:
        inputs: Contrasts, in channel order.
        targets: Target channels.
    """

    def __init__(self, inputs: Sequence[str], targets: Sequence[str]) -> None:
        self.inputs = tuple(inputs)
        self.targets = tuple(targets)

    def __call__(self, record: SubjectRecord) -> dict[str, Any]:
        """Load ``record``."""
        return load_record(record, self.inputs, self.targets)


def augmentation_ranges(aug: AugmentationSettings, patch_size: Sequence[int]) -> dict[str, tuple[float, ...]]:
    """``RandAffined`` ranges for the configured augmentation.

    Args:
        aug: Augmentation settings.
        patch_size: Spatial patch size in voxels.

    Returns:
        ``rotate_range`` (radians, per axis), ``scale_range`` (offsets from 1,
        per axis) and ``translate_range`` (voxels, per axis: the fraction of
        the patch size).
    """
    return {
        "rotate_range": (math.radians(aug.rotate_deg),) * 3,
        "scale_range": (aug.scale,) * 3,
        "translate_range": tuple(aug.translate * size for size in patch_size),
    }


def _patch_sampler(settings: TrainingSettings) -> Transform:
    if settings.sampling == "uniform":
        return RandSpatialCropd(keys=_KEYS, roi_size=settings.patch_size, random_size=False)
    return RandCropByPosNegLabeld(
        keys=_KEYS,
        label_key="label",
        spatial_size=settings.patch_size,
        pos=settings.pos_neg_ratio,
        neg=1.0,
        num_samples=1,
    )


def training_transforms(settings: TrainingSettings) -> list[Transform]:
    """The random part of the training pipeline, applied to a loaded volume.

    Zero-pads volumes smaller than a patch, draws one patch, casts targets to
    float, applies the random affine (bilinear for images, nearest for
    targets, zeros outside) and returns plain tensors.

    Args:
        settings: Training settings.

    Returns:
        Transforms for a ``Compose``.
    """
    steps: list[Transform] = [
        SpatialPadd(keys=_KEYS, spatial_size=settings.patch_size, mode="constant"),
        _patch_sampler(settings),
        CastToTyped(keys=_KEYS, dtype=np.float32),
    ]
    if settings.augmentation.enabled:
        steps.append(
            RandAffined(
                keys=_KEYS,
                prob=settings.augmentation.prob,
                mode=("bilinear", "nearest"),
                padding_mode="zeros",
                **augmentation_ranges(settings.augmentation, settings.patch_size),
            )
        )
    steps.append(EnsureTyped(keys=_KEYS, data_type="tensor", dtype=torch.float32, track_meta=False))
    return steps


def make_dataset(records: Sequence[SubjectRecord], settings: TrainingSettings) -> Dataset:
    """The training dataset: item ``i`` is one random patch of volume ``i``.

    Args:
        records: Training subjects.
        settings: Training settings (``cache``, ``num_workers``, sampling and
            augmentation).

    Returns:
        A MONAI ``CacheDataset`` (volumes loaded once) or ``Dataset``.
    """
    transform = Compose([LoadRecord(settings.inputs, settings.targets), *training_transforms(settings)])
    if settings.cache:
        return CacheDataset(
            list(records), transform, num_workers=max(1, settings.num_workers), progress=False
        )
    return Dataset(list(records), transform)


def _epoch_seed(seed: int, epoch: int) -> int:
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def _seed_globals(seed: int) -> torch.Generator:
    """Seed the global generators (dropout, transforms) and return one for the loader."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)
    return torch.Generator().manual_seed(seed)


def _epoch_loader(
    dataset: Dataset, n_volumes: int, settings: TrainingSettings, generator: torch.Generator, pin_memory: bool
) -> DataLoader:
    """A loader over ``patches_per_volume`` shuffled patches of every volume, capped in steps."""
    order = (
        torch.randperm(n_volumes * settings.patches_per_volume, generator=generator) % n_volumes
    ).tolist()
    if settings.iterations_per_epoch is not None:
        order = order[: settings.iterations_per_epoch * settings.batch_size]
    return DataLoader(
        dataset,
        batch_size=settings.batch_size,
        sampler=order,
        num_workers=settings.num_workers,
        generator=generator,
        pin_memory=pin_memory,
    )


# --------------------------------------------------------------------------- steps


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


def _dice_or_nan(pred: np.ndarray, truth: np.ndarray) -> float:
    """Dice, or NaN when prediction and target are both empty (no information either way)."""
    value = dice(pred, truth)
    return math.nan if value is None else value


def _mean_defined(values: Sequence[float]) -> float:
    """Mean of the values that are not NaN (NaN when none is)."""
    defined = [v for v in values if not math.isnan(v)]
    return statistics.fmean(defined) if defined else math.nan


def _amp_dtype(settings: TrainingSettings, device: torch.device) -> torch.dtype | None:
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


def _improves(value: float, best: float, min_delta: float, metric: str) -> bool:
    """Whether ``value`` beats ``best`` by more than ``min_delta`` (Dice rises, the loss falls)."""
    if math.isnan(value):
        return False
    return value > best + min_delta if metric == "val_dice_mean" else value < best - min_delta


def _worst(metric: str) -> float:
    """The best value before any validation: every real value improves on it."""
    return -math.inf if metric == "val_dice_mean" else math.inf


def _validate_volumes(
    model: torch.nn.Module,
    volumes: Sequence[Mapping[str, Any]],
    settings: TrainingSettings,
    device: torch.device,
    scored: Sequence[str] | None = None,
) -> dict[str, float]:
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
            settings.patch_size,
            settings.val_patch_overlap,
            settings.batch_size,
            device,
            settings.val_blend,
            _amp_dtype(settings, device),
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


def validate(
    model: torch.nn.Module,
    records: Sequence[SubjectRecord],
    settings: TrainingSettings,
    *,
    device: str | torch.device | None = None,
) -> dict[str, float]:
    """Dice of whole validation volumes, per target and averaged.

    Each volume (cut to its crop box) is predicted with
    :func:`spinetumor.inference.window.sliding_window` and thresholded at 0.5. A target absent from a
    volume and not predicted there has no Dice there (NaN, left out of the
    means); a target absent from every volume has no Dice (NaN).
    ``val_dice_mean`` is the mean over the targets present in some volume
    (:func:`scored_targets`); NaN, never 1, when none is.

    Args:
        model: The network.
        records: Validation subjects (at least one).
        settings: Training settings (targets, patch size, overlap, blending).
        device: Where to run (default: the model's device).

    Returns:
        ``val_loss`` (Dice loss of the probabilities), ``val_dice_<target>``
        for every target (mean over volumes) and ``val_dice_mean``.
    """
    if not records:
        raise ValueError("validation needs at least one record")
    dev = torch.device(device) if device is not None else model_device(model)
    volumes = [load_record(r, settings.inputs, settings.targets) for r in records]
    return _validate_volumes(model, volumes, settings, dev)


# --------------------------------------------------------------------------- checkpoints


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
        "extra": _plain_dict(dict(extra or {})),
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


# --------------------------------------------------------------------------- log


def log_columns(targets: Sequence[str]) -> list[str]:
    """Columns of ``training_log.tsv`` for the given targets."""
    return [
        "epoch",
        "train_loss",
        "val_loss",
        *[f"val_dice_{t}" for t in targets],
        "val_dice_mean",
        "selection_metric",
        "lr",
        "seconds",
        "data_seconds",
    ]


def _format(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return str(value)


def _append_log(path: Path, columns: Sequence[str], row: Mapping[str, Any]) -> None:
    new = not path.exists()
    with path.open("a") as handle:
        if new:
            handle.write("\t".join(columns) + "\n")
        handle.write("\t".join(_format(row.get(c)) for c in columns) + "\n")


def _truncate_log(path: Path, columns: Sequence[str], last_epoch: int) -> None:
    """Keep the log's rows up to ``last_epoch`` (a rerun writes the later ones again)."""
    if not path.exists():
        return
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    if list(table.columns) != list(columns):
        raise ValueError(f"{path}: columns {list(table.columns)} differ from {list(columns)}; cannot resume")
    table = table[table["epoch"].astype(int) <= last_epoch]
    with atomic_path(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False)


# --------------------------------------------------------------------------- training loop


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


@contextlib.contextmanager
def _reproducible_backend(device: torch.device, seed: int) -> Iterator[None]:
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


def _build_optimizer(model: torch.nn.Module, settings: TrainingSettings) -> torch.optim.Optimizer:
    cls = torch.optim.Adam if settings.optimizer == "adam" else torch.optim.AdamW
    return cls(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)


def _build_scheduler(
    optimizer: torch.optim.Optimizer, settings: TrainingSettings
) -> torch.optim.lr_scheduler.LRScheduler | None:
    if settings.scheduler == "none":
        return None
    return torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=settings.max_epochs, eta_min=settings.min_lr
    )


@dataclass
class _RunState:
    """What a resumed run needs besides the model and optimizer."""

    next_epoch: int = 1
    best_metric: float = -math.inf
    best_epoch: int = 0
    stopped_early: bool = False


@dataclass
class _Run:
    """Everything one call of :func:`train` works with."""

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
    state: _RunState = field(default_factory=_RunState)

    @property
    def metric(self) -> str:
        """The run's selection criterion (:func:`selection_metric`)."""
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


def _check_setup(spec: Mapping[str, Any], settings: TrainingSettings, n_train: int, n_val: int) -> None:
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


def _resume_or_start(run: _Run, resume: bool) -> None:
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
        run.state = _RunState(ckpt["epoch"] + 1, ckpt["best_metric"], ckpt["best_epoch"], finished)
        _truncate_log(log, log_columns(run.settings.targets), ckpt["epoch"])
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
    run.state = _RunState(best_metric=_worst(run.metric))


def _train_epoch(
    run: _Run, dataset: Dataset, n_volumes: int, epoch: int, stop: threading.Event
) -> tuple[float, float, bool]:
    """Train one epoch; returns the mean loss, the seconds spent waiting for data and whether SIGTERM cut it short."""
    generator = _seed_globals(_epoch_seed(run.settings.seed, epoch))
    loader = _epoch_loader(dataset, n_volumes, run.settings, generator, pin_memory=run.device.type == "cuda")
    amp_dtype = _amp_dtype(run.settings, run.device)
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
            train_step(run.model, batch, run.loss_fn, run.optimizer, amp_dtype=amp_dtype, scaler=run.scaler)
        )
        if stop.is_set():
            return math.nan, data_seconds, True


def _interrupt(run: _Run, epoch_done: int, during: str, *, save: bool) -> TrainingInterrupted:
    path = run.save(CHECKPOINT_LAST, epoch_done) if save else run.out_dir / CHECKPOINT_LAST
    message = (
        f"SIGTERM received {during}; {path} holds epoch {epoch_done}; rerun to resume from epoch "
        f"{epoch_done + 1}"
    )
    logger.warning(message)
    return TrainingInterrupted(message, epoch_done)


def _log_epoch(row: Mapping[str, Any], max_epochs: int) -> None:
    def short(key: str) -> str:
        value = row.get(key)
        return "n/a" if value is None or math.isnan(value) else f"{value:.4f}"

    logger.info(
        "epoch %d/%d  train_loss %.4f  val_loss %s  val_dice_mean %s  lr %.3g  %.1f s/epoch (data %.1f s)",
        row["epoch"],
        max_epochs,
        row["train_loss"],
        short("val_loss"),
        short("val_dice_mean"),
        row["lr"],
        row["seconds"],
        row["data_seconds"],
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
        network_spec: Network spec (:mod:`spinetumor.models.models`); its channel
            counts must match ``settings.inputs`` and ``settings.targets``.
        settings: Training settings.
        out_dir: Run folder (checkpoints and ``training_log.tsv``).
        resume: Continue from ``checkpoint_last.pt`` when present; otherwise
            start afresh and remove the folder's old checkpoints and log.
        device: ``cpu``, ``cuda`` or ``None`` (GPU when available).
        extra: Plain values stored in every checkpoint (e.g. the split).

    Returns:
        ``last_epoch``, ``best_epoch``, ``selection_metric`` (``val_dice_mean``
        or ``val_loss``, chosen once from the validation set: module
        docstring), ``scored_targets`` (the targets with a validation Dice),
        ``best_metric`` (best value of the criterion), ``stopped_early``,
        ``history`` (this call's log rows) and the output paths.

    Raises:
        TrainingInterrupted: SIGTERM arrived; ``checkpoint_last.pt`` was saved.
        ValueError: inconsistent network, settings or records.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    spec = resolve_spec(network_spec)
    _check_setup(spec, settings, len(records_train), len(records_val))
    dev = pick_device(device)
    val_volumes = [load_record(r, settings.inputs, settings.targets) for r in records_val]
    with _reproducible_backend(dev, settings.seed), _sigterm_flag() as stop:
        model = build_network(spec).to(dev)
        optimizer = _build_optimizer(model, settings)
        run = _Run(
            model=model,
            optimizer=optimizer,
            scheduler=_build_scheduler(optimizer, settings),
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
        _resume_or_start(run, resume)
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
            dev,
            len(records_train),
            len(records_val),
            run.state.next_epoch,
            settings.max_epochs,
            _amp_dtype(settings, dev),
        )
        dataset = make_dataset(records_train, settings)
        return _loop(run, dataset, len(records_train), val_volumes, stop)


def _loop(
    run: _Run,
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
            row.update(_validate_volumes(run.model, val_volumes, settings, run.device, run.scored))
            row["selection_metric"] = run.metric
            if _improves(row[run.metric], state.best_metric, settings.min_delta, run.metric):
                state.best_metric, state.best_epoch = row[run.metric], epoch
                run.save(CHECKPOINT_BEST, epoch)
            state.stopped_early = epoch - state.best_epoch >= settings.patience
        run.save(CHECKPOINT_LAST, epoch)
        row.update(seconds=time.perf_counter() - started, data_seconds=data_seconds)
        _append_log(run.out_dir / TRAINING_LOG, columns, row)
        history.append(row)
        _log_epoch(row, settings.max_epochs)
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
