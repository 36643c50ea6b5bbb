"""Inference settings: their defaults (Lemay et al. 2021) and their validation (torch-free).

The workflow can check a model's inference settings when it starts, before any
job imports torch: this module imports only numpy-level code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from spinetumor.inference.postprocessing import CHANNEL_NAMES, PostprocessingSettings, postprocessing_settings
from spinetumor.layout import CONTRASTS
from spinetumor.preprocessing.chains import preset, validate_chain

__all__ = ["CONTRASTS", "InferenceSettings", "inference_settings"]


@dataclass(frozen=True)
class InferenceSettings:
    """Validated inference settings (defaults: Lemay et al. 2021).

    Attributes:
        chain: Preprocessing preset name or step list for the cascade and the
            single-stage ablation (``predict_unet`` takes its chain explicitly).
        stage1_chain: The cascade's stage-1 chain when the cord is localised
            on a grid of its own (a coarse one: the cord's box needs no
            millimetre); None = ``chain``. The box reaches the lesion grid
            through world coordinates.
        stage1_contrasts: Input channels of the cord network, in order.
        stage1_threshold: Cord probability above which (strictly) a voxel is cord.
        stage1_patch_size: Stage-1 window; None = the whole preprocessed volume
            in one patch.
        stage1_largest_component: Keep only the largest connected object of
            the stage-1 mask, so that a stray false positive far from the cord
            does not stretch the crop (ours; the paper keeps the whole mask).
        crop_margin_mm: Margin added around the cord's bounding box, per
            preprocessed axis, in mm (converted with the preprocessed spacing
            and rounded up to whole voxels).
        contrasts: Input channels of the lesion network, in order.
        outputs: Name of each lesion-network output channel, in order.
        patch_size: Lesion-network window; None = the whole volume (a cascade's
            whole crop) in one patch.
        window_multiple: With ``patch_size`` None, a cascade's crop is grown to
            a multiple of this per axis (the network's total stride: 16 for
            four halvings), so one window fitted to the cord's box runs; None
            = whole strides of half the volume.
        overlap: Sliding-window overlap, for all axes or per axis (0.5 gives a
            stride of half a patch; the paper's 64 x 64 x 32 stride for
            128 x 128 x 32 patches is ``(0.5, 0.5, 0.0)``).
        batch_size: Windows per forward pass. 1 keeps the CPU memory peak low
            (batches bring no speed on a CPU); raise it on a GPU. The paper's
            batch of 8 is a training setting.
        blend_mode: ``"constant"`` (plain averaging, the paper's) or ``"gaussian"``.
        device: Torch device for the networks; None = where the model's
            parameters are (CPU for a parameter-free model).
        threads: Torch threads during preprocessing and the networks; None keeps
            the current setting.
        native_probabilities: Also map the probabilities to the native grid
            (linear interpolation).
        postprocessing: See :func:`spinetumor.inference.postprocessing.postprocessing_settings`.
    """

    chain: str | tuple[Mapping[str, Any], ...] = "lemay2021"
    stage1_chain: str | tuple[Mapping[str, Any], ...] | None = None
    stage1_contrasts: tuple[str, ...] = ("T2w",)
    stage1_threshold: float = 0.5
    stage1_patch_size: tuple[int, int, int] | None = None
    stage1_largest_component: bool = False
    crop_margin_mm: tuple[float, float, float] = (5.0, 5.0, 5.0)
    contrasts: tuple[str, ...] = ("T1w", "T2w")
    outputs: tuple[str, ...] = ("tumor", "edema", "cavity", "whole")
    patch_size: tuple[int, int, int] | None = (128, 128, 32)
    window_multiple: tuple[int, int, int] | None = None
    overlap: float | tuple[float, float, float] = 0.5
    batch_size: int = 1
    blend_mode: str = "constant"
    device: str | None = None
    threads: int | None = None
    native_probabilities: bool = False
    postprocessing: PostprocessingSettings = field(default_factory=PostprocessingSettings)

    @property
    def steps(self) -> list[Mapping[str, Any]]:
        """The preprocessing steps of :attr:`chain`."""
        return _steps(self.chain)

    @property
    def stage1_steps(self) -> list[Mapping[str, Any]]:
        """The preprocessing steps of stage 1: :attr:`stage1_chain`, else :attr:`chain`'s."""
        return self.steps if self.stage1_chain is None else _steps(self.stage1_chain)


def _steps(chain: str | Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return preset(chain)["steps"] if isinstance(chain, str) else list(chain)


def inference_settings(settings: Mapping[str, Any] | InferenceSettings | None = None) -> InferenceSettings:
    """Validate config settings, filling in the defaults.

    Args:
        settings: Keys named after the :class:`InferenceSettings` attributes
            (``postprocessing`` as a nested mapping); None for the defaults.

    Returns:
        The validated settings.

    Raises:
        ValueError: unknown key, or a value of the wrong type or range (the
            message names the key).
    """
    if isinstance(settings, InferenceSettings):
        return settings
    given = dict(settings or {})
    known = {f.name for f in fields(InferenceSettings)}
    unknown = sorted(set(given) - known)
    if unknown:
        raise ValueError(f"inference: unknown setting(s) {unknown}; allowed: {sorted(known)}")
    cfg = replace(InferenceSettings(), **given)
    cfg = replace(
        cfg,
        chain=_chain(cfg.chain),
        stage1_chain=None if cfg.stage1_chain is None else _chain(cfg.stage1_chain),
        stage1_contrasts=_names("stage1_contrasts", cfg.stage1_contrasts, CONTRASTS),
        contrasts=_names("contrasts", cfg.contrasts, CONTRASTS),
        outputs=_names("outputs", cfg.outputs, CHANNEL_NAMES),
        stage1_patch_size=None
        if cfg.stage1_patch_size is None
        else _triple("stage1_patch_size", cfg.stage1_patch_size, int, 1),
        patch_size=None if cfg.patch_size is None else _triple("patch_size", cfg.patch_size, int, 1),
        window_multiple=None
        if cfg.window_multiple is None
        else _triple("window_multiple", cfg.window_multiple, int, 1),
        crop_margin_mm=_triple("crop_margin_mm", cfg.crop_margin_mm, float, 0.0),
        overlap=cfg.overlap
        if isinstance(cfg.overlap, (int, float))
        else _triple("overlap", cfg.overlap, float, 0.0),
        postprocessing=postprocessing_settings(cfg.postprocessing),
    )
    _check_scalars(cfg)
    return cfg


def _triple(name: str, value: Any, kind: type, minimum: float) -> tuple[Any, Any, Any]:
    values = [value] * 3 if isinstance(value, (int, float)) and not isinstance(value, bool) else value
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) != 3:
        raise ValueError(f"inference.{name}: must be three numbers, got {value!r}")
    for v in values:
        if (
            isinstance(v, bool)
            or not isinstance(v, (int, float))
            or (kind is int and v != int(v))
            or v < minimum
        ):
            raise ValueError(
                f"inference.{name}: entries must be {kind.__name__}s >= {minimum}, got {value!r}"
            )
    return tuple(kind(v) for v in values)  # type: ignore[return-value]


def _names(name: str, value: Any, allowed: Sequence[str]) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise ValueError(f"inference.{name}: must be a non-empty list, got {value!r}")
    if len(set(value)) != len(value) or not set(value) <= set(allowed):
        raise ValueError(f"inference.{name}: must be distinct names among {list(allowed)}, got {list(value)}")
    return tuple(value)


def _chain(value: Any) -> str | tuple[Mapping[str, Any], ...]:
    if isinstance(value, str):
        preset(value)  # raises on an unknown preset name
        return value
    steps = value["steps"] if isinstance(value, Mapping) and "steps" in value else value
    validate_chain(steps)
    return tuple(steps)


def _check_number(name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value < high:
        raise ValueError(f"inference.{name}: must be a number in [{low}, {high}), got {value!r}")
    return float(value)


def _check_scalars(cfg: InferenceSettings) -> None:
    _check_number("stage1_threshold", cfg.stage1_threshold, 0.0, 1.0)
    for value in cfg.overlap if isinstance(cfg.overlap, tuple) else (cfg.overlap,):
        _check_number("overlap", value, 0.0, 1.0)
    if isinstance(cfg.batch_size, bool) or not isinstance(cfg.batch_size, int) or cfg.batch_size < 1:
        raise ValueError(f"inference.batch_size: must be a positive integer, got {cfg.batch_size!r}")
    if cfg.threads is not None and (not isinstance(cfg.threads, int) or cfg.threads < 1):
        raise ValueError(f"inference.threads: must be a positive integer or null, got {cfg.threads!r}")
    if cfg.blend_mode not in ("constant", "gaussian"):
        raise ValueError(f"inference.blend_mode: must be 'constant' or 'gaussian', got {cfg.blend_mode!r}")
    if not isinstance(cfg.stage1_largest_component, bool):
        raise ValueError(
            f"inference.stage1_largest_component: must be true or false, got {cfg.stage1_largest_component!r}"
        )
    if not isinstance(cfg.native_probabilities, bool):
        raise ValueError(
            f"inference.native_probabilities: must be true or false, got {cfg.native_probabilities!r}"
        )
