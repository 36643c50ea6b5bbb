"""Segmentation networks and their loss, built from a config mapping.

Two architectures, both 3-D and both from MONAI:

* ``unet``: MONAI's ``UNet`` as used by the Stanford study (channels
  16-256, four stride-2 levels, 3x3x3 kernels).
* ``dynunet``: MONAI's ``DynUNet`` configured as the modified 3-D U-Net of
  Isensee et al. (2017) that Lemay et al. (2021) used: instance norm, leaky
  ReLU, dropout and deep supervision. ``depth`` counts the downsamplings; the
  first level keeps full resolution (stride 1) and each further level halves
  it, with ``base_filters`` doubling per level up to ``max_filters``.

Keys of a network spec (defaults in brackets):

* common: ``architecture`` (``unet`` | ``dynunet``), ``in_channels`` and
  ``out_channels`` (required), ``dropout`` [0.0 for ``unet``, 0.3 for
  ``dynunet``, Isensee's rate].
* ``unet``: ``channels`` [16, 32, 64, 128, 256], ``strides`` [2, 2, 2, 2]
  (one fewer than ``channels``; an entry may be a per-axis list),
  ``kernel_size`` [3], ``up_kernel_size`` [3], ``num_res_units`` [0].
* ``dynunet``: ``depth`` [4], ``base_filters`` [16], ``max_filters`` [320],
  ``deep_supervision`` [true], ``deep_supr_num`` [``max(1, depth - 2)``:
  the two lowest decoder levels of a depth-4 network, as in Isensee's
  design], ``res_block`` [false], and for anisotropic designs ``strides``
  and ``kernel_size`` (``depth + 1`` entries, each an int or a per-axis list;
  default strides ``[1, 2, 2, ...]``, kernels 3).

In training mode a deeply supervised ``DynUNet`` returns its heads stacked on
dimension 1 (``B, heads, C, X, Y, Z``), all upsampled to the output size; in
eval mode it returns the main head only. :class:`DeepSupervisionDiceLoss`
takes either form.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from monai.losses import DeepSupervisionLoss, DiceLoss
from monai.networks.nets import DynUNet, UNet

__all__ = [
    "ARCHITECTURES",
    "DeepSupervisionDiceLoss",
    "LOSSES",
    "DiceBCELoss",
    "build_loss",
    "build_network",
    "check_patch_divisible",
    "downsampling_factors",
    "head_weights",
    "resolve_spec",
]

ARCHITECTURES: tuple[str, ...] = ("unet", "dynunet")

_COMMON_DEFAULTS: dict[str, Any] = {"architecture": None, "in_channels": None, "out_channels": None}

_DEFAULTS: dict[str, dict[str, Any]] = {
    "unet": {
        "channels": [16, 32, 64, 128, 256],
        "strides": [2, 2, 2, 2],
        "kernel_size": 3,
        "up_kernel_size": 3,
        "num_res_units": 0,
        "dropout": 0.0,
    },
    "dynunet": {
        "depth": 4,
        "base_filters": 16,
        "max_filters": 320,
        "dropout": 0.3,
        "deep_supervision": True,
        "deep_supr_num": None,
        "res_block": False,
        "strides": None,
        "kernel_size": None,
    },
}


# --------------------------------------------------------------------------- spec


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"network spec: {name} must be a positive integer, got {value!r}")
    return value


def _per_axis(value: Any, name: str) -> list[int] | int:
    """An int, or a list of 3 positive ints (one per spatial axis)."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != 3:
            raise ValueError(f"network spec: {name} must be an int or 3 ints, got {value!r}")
        return [_positive_int(v, name) for v in value]
    return _positive_int(value, name)


def _level_list(value: Any, name: str, length: int) -> list[list[int] | int]:
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != length:
        raise ValueError(f"network spec: {name} must list {length} entries (one per level), got {value!r}")
    return [_per_axis(v, f"{name}[{i}]") for i, v in enumerate(value)]


def _dropout(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"network spec: dropout must be a number in [0, 1), got {value!r}")
    return float(value)


def _resolve_unet(spec: dict[str, Any]) -> dict[str, Any]:
    channels = spec["channels"]
    if not isinstance(channels, Sequence) or isinstance(channels, str) or len(channels) < 2:
        raise ValueError(f"network spec: channels must list at least 2 ints, got {channels!r}")
    spec["channels"] = [_positive_int(c, "channels") for c in channels]
    spec["strides"] = _level_list(spec["strides"], "strides", len(channels) - 1)
    spec["kernel_size"] = _per_axis(spec["kernel_size"], "kernel_size")
    spec["up_kernel_size"] = _per_axis(spec["up_kernel_size"], "up_kernel_size")
    units = spec["num_res_units"]
    if isinstance(units, bool) or not isinstance(units, int) or units < 0:
        raise ValueError(f"network spec: num_res_units must be an integer >= 0, got {units!r}")
    return spec


