"""Training data: subject records, target channels, the random patch pipeline and the epoch loader.

Randomness is derived from ``(seed, epoch)`` at the start of every epoch
(:func:`epoch_seed`, :func:`seed_globals`): data order, patch positions,
augmentation and dropout, so a resumed run draws what an uninterrupted one
would.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.data import CacheDataset, DataLoader, Dataset
from monai.transforms import (
    CastToTyped,
    Compose,
    EnsureTyped,
    MapTransform,
    RandAffined,
    RandCropByPosNegLabeld,
    RandFlipd,
    RandGaussianNoised,
    Randomizable,
    RandScaleIntensityd,
    RandShiftIntensityd,
    RandSpatialCropd,
    SpatialCrop,
    SpatialPadd,
    Transform,
)
from monai.transforms.utils import generate_label_classes_crop_centers

from spinetumor import LABELS
from spinetumor.io import load_nifti
from spinetumor.layout import preprocessed_file
from spinetumor.training.settings import INPUTS, TARGETS, AugmentationSettings, TrainingSettings

__all__ = [
    "SubjectRecord",
    "record_from_prefix",
    "make_targets",
    "load_record",
    "LoadRecord",
    "augmentation_ranges",
    "sampling_classes",
    "training_transforms",
    "make_dataset",
    "epoch_seed",
    "seed_globals",
    "epoch_loader",
]

_KEYS = ("image", "label")


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


def sampling_classes(targets: Sequence[str]) -> list[int]:
    """The target channels that are classes of their own for ``classes`` sampling.

    Every channel but ``whole``, which is the union of the lesion classes, unless it is alone.
    """
    classes = [i for i, name in enumerate(targets) if name != "whole"]
    return classes or list(range(len(targets)))


class ClassBalancedCropd(Randomizable, MapTransform):
    """One patch of ``image`` and ``label`` centred on a voxel of a class present, or anywhere else.

    With probability ``1 / (pos_neg_ratio + 1)`` the centre is a voxel in no
    class; otherwise it is a voxel of one of the classes present in this
    volume, each class as likely as the others. MONAI's
    ``RandCropByLabelClassesd`` fixes the ratios per class beforehand, so a
    class absent from a volume would hand its share to the background.

    Args:
        channels: The label channels that are classes (:func:`sampling_classes`).
        patch_size: Spatial patch size (the volume is at least this large).
        pos_neg_ratio: Class-to-background ratio of the centres.
    """

    def __init__(self, channels: Sequence[int], patch_size: Sequence[int], pos_neg_ratio: float) -> None:
        MapTransform.__init__(self, keys=_KEYS)
        self.channels = tuple(channels)
        self.patch_size = tuple(patch_size)
        self.pos_neg_ratio = float(pos_neg_ratio)

    def __call__(self, data: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The patch, as a one-item list (as MONAI's samplers return)."""
        label = np.asarray(data["label"])
        in_class = label[list(self.channels)] > 0
        indices = [np.flatnonzero(~in_class.any(axis=0))] + [np.flatnonzero(c) for c in in_class]
        present = sum(len(i) > 0 for i in indices[1:])
        share = self.pos_neg_ratio / present if present else 0.0
        ratios = [1.0 if len(indices[0]) else 0.0] + [share if len(i) else 0.0 for i in indices[1:]]
        (centre,) = generate_label_classes_crop_centers(
            self.patch_size, 1, label.shape[1:], indices, ratios, self.R, warn=False
        )
        crop = SpatialCrop(roi_center=centre, roi_size=self.patch_size)
        out = dict(data)
        for key in self.keys:
            out[key] = crop(data[key])
        return [out]


def _patch_sampler(settings: TrainingSettings) -> list[Transform]:
    if settings.sampling == "uniform":
        return [RandSpatialCropd(keys=_KEYS, roi_size=settings.patch_size, random_size=False)]
    if settings.sampling == "foreground":
        return [
            RandCropByPosNegLabeld(
                keys=_KEYS,
                label_key="label",
                spatial_size=settings.patch_size,
                pos=settings.pos_neg_ratio,
                neg=1.0,
                num_samples=1,
            )
        ]
    return [
        ClassBalancedCropd(sampling_classes(settings.targets), settings.patch_size, settings.pos_neg_ratio)
    ]


def _augmentations(aug: AugmentationSettings, patch_size: Sequence[int]) -> list[Transform]:
    """The random affine, then mirroring, then intensity changes of the inputs."""
    steps: list[Transform] = []
    if aug.affine:
        steps.append(
            RandAffined(
                keys=_KEYS,
                prob=aug.prob,
                mode=("bilinear", "nearest"),
                padding_mode="zeros",
                **augmentation_ranges(aug, patch_size),
            )
        )
    steps += [RandFlipd(keys=_KEYS, prob=0.5, spatial_axis=axis) for axis in aug.flip_axes]
    if aug.intensity_scale > 0:
        steps.append(
            RandScaleIntensityd(keys="image", factors=aug.intensity_scale, prob=1.0, channel_wise=True)
        )
    if aug.intensity_shift > 0:
        steps.append(
            RandShiftIntensityd(keys="image", offsets=aug.intensity_shift, prob=1.0, channel_wise=True)
        )
    if aug.noise_std > 0:
        steps.append(RandGaussianNoised(keys="image", prob=1.0, mean=0.0, std=aug.noise_std))
    return steps


def training_transforms(settings: TrainingSettings) -> list[Transform]:
    """The random part of the training pipeline, applied to a loaded volume.

    Zero-pads volumes smaller than a patch, draws one patch, casts targets to
    float, applies the random affine (bilinear for images, nearest for
    targets, zeros outside), the mirroring and the intensity changes of the
    inputs, and returns plain tensors.

    Args:
        settings: Training settings.

    Returns:
        Transforms for a ``Compose``.
    """
    steps: list[Transform] = [
        SpatialPadd(keys=_KEYS, spatial_size=settings.patch_size, mode="constant"),
        *_patch_sampler(settings),
        CastToTyped(keys=_KEYS, dtype=np.float32),
        *_augmentations(settings.augmentation, settings.patch_size),
    ]
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
