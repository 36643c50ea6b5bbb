"""The deep classifier's settings (``classification.zhuo2022``), typed and checked at start (torch-free).

The schema holds their defaults (the published widths of Zhuo et al. 2022,
2D sagittal slices of T2w); :func:`zhuo2022_settings` turns the validated
mapping into :class:`Zhuo2022Settings` and checks what the schema cannot: a
crop that DenseNet121 can take (it halves its input five times, so every
axis of its input needs at least :data:`MIN_INPUT` voxels) and flip axes
that exist in the network's input.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["MIN_INPUT", "Zhuo2022Settings", "zhuo2022_settings"]

#: The smallest input extent of DenseNet121 per axis (a stride-2 stem, a max-pool and three transitions).
MIN_INPUT = 32


@dataclass(frozen=True)
class Zhuo2022Settings:
    """The DenseNet121 classifier of one study.

    Attributes:
        dims: 2 (sagittal slices through the lesion, as published) or 3 (the lesion's volume).
        contrasts: Input channels, in order (``T2w``, ``T1w`` on the T2w grid).
        spacing_mm: The crop's voxel size, axes superior-inferior, anterior-posterior, right-left.
        crop_shape: The crop's shape on that grid, same axes (2D: the first two are the slice).
        margin_mm: Context around the lesion's bounding box before the crop.
        init_features, growth_rate, dropout: DenseNet121's widths and dropout.
        max_epochs, batch_size, lr, weight_decay: Adam's training.
        val_every: Epochs between validations (model selection by validation loss).
        patience: Validations without improvement before stopping.
        flip_axes: Input axes mirrored at random (probability 1/2 each) during training.
        intensity_scale, intensity_shift: Random per-channel scaling ``1 ± scale`` and shift ``± shift``.
        seed: The seed of weights, sampling and augmentation.
    """

    dims: int
    contrasts: tuple[str, ...]
    spacing_mm: tuple[float, float, float]
    crop_shape: tuple[int, int, int]
    margin_mm: float
    init_features: int
    growth_rate: int
    dropout: float
    max_epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    val_every: int
    patience: int
    flip_axes: tuple[int, ...]
    intensity_scale: float
    intensity_shift: float
    seed: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The network's spatial input: the sagittal slice (2D) or the whole crop (3D)."""
        return self.crop_shape[:2] if self.dims == 2 else self.crop_shape


def zhuo2022_settings(config: Mapping[str, Any]) -> Zhuo2022Settings:
    """The settings of a validated ``classification.zhuo2022`` mapping.

    Raises:
        ValueError: a crop axis the network cannot take, or a flip axis outside its input.
    """
    network, training = config["network"], config["training"]
    augmentation = training["augmentation"]
    settings = Zhuo2022Settings(
        dims=int(config["dims"]),
        contrasts=tuple(config["contrasts"]),
        spacing_mm=tuple(float(v) for v in config["spacing_mm"]),  # type: ignore[arg-type]
        crop_shape=tuple(int(v) for v in config["crop_shape"]),  # type: ignore[arg-type]
        margin_mm=float(config["margin_mm"]),
        init_features=int(network["init_features"]),
        growth_rate=int(network["growth_rate"]),
        dropout=float(network["dropout"]),
        max_epochs=int(training["max_epochs"]),
        batch_size=int(training["batch_size"]),
        lr=float(training["lr"]),
        weight_decay=float(training["weight_decay"]),
        val_every=int(training["val_every"]),
        patience=int(training["patience"]),
        flip_axes=tuple(int(a) for a in augmentation["flip_axes"]),
        intensity_scale=float(augmentation["intensity_scale"]),
        intensity_shift=float(augmentation["intensity_shift"]),
        seed=int(config["seed"]),
    )
    small = [n for n in settings.input_shape if n < MIN_INPUT]
    if small:
        raise ValueError(
            f"crop_shape {list(settings.crop_shape)}: the {settings.dims}D input {list(settings.input_shape)} "
            f"needs at least {MIN_INPUT} voxels per axis (DenseNet121 halves it five times)"
        )
    bad = [a for a in settings.flip_axes if not 0 <= a < settings.dims]
    if bad:
        raise ValueError(
            f"augmentation.flip_axes {bad}: a {settings.dims}D input has axes 0..{settings.dims - 1}"
        )
    return settings