def _resolve_dynunet(spec: dict[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    if "depth" not in given and spec["strides"] is not None and isinstance(spec["strides"], Sequence):
        spec["depth"] = len(spec["strides"]) - 1
    depth = _positive_int(spec["depth"], "depth")
    if depth < 2:
        raise ValueError(
            f"network spec: dynunet needs depth >= 2 (MONAI DynUNet has >= 3 levels), got {depth}"
        )
    levels = depth + 1
    spec["base_filters"] = _positive_int(spec["base_filters"], "base_filters")
    spec["max_filters"] = _positive_int(spec["max_filters"], "max_filters")
    spec["strides"] = _level_list(spec["strides"] or [1] + [2] * depth, "strides", levels)
    spec["kernel_size"] = _level_list(spec["kernel_size"] or [3] * levels, "kernel_size", levels)
    if not isinstance(spec["deep_supervision"], bool):
        raise ValueError(
            f"network spec: deep_supervision must be true or false, got {spec['deep_supervision']!r}"
        )
    if not isinstance(spec["res_block"], bool):
        raise ValueError(f"network spec: res_block must be true or false, got {spec['res_block']!r}")
    if spec["deep_supr_num"] is None:
        spec["deep_supr_num"] = max(1, depth - 2)
    supr = _positive_int(spec["deep_supr_num"], "deep_supr_num")
    if supr > depth - 1:
        raise ValueError(f"network spec: deep_supr_num must be at most depth - 1 = {depth - 1}, got {supr}")
    return spec


def resolve_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Check a network spec and fill in its defaults.

    Args:
        spec: The network section of the config (see the module docstring).

    Returns:
        A new dict with every key of the architecture, in plain types (lists,
        ints, floats, bools), fit for a checkpoint.

    Raises:
        ValueError: unknown architecture, unknown key, missing channel count or
            a value of the wrong type or range.
    """
    if not isinstance(spec, Mapping):
        raise ValueError(f"network spec must be a mapping, got {type(spec).__name__}")
    arch = spec.get("architecture")
    if arch not in ARCHITECTURES:
        raise ValueError(
            f"network spec: unknown architecture {arch!r}; expected one of {list(ARCHITECTURES)}"
        )
    allowed = {**_COMMON_DEFAULTS, **_DEFAULTS[arch]}
    unknown = sorted(set(spec) - set(allowed))
    if unknown:
        raise ValueError(
            f"network spec: unknown key(s) {unknown} for architecture {arch!r}; allowed: {sorted(allowed)}"
        )
    resolved = {**allowed, **dict(spec)}
    for key in ("in_channels", "out_channels"):
        if resolved[key] is None:
            raise ValueError(f"network spec: {key} is required")
        _positive_int(resolved[key], key)
    resolved["dropout"] = _dropout(resolved["dropout"])
    if arch == "unet":
        return _resolve_unet(resolved)
    return _resolve_dynunet(resolved, spec)


def _dynunet_filters(spec: Mapping[str, Any]) -> list[int]:
    return [min(spec["base_filters"] * 2**level, spec["max_filters"]) for level in range(spec["depth"] + 1)]


def build_network(spec: Mapping[str, Any]) -> torch.nn.Module:
    """Build the 3-D segmentation network that ``spec`` describes.

    Args:
        spec: Network spec (see the module docstring); defaults are filled in.

    Returns:
        An untrained MONAI ``UNet`` or ``DynUNet`` (outputs are logits).

    Raises:
        ValueError: the spec is invalid (see :func:`resolve_spec`).
    """
    spec = resolve_spec(spec)
    if spec["architecture"] == "unet":
        return UNet(
            spatial_dims=3,
            in_channels=spec["in_channels"],
            out_channels=spec["out_channels"],
            channels=spec["channels"],
            strides=spec["strides"],
            kernel_size=spec["kernel_size"],
            up_kernel_size=spec["up_kernel_size"],
            num_res_units=spec["num_res_units"],
            dropout=spec["dropout"],
        )
    return DynUNet(
        spatial_dims=3,
        in_channels=spec["in_channels"],
        out_channels=spec["out_channels"],
        kernel_size=spec["kernel_size"],
        strides=spec["strides"],
        upsample_kernel_size=spec["strides"][1:],
        filters=_dynunet_filters(spec),
        dropout=spec["dropout"] or None,
        norm_name=("INSTANCE", {"affine": True}),
        act_name=("leakyrelu", {"inplace": True, "negative_slope": 0.01}),
        deep_supervision=spec["deep_supervision"],
        deep_supr_num=spec["deep_supr_num"],
        res_block=spec["res_block"],
    )


def downsampling_factors(spec: Mapping[str, Any]) -> tuple[int, int, int]:
    """Total downsampling of the network along each spatial axis.

    Args:
        spec: Network spec.

    Returns:
        The product of the strides, per axis (16, 16, 16 for the default
        ``unet`` and for a depth-4 ``dynunet``).
    """
    spec = resolve_spec(spec)
    factors = [1, 1, 1]
    for stride in spec["strides"]:
        per_axis = stride if isinstance(stride, list) else [stride] * 3
        factors = [f * s for f, s in zip(factors, per_axis)]
    return (factors[0], factors[1], factors[2])


def check_patch_divisible(spec: Mapping[str, Any], patch_shape: Sequence[int]) -> None:
    """Raise unless every patch axis is a multiple of the network's downsampling.

    Args:
        spec: Network spec.
        patch_shape: Spatial patch size (3 ints).

    Raises:
        ValueError: wrong number of axes, or an axis not divisible.
    """
    if len(patch_shape) != 3:
        raise ValueError(f"patch shape must have 3 axes, got {tuple(patch_shape)}")
    factors = downsampling_factors(spec)
    bad = [axis for axis, (size, f) in enumerate(zip(patch_shape, factors)) if size < 1 or size % f]
    if bad:
        raise ValueError(
            f"patch shape {tuple(patch_shape)} is not divisible by the network's total downsampling "
            f"{factors} along axis {bad}"
        )


# --------------------------------------------------------------------------- loss


def head_weights(n_heads: int) -> list[float]:
    """Deep-supervision weights: halving from the main head on, summing to 1.

    Args:
        n_heads: Number of outputs (main head first).

    Returns:
        ``[1, 1/2, 1/4, ...]`` normalised; ``[1.0]`` for one head.
    """
    raw = [0.5**i for i in range(max(1, n_heads))]
    total = math.fsum(raw)
    return [w / total for w in raw]


class DeepSupervisionDiceLoss(torch.nn.Module):
    """A loss on one output, or a weighted sum over stacked deep-supervision heads.

    A prediction with one more dimension than the target is read as heads
    stacked on dimension 1 (``DynUNet`` in training mode); each head is
    compared with the target (resized with nearest neighbour by MONAI's
    ``DeepSupervisionLoss`` when its size differs) and the losses are summed
    with :func:`head_weights`.

    Args:
        loss: Loss of one output against the target (e.g. ``DiceLoss``).
    """

    def __init__(self, loss: torch.nn.Module) -> None:
        super().__init__()
        self.loss = loss

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Loss of ``output`` (``B,C,...`` or ``B,heads,C,...``) against ``target`` (``B,C,...``)."""
        if output.ndim == target.ndim:
            return self.loss(output.float(), target)
        if output.ndim != target.ndim + 1:
            raise ValueError(
                f"output shape {tuple(output.shape)} does not fit target shape {tuple(target.shape)}"
            )
        heads = list(output.unbind(dim=1))
        return DeepSupervisionLoss(self.loss, weights=head_weights(len(heads)))(heads, target)


#: Loss names of :func:`build_loss`.
LOSSES: tuple[str, ...] = ("dice", "dice_bce")


class DiceBCELoss(torch.nn.Module):
    """Dice loss plus the mean binary cross-entropy of every channel.

    The pairing nnU-Net uses, in its multi-label (sigmoid) form: the
    cross-entropy term gives every voxel a gradient from the first step on,
    where a Dice loss alone learns slowly while the foreground is a few
    percent of the patch. The papers used Dice alone (``dice``).

    Args:
        dice: The Dice loss.
        sigmoid: Whether the inputs are logits (else probabilities).
    """

    def __init__(self, dice: torch.nn.Module, sigmoid: bool) -> None:
        super().__init__()
        self.dice = dice
        self.bce = torch.nn.BCEWithLogitsLoss() if sigmoid else torch.nn.BCELoss()

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Dice plus cross-entropy of ``output`` against ``target`` (same shape)."""
        return self.dice(output, target) + self.bce(output, target.to(output.dtype))


def build_loss(
    *, kind: str = "dice", batch: bool = True, smooth: float = 1.0, sigmoid: bool = True
) -> DeepSupervisionDiceLoss:
    """Multi-label Dice loss (the mean of the per-channel Dice losses), optionally plus cross-entropy.

    Args:
        kind: ``dice`` (the papers') or ``dice_bce`` (:class:`DiceBCELoss`).
        batch: Pool the voxels of the whole batch per channel before taking
            the ratio (ivadomed's Dice, as in Lemay et al.), rather than
            averaging per-sample ratios.
        smooth: Added to numerator and denominator (ivadomed uses 1).
        sigmoid: Apply a sigmoid to the prediction first (false for
            probabilities).

    Returns:
        The loss, which accepts plain or stacked deep-supervision outputs.
    """
    if kind not in LOSSES:
        raise ValueError(f"loss must be one of {list(LOSSES)}, got {kind!r}")
    dice = DiceLoss(sigmoid=sigmoid, batch=batch, smooth_nr=smooth, smooth_dr=smooth, reduction="mean")
    return DeepSupervisionDiceLoss(dice if kind == "dice" else DiceBCELoss(dice, sigmoid))
