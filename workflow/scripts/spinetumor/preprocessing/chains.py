"""Preprocessing chains as data: the shipped presets and their validation.

Kept apart from the modules that run a chain (they need PyTorch and MONAI)
so that the workflow can check a study's chains when it starts, cheaply.

Step names and parameters (defaults in brackets):

* ``reorient``: ``axcodes`` (three letters, one of L/R, one of A/P, one of
  S/I; nibabel convention, e.g. ``SAR``: axis 0 points to S).
* ``resample``: ``spacing_mm`` (three positive voxel sizes, per output axis).
* ``resize``: ``shape`` (three ints; ``-1`` keeps that axis),
  ``anti_aliasing`` [false] (Gaussian smoothing of images before downsampling).
* ``crop_pad``: ``shape`` (three ints); centred crop and/or zero padding.
* ``pad``: ``shape`` (three ints); centred zero padding only, axes already at
  least as large are left alone.
* ``gamma``: ``gamma`` (positive); ``x' = ((x-min)/(max-min))**gamma *
  (max-min) + min``.
* ``n4``: ``shrink_factor`` [4], ``iterations`` [[50, 50, 30]] (one entry per
  fitting level), ``convergence`` [0.001], ``mask`` ["otsu" | "nonzero"].
* ``scale_intensity``: ``minv`` [0.0], ``maxv`` [1.0]; min-max scaling.
* ``zscore``: ``nonzero`` [false]; statistics over non-zero voxels only when true.
* ``clip_percentiles``: ``lower`` [0.5], ``upper`` [99.5], ``nonzero`` [false].
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

__all__ = ["RAS_LABELS", "STEP_NAMES", "SPATIAL_STEPS", "preset", "validate_chain", "normalise_chain"]

logger = logging.getLogger(__name__)

#: Axis labels of the RAS+ convention (nibabel's, and MONAI's when spelled out).
RAS_LABELS: tuple[tuple[str, str], ...] = (("L", "R"), ("P", "A"), ("I", "S"))

_PRESETS: dict[str, dict[str, Any]] = {
    # Lemay et al. 2021: SAR = axis 0 toward S (S-I), axis 1 toward A (A-P), axis 2
    # toward R (R-L); 1 x 1 x 2 mm; z-score *before* the zero padding so that the
    # padding does not enter the statistics.
    "lemay2021": {
        "steps": [
            {"name": "reorient", "axcodes": "SAR"},
            {"name": "resample", "spacing_mm": [1.0, 1.0, 2.0]},
            {"name": "zscore", "nonzero": False},
            {"name": "crop_pad", "shape": [512, 256, 32]},
        ]
    },
    # Ours, for the `fastcascade` model's cord stage: lemay2021 on a coarse grid, 2 x 2 x 4 mm,
    # over the same 512 x 256 x 64 mm field of view (the cord's box needs no millimetre).
    "cordcoarse": {
        "steps": [
            {"name": "reorient", "axcodes": "SAR"},
            {"name": "resample", "spacing_mm": [2.0, 2.0, 4.0]},
            {"name": "zscore", "nonzero": False},
            {"name": "crop_pad", "shape": [256, 128, 16]},
        ]
    },
    # Stanford 2023 (MONAI-style): gamma, N4, [0, 1] scaling, resize, padding. The
    # gamma value is not reported; 1.5 is our documented choice. The matrix needs a
    # known orientation, hence reorient first (no interpolation). The sagittal
    # plane is resized to 128 x 128 while the R-L slices are kept (no interpolation
    # across thick slices) and zero-padded to 32, a multiple of the U-Net's total
    # stride of 16. Cases with more than 32 R-L slices keep their count (pad never crops).
    "stanford2023": {
        "steps": [
            {"name": "reorient", "axcodes": "SAR"},
            {"name": "gamma", "gamma": 1.5},
            {
                "name": "n4",
                "shrink_factor": 4,
                "iterations": [50, 50, 30],
                "convergence": 0.001,
                "mask": "otsu",
            },
            {"name": "scale_intensity", "minv": 0.0, "maxv": 1.0},
            {"name": "resize", "shape": [128, 128, -1], "anti_aliasing": False},
            {"name": "pad", "shape": [128, 128, 32]},
        ]
    },
    # Zhuo et al. 2022 segment sagittal T2w slices in 2-D: the sagittal plane is resized to
    # 256 x 256 and the acquired R-L slices are kept as they are (no interpolation across
    # slices); z-score. The paper's in-plane matrix is not reported; 256 is our documented choice.
    "zhuo2022": {
        "steps": [
            {"name": "reorient", "axcodes": "SAR"},
            {"name": "resize", "shape": [256, 256, -1], "anti_aliasing": True},
            {"name": "zscore", "nonzero": False},
        ]
    },
}


# --------------------------------------------------------------------------- #
# Chain validation
# --------------------------------------------------------------------------- #
_REQUIRED = object()


@dataclass(frozen=True)
class _Param:
    check: Callable[[str, Any], Any]
    default: Any = _REQUIRED


@dataclass(frozen=True)
class _StepSpec:
    kind: Literal["spatial", "intensity"]
    params: Mapping[str, _Param]
    check_all: Callable[[str, dict[str, Any]], None] | None = None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _check_axcodes(where: str, value: Any) -> str:
    if not isinstance(value, str) or len(value) != 3:
        raise ValueError(f"{where}: axcodes must be a 3-letter string such as 'SAR', got {value!r}")
    codes = value.upper()
    for pair in RAS_LABELS:
        if sum(code in pair for code in codes) != 1:
            raise ValueError(f"{where}: axcodes {value!r} must use exactly one of {pair[0]}/{pair[1]}")
    return codes


def _check_positive_float(where: str, value: Any) -> float:
    if not _is_number(value) or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{where}: must be a positive number, got {value!r}")
    return float(value)


def _check_float(where: str, value: Any) -> float:
    if not _is_number(value) or not np.isfinite(value):
        raise ValueError(f"{where}: must be a finite number, got {value!r}")
    return float(value)


def _check_percent(where: str, value: Any) -> float:
    number = _check_float(where, value)
    if not 0.0 <= number <= 100.0:
        raise ValueError(f"{where}: must lie in [0, 100], got {value!r}")
    return number


def _check_bool(where: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{where}: must be true or false, got {value!r}")
    return value


def _check_positive_int(where: str, value: Any) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{where}: must be a positive integer, got {value!r}")
    return int(value)


def _check_sequence(where: str, value: Any, length: int | None) -> list[Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValueError(f"{where}: must be a list, got {value!r}")
    if length is not None and len(value) != length:
        raise ValueError(f"{where}: must have {length} entries, got {len(value)}")
    if not value:
        raise ValueError(f"{where}: must not be empty")
    return list(value)


def _check_spacing(where: str, value: Any) -> list[float]:
    return [_check_positive_float(f"{where}[{i}]", v) for i, v in enumerate(_check_sequence(where, value, 3))]


def _check_shape(where: str, value: Any) -> list[int]:
    return [_check_positive_int(f"{where}[{i}]", v) for i, v in enumerate(_check_sequence(where, value, 3))]


def _check_shape_or_keep(where: str, value: Any) -> list[int]:
    items = _check_sequence(where, value, 3)
    return [
        -1 if v == -1 and not isinstance(v, bool) else _check_positive_int(f"{where}[{i}]", v)
        for i, v in enumerate(items)
    ]


def _check_iterations(where: str, value: Any) -> list[int]:
    items = _check_sequence(where, value, None)
    return [_check_positive_int(f"{where}[{i}]", v) for i, v in enumerate(items)]


def _choice(*options: str) -> Callable[[str, Any], str]:
    def check(where: str, value: Any) -> str:
        if value not in options:
            raise ValueError(f"{where}: must be one of {list(options)}, got {value!r}")
        return str(value)

    return check


def _check_min_below_max(where: str, params: dict[str, Any]) -> None:
    if params["minv"] >= params["maxv"]:
        raise ValueError(f"{where}: minv ({params['minv']}) must be below maxv ({params['maxv']})")


def _check_lower_below_upper(where: str, params: dict[str, Any]) -> None:
    if params["lower"] >= params["upper"]:
        raise ValueError(f"{where}: lower ({params['lower']}) must be below upper ({params['upper']})")


_STEPS: dict[str, _StepSpec] = {
    "reorient": _StepSpec("spatial", {"axcodes": _Param(_check_axcodes)}),
    "resample": _StepSpec("spatial", {"spacing_mm": _Param(_check_spacing)}),
    "resize": _StepSpec(
        "spatial",
        {"shape": _Param(_check_shape_or_keep), "anti_aliasing": _Param(_check_bool, False)},
    ),
    "crop_pad": _StepSpec("spatial", {"shape": _Param(_check_shape)}),
    "pad": _StepSpec("spatial", {"shape": _Param(_check_shape)}),
    "gamma": _StepSpec("intensity", {"gamma": _Param(_check_positive_float)}),
    "n4": _StepSpec(
        "intensity",
        {
            "shrink_factor": _Param(_check_positive_int, 4),
            "iterations": _Param(_check_iterations, [50, 50, 30]),
            "convergence": _Param(_check_positive_float, 0.001),
            "mask": _Param(_choice("otsu", "nonzero"), "otsu"),
        },
    ),
    "scale_intensity": _StepSpec(
        "intensity",
        {"minv": _Param(_check_float, 0.0), "maxv": _Param(_check_float, 1.0)},
        _check_min_below_max,
    ),
    "zscore": _StepSpec("intensity", {"nonzero": _Param(_check_bool, False)}),
    "clip_percentiles": _StepSpec(
        "intensity",
        {
            "lower": _Param(_check_percent, 0.5),
            "upper": _Param(_check_percent, 99.5),
            "nonzero": _Param(_check_bool, False),
        },
        _check_lower_below_upper,
    ),
}

#: Every step name a chain may use.
STEP_NAMES: tuple[str, ...] = tuple(_STEPS)
#: Steps that change the grid (the others change intensities only).
SPATIAL_STEPS: frozenset[str] = frozenset(name for name, spec in _STEPS.items() if spec.kind == "spatial")


def preset(name: str) -> dict[str, Any]:
    """Return a published method's preprocessing chain as a config dict.

    Args:
        name: ``"lemay2021"``, ``"stanford2023"``, ``"zhuo2022"`` or ``"cordcoarse"`` (ours).

    Returns:
        A deep copy of ``{"steps": [...]}``, safe to modify.

    Raises:
        ValueError: ``name`` is not a known preset.
    """
    if name not in _PRESETS:
        raise ValueError(f"unknown preprocessing preset {name!r}; choose one of {sorted(_PRESETS)}")
    return copy.deepcopy(_PRESETS[name])


def _as_step_list(chain: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> Sequence[Any]:
    # A preset dict ({"steps": [...]}) is accepted wherever a step list is.
    if isinstance(chain, Mapping):
        if "steps" not in chain:
            raise ValueError(f"a chain mapping needs a 'steps' list, got keys {sorted(chain)}")
        chain = chain["steps"]
    if isinstance(chain, (str, bytes)) or not isinstance(chain, Sequence):
        raise ValueError(f"preprocessing steps must be a list of mappings, got {type(chain).__name__}")
    return chain


def _normalise_step(index: int, step: Any) -> dict[str, Any]:
    if not isinstance(step, Mapping):
        raise ValueError(f"step {index}: must be a mapping with a 'name', got {step!r}")
    name = step.get("name")
    if not isinstance(name, str) or name not in _STEPS:
        raise ValueError(f"step {index}: unknown step name {name!r}; known steps: {list(STEP_NAMES)}")
    spec = _STEPS[name]
    where = f"step {index} ({name})"
    unknown = sorted(set(step) - set(spec.params) - {"name"})
    if unknown:
        raise ValueError(f"{where}: unknown parameter(s) {unknown}; allowed: {sorted(spec.params)}")
    params: dict[str, Any] = {}
    for key, param in spec.params.items():
        if key in step:
            params[key] = param.check(f"{where}.{key}", step[key])
        elif param.default is _REQUIRED:
            raise ValueError(f"{where}: missing required parameter {key!r}")
        else:
            params[key] = copy.deepcopy(param.default)
    if spec.check_all is not None:
        spec.check_all(where, params)
    return {"name": name, **params}


def normalise_chain(chain: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> list[dict[str, Any]]:
    """Check a chain and spell out every step's parameters (defaults filled in, values converted).

    Args:
        chain: List of ``{"name": ..., **params}`` mappings, or a preset dict
            with a ``"steps"`` list.

    Returns:
        One ``{"name": ..., **params}`` dict per step, with every parameter.

    Raises:
        ValueError: as :func:`validate_chain`.
    """
    steps = [_normalise_step(i, step) for i, step in enumerate(_as_step_list(chain))]
    _warn_about_order(steps)
    return steps


def _warn_about_order(steps: Sequence[Mapping[str, Any]]) -> None:
    # Legal but usually unintended orders: the statistics then include padding.
    padded = False
    for index, step in enumerate(steps):
        if step["name"] in ("crop_pad", "pad"):
            padded = True
        elif padded and step["name"] in ("zscore", "scale_intensity", "clip_percentiles", "n4", "gamma"):
            logger.warning(
                "step %d (%s) runs after zero padding: padded voxels enter its statistics",
                index,
                step["name"],
            )


def validate_chain(steps: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> None:
    """Check a preprocessing chain without running it.

    Args:
        steps: List of ``{"name": ..., **params}`` mappings (or a preset dict
            with a ``"steps"`` list).

    Raises:
        ValueError: a step name is unknown, a parameter is unknown, missing or
            out of range; the message names the step index and parameter.
    """
    normalise_chain(steps)
