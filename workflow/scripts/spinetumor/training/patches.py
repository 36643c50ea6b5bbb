"""The random part of the training pipeline: patch sampling and augmentation (MONAI transforms).

A loaded volume (:func:`spinetumor.training.data.load_record`) is zero-padded
to at least a patch, one patch is drawn (uniformly, centred on any target
voxel, or centred on each target class present as often as on any other),
and the patch is augmented: the papers' random affine, then our optional
mirroring and intensity changes of the inputs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.transforms import (
    CastToTyped,
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

from spinetumor.training.settings import AugmentationSettings, TrainingSettings

__all__ = ["ClassBalancedCropd", "augmentation_ranges", "sampling_classes", "training_transforms"]

_KEYS = ("image", "label")


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
    return [
        SpatialPadd(keys=_KEYS, spatial_size=settings.patch_size, mode="constant"),
        *_patch_sampler(settings),
        CastToTyped(keys=_KEYS, dtype=np.float32),
        *_augmentations(settings.augmentation, settings.patch_size),
        EnsureTyped(keys=_KEYS, data_type="tensor", dtype=torch.float32, track_meta=False),
    ]
