"""Network specs: the architectures a model may use, checked and completed without torch.

A network is described by a plain mapping (a *spec*), which
:func:`resolve_spec` checks and completes here, without torch or MONAI, so the
workflow can check every model when it starts;
:func:`spinetumor.models.networks.build_network` builds it.

Three architectures, two 3-D ones from MONAI and a 2-D one of our own:

* ``unet``: MONAI's ``UNet`` as used by the Stanford study (channels
  16-256, four stride-2 levels, 3x3x3 kernels).
* ``dynunet``: MONAI's ``DynUNet`` configured as the modified 3-D U-Net of
  Isensee et al. (2017) that Lemay et al. (2021) used: instance norm, leaky
  ReLU, dropout and deep supervision. ``depth`` counts the downsamplings; the
  first level keeps full resolution (stride 1) and each further level halves
  it, with ``base_filters`` doubling per level up to ``max_filters``.
* ``multiresunet``: the 2-D MultiResUNet of Zhuo et al. (2022), run on each
  slice along ``slice_axis`` (:mod:`spinetumor.models.multiresunet`; MONAI
  has none).

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
* ``multiresunet``: ``filters`` [32] (of the first level, doubling per
  level), ``alpha`` [1.67], ``depth`` [4] (poolings of each slice),
  ``slice_axis`` [2] (right-left on the ``SAR`` grids: sagittal slices),
  ``dropout`` [0.0].

This module also names the losses (:data:`LOSSES`) that
:func:`spinetumor.models.losses.build_loss` builds, so that the training
settings can be checked without torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "ARCHITECTURES",
    "LOSSES",
    "NETWORK_DEFAULTS",
    "check_patch_divisible",
    "downsampling_factors",
    "dynunet_filters",
    "resolve_spec",
]

ARCHITECTURES: tuple[str, ...] = ("unet", "dynunet", "multiresunet")

#: Loss names of :func:`spinetumor.models.losses.build_loss`.
LOSSES: tuple[str, ...] = ("dice", "dice_bce")

_COMMON_DEFAULTS: dict[str, Any] = {"architecture": None, "in_channels": None, "out_channels": None}

#: Each architecture's keys and their defaults (besides the common ``architecture`` and channel counts).
NETWORK_DEFAULTS: dict[str, dict[str, Any]] = {
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
    "multiresunet": {"filters": 32, "alpha": 1.67, "depth": 4, "slice_axis": 2, "dropout": 0.0},
}


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


def _resolve_multiresunet(spec: dict[str, Any]) -> dict[str, Any]:
    spec["filters"] = _positive_int(spec["filters"], "filters")
    spec["depth"] = _positive_int(spec["depth"], "depth")
    alpha = spec["alpha"]
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or alpha * spec["filters"] < 6:
        raise ValueError(
            f"network spec: alpha * filters must be a number >= 6 (each of a MultiRes block's three "
            f"convolutions needs a filter), got alpha {alpha!r} with filters {spec['filters']}"
        )
    spec["alpha"] = float(alpha)
    if spec["slice_axis"] not in (0, 1, 2) or isinstance(spec["slice_axis"], bool):
        raise ValueError(f"network spec: slice_axis must be 0, 1 or 2, got {spec['slice_axis']!r}")
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
    allowed = {**_COMMON_DEFAULTS, **NETWORK_DEFAULTS[arch]}
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
    if arch == "multiresunet":
        return _resolve_multiresunet(resolved)
    return _resolve_dynunet(resolved, spec)


def dynunet_filters(spec: Mapping[str, Any]) -> list[int]:
    """Filters per level of a resolved ``dynunet`` spec: ``base_filters`` doubling, capped at ``max_filters``."""
    return [min(spec["base_filters"] * 2**level, spec["max_filters"]) for level in range(spec["depth"] + 1)]


def downsampling_factors(spec: Mapping[str, Any]) -> tuple[int, int, int]:
    """Total downsampling of the network along each spatial axis.

    Args:
        spec: Network spec.

    Returns:
        The product of the strides, per axis (16, 16, 16 for the default
        ``unet`` and for a depth-4 ``dynunet``).
    """
    spec = resolve_spec(spec)
    if spec["architecture"] == "multiresunet":  # each slice pooled depth times; none across slices
        factors = [2 ** spec["depth"]] * 3
        factors[spec["slice_axis"]] = 1
        return (factors[0], factors[1], factors[2])
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
