"""Training data: subject records, target channels, the dataset and the epoch loader.

The dataset loads each volume once and draws its random patches through
:mod:`spinetumor.training.patches`.

Randomness is derived from ``(seed, epoch)`` at the start of every epoch
(:func:`epoch_seed`, :func:`seed_globals`): data order, patch positions,
augmentation and dropout, so a resumed run draws what an uninterrupted one
would.
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.data import CacheDataset, DataLoader, Dataset
from monai.transforms import Compose, Transform

from spinetumor import LABELS
from spinetumor.io import load_nifti
from spinetumor.layout import preprocessed_file
from spinetumor.training.patches import training_transforms
from spinetumor.training.settings import INPUTS, TARGETS, TrainingSettings

__all__ = [
    "SubjectRecord",
    "record_from_prefix",
    "make_targets",
    "load_record",
    "LoadRecord",
    "make_dataset",
    "epoch_seed",
    "seed_globals",
    "epoch_loader",
]


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


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of one epoch of a run seeded with ``seed``."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def seed_globals(seed: int) -> torch.Generator:
    """Seed the global generators (dropout, transforms) and return one for the loader."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)
    return torch.Generator().manual_seed(seed)


def epoch_loader(
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
