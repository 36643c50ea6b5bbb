"""The hyper-parameters of a training run and their checks (torch-free).

Every hyper-parameter comes from a stage's ``training`` config mapping through
:meth:`TrainingSettings.from_config`; the defaults here are the one place of
the defaults (the config schema lists them, and a test checks that they
agree). They follow Lemay et al. (2021): Adam at 1e-3, cosine annealing over at
most 200 epochs, early stopping after 50 epochs without a gain of 0.001 in
validation Dice, and random affine augmentation (rotation ±5°, scaling ±10 %,
translation ±3 %).

This module imports neither torch nor MONAI, so that the workflow can check
every model's settings while it builds its DAG.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spinetumor import LABELS
from spinetumor.layout import CONTRASTS
from spinetumor.models.spec import LOSSES

__all__ = [
    "CHOICES",
    "INPUTS",
    "TARGETS",
    "AugmentationSettings",
    "TrainingSettings",
    "training_defaults",
    "to_plain",
]

#: Input contrasts a network may take (the preprocessed images), as channels in the configured order.
INPUTS: tuple[str, ...] = CONTRASTS

#: Output channels a network may predict; ``whole`` is labels 1-3, ``cord``
#: the spinal cord mask.
TARGETS: tuple[str, ...] = (*LABELS, "whole", "cord")

_OPTIMIZERS = ("adam", "adamw")
_SCHEDULERS = ("cosine", "none")
_SAMPLING = ("foreground", "classes", "uniform")
_AMP = ("none", "bf16", "fp16")
_BLEND = ("constant", "gaussian")
_VAL_WINDOW = ("patch", "whole")
#: The settings that take one of a few names, and those names.
CHOICES: dict[str, tuple[str, ...]] = {
    "loss": LOSSES,
    "optimizer": _OPTIMIZERS,
    "scheduler": _SCHEDULERS,
    "sampling": _SAMPLING,
    "amp": _AMP,
    "val_blend": _BLEND,
    "val_window": _VAL_WINDOW,
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


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(f"training settings: {message}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def to_plain(obj: Any, leaf: Callable[[Any], Any] | None = None) -> Any:
    """Dataclasses, tuples and mappings as dicts and lists (checkpoint- and JSON-safe).

    Args:
        obj: The value to convert.
        leaf: Converts the values this function does not know (e.g. arrays),
            or ``None``; called first on every value, it returns ``NotImplemented``
            to leave a value to this function.

    Raises:
        TypeError: a value that is neither plain nor converted by ``leaf``.
    """
    if leaf is not None:
        converted = leaf(obj)
        if converted is not NotImplemented:
            return converted
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name), leaf) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): to_plain(v, leaf) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v, leaf) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} in a checkpoint")


def _unknown_keys(cfg: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    unknown = sorted(set(cfg) - set(allowed))
    _check(not unknown, f"unknown key(s) {unknown} in {where}; allowed: {sorted(allowed)}")


@dataclass(frozen=True)
class AugmentationSettings:
    """Random augmentation of the training patches: an affine (the papers'), and optionally
    mirroring and intensity changes (ours; off by default, so the presets keep the papers').

    Attributes:
        rotate_deg: Largest rotation about each axis, in degrees.
        scale: Largest relative scaling per axis (0.1 = ±10 %).
        translate: Largest translation per axis, as a fraction of the patch.
        prob: Probability that a patch is transformed by the affine (ivadomed
            transforms every sample; 0 turns the affine off).
        flip_axes: Spatial axes (0-2) each mirrored with probability 0.5, e.g.
            the left-right axis of a sagittal grid.
        intensity_scale: Each input channel multiplied by ``1 + u``, ``u``
            uniform in ``±intensity_scale`` (0 = off).
        intensity_shift: Then each channel shifted by ``u`` uniform in
            ``±intensity_shift`` (intensities are z-scores: 0.1 = a tenth of
            a standard deviation; 0 = off).
        noise_std: Then Gaussian noise of this standard deviation added to
            the inputs (0 = off).
    """

    rotate_deg: float = 5.0
    scale: float = 0.10
    translate: float = 0.03
    prob: float = 1.0
    flip_axes: tuple[int, ...] = ()
    intensity_scale: float = 0.0
    intensity_shift: float = 0.0
    noise_std: float = 0.0

    def __post_init__(self) -> None:
        for name in (
            "rotate_deg",
            "scale",
            "translate",
            "prob",
            "intensity_scale",
            "intensity_shift",
            "noise_std",
        ):
            value = getattr(self, name)
            _check(
                _is_number(value) and value >= 0, f"augmentation.{name} must be a number >= 0, got {value!r}"
            )
        _check(self.prob <= 1, f"augmentation.prob must be at most 1, got {self.prob}")
        _check(self.scale < 1, f"augmentation.scale must be below 1, got {self.scale}")
        _check(
            self.intensity_scale < 1,
            f"augmentation.intensity_scale must be below 1, got {self.intensity_scale}",
        )
        axes = self.flip_axes
        _check(
            isinstance(axes, Sequence)
            and not isinstance(axes, str)
            and all(_is_int(a, 0) and a <= 2 for a in axes)
            and len(set(axes)) == len(axes),
            f"augmentation.flip_axes must list distinct axes 0-2, got {axes!r}",
        )
        object.__setattr__(self, "flip_axes", tuple(axes))

    @property
    def enabled(self) -> bool:
        """Whether any patch is changed at all."""
        intensity = (self.intensity_scale, self.intensity_shift, self.noise_std)
        return self.affine or bool(self.flip_axes) or any(v > 0 for v in intensity)

    @property
    def affine(self) -> bool:
        """Whether any patch is transformed by the random affine."""
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
            ``pos_neg_ratio / (pos_neg_ratio + 1)``), ``classes`` (the same
            share of centres, split evenly among the target classes present
            in the volume, so that a small class such as the tumour core is
            drawn as often as a large one; ``whole`` is not a class of its
            own when other targets are) or ``uniform``.
        pos_neg_ratio: Foreground-to-background ratio of patch centres.
        augmentation: Random augmentation.
        loss: ``dice`` (the papers') or ``dice_bce`` (Dice plus binary
            cross-entropy, :class:`spinetumor.models.losses.DiceBCELoss`).
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
        val_window: ``patch`` (sliding windows of ``patch_size``) or
            ``whole`` (each validation volume, for a cascade's lesion stage
            its crop box, in one window: as a cascade with a window fitted to
            the box predicts, so that the checkpoint is chosen on the
            inference it will serve).
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
    val_window: str = "patch"

    def __post_init__(self) -> None:
        self._normalise()
        self._check_channels()
        for name, allowed in CHOICES.items():
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
            _is_number(self.val_patch_overlap) and 0 <= self.val_patch_overlap < 1,
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
        return to_plain(self)


def training_defaults(*names: str) -> dict[str, Any]:
    """The default values of some training settings, as plain values (lists, dicts).

    Args:
        names: Fields of :class:`TrainingSettings`, in the order wanted.

    Returns:
        ``{name: default}`` in the order of ``names``.
    """
    defaults = TrainingSettings().to_dict()
    return {name: defaults[name] for name in names}
