"""Turn a network's sigmoid probability maps into one ``dseg`` lesion map.

Lemay et al. (2021): threshold at 0.5, fill holes, then remove tumour objects
under 200 mm³ and edema/cavity objects under 500 mm³. Every size is in physical
units (mm³, from the affine), so one setting fits any voxel grid. Objects are
18-connected components, as in the evaluation (:data:`spinetumor.evaluation.lesions.CONNECTIVITY_18`).

The rule, per subject:

1. **Threshold** strictly: a voxel is foreground when ``p > threshold``. A
   sigmoid of exactly 0.5 is a logit of 0, the decision boundary itself, and it
   stays background (an untrained or all-zero network predicts nothing rather
   than everything).
2. **Classes**, by the ``assemble`` setting:

   * ``independent`` (the default, as published): each of tumour, edema and
     cavity is thresholded on its own; a ``whole`` channel, if any, is not
     used for the label map. A voxel above the threshold in several channels
     gets one label by the precedence of step 4 (tumour over cavity over
     edema).
   * ``whole_argmax`` (our own option, not the paper's): with a ``whole``
     channel, that channel decides *where* the lesion is and the class
     channels only decide *what* it is: a voxel is lesion only if
     ``p_whole > threshold`` (after its holes are filled and, if
     ``min_size_mm3.whole`` is set, its small objects removed), and its class
     is the argmax of the tumour/edema/cavity probabilities there, even where
     none of them passes the threshold. The network is trained with
     ``whole`` = union of the classes, so the whole channel is its direct
     answer to the headline question (whole-tumour Dice, detection), and the
     argmax leaves no lesion voxel unlabelled. Argmax ties go to the class of
     highest precedence (tumour, cavity, edema). Without a ``whole`` channel
     this is ``independent``.
3. **Per class**: fill 3D holes (:func:`spinetumor.inference.masks.fill_holes`, same result as
   ``scipy.ndimage.binary_fill_holes``: a hole is background not 6-connected
   to the volume border, the complement of 18-connected objects),
   then remove objects under that class's ``min_size_mm3``. An object exactly
   at the minimum is kept ("objects under 0.2 cm³ are removed").
4. **Merge** into ``dseg`` (1 tumour, 2 edema, 3 cavity); where class masks
   overlap (independent thresholds, or a filled hole covering another class)
   tumour wins over cavity, which wins over edema
   (:data:`spinetumor.data.labels.MERGE_ORDER`).

Voxels that step 3 removes from a class become background, even inside a
larger lesion of another class (the paper's per-class rule).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from spinetumor import LABELS
from spinetumor.data.labels import MERGE_ORDER, merge_structures
from spinetumor.inference.masks import bounding_box, fill_holes, remove_small_objects, voxel_volume_mm3

__all__ = [
    "ASSEMBLY_RULES",
    "CHANNEL_NAMES",
    "CLASS_NAMES",
    "DEFAULT_SETTINGS",
    "PostprocessingSettings",
    "postprocessing_settings",
    "class_masks",
    "postprocess",
]

#: Lesion classes written to a ``dseg`` map (:data:`spinetumor.LABELS`, in label order).
CLASS_NAMES: tuple[str, ...] = tuple(LABELS)
#: Names a network output channel may carry (``whole`` = union of the classes).
CHANNEL_NAMES: tuple[str, ...] = (*CLASS_NAMES, "whole")

#: Lemay et al. (2021) values; the config schema should carry the same defaults.
DEFAULT_SETTINGS: Mapping[str, Any] = MappingProxyType(
    {
        "threshold": 0.5,
        "fill_holes": True,
        "min_size_mm3": MappingProxyType({"tumor": 200.0, "edema": 500.0, "cavity": 500.0, "whole": 0.0}),
        "assemble": "independent",
    }
)

#: How the class masks are formed (module docstring, step 2); the first is the paper's.
ASSEMBLY_RULES: tuple[str, ...] = ("independent", "whole_argmax")

# Argmax order among the classes: ties go to the first, i.e. the class that wins
# overlaps in the merge (MERGE_ORDER paints the winner last).
_PRECEDENCE: tuple[str, ...] = tuple(reversed(MERGE_ORDER))


@dataclass(frozen=True)
class PostprocessingSettings:
    """Validated post-processing settings.

    Attributes:
        threshold: Probability above which (strictly) a voxel is foreground.
        fill_holes: Fill 3D holes in each mask before removing small objects.
        min_size_mm3: Smallest kept object per channel name, in mm³ (0 keeps all).
        assemble: ``independent`` (per-channel thresholds, as published) or
            ``whole_argmax`` (a ``whole`` channel gates the lesion voxels and
            the argmax of the classes labels them).
    """

    threshold: float = 0.5
    fill_holes: bool = True
    min_size_mm3: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_SETTINGS["min_size_mm3"]))
    assemble: str = "independent"


def postprocessing_settings(
    settings: Mapping[str, Any] | PostprocessingSettings | None = None,
) -> PostprocessingSettings:
    """Validate config settings, filling in the defaults.

    Args:
        settings: ``threshold``, ``fill_holes``, ``min_size_mm3`` (per channel
            name; names left out keep :data:`DEFAULT_SETTINGS`) and
            ``assemble`` (:data:`ASSEMBLY_RULES`); None for the defaults.

    Returns:
        The settings as a :class:`PostprocessingSettings`.

    Raises:
        ValueError: an unknown key or class name, or an out-of-range value.
    """
    if isinstance(settings, PostprocessingSettings):
        return settings
    settings = dict(settings or {})
    unknown = sorted(set(settings) - set(DEFAULT_SETTINGS))
    if unknown:
        raise ValueError(f"postprocessing: unknown setting(s) {unknown}; allowed: {sorted(DEFAULT_SETTINGS)}")
    threshold = settings.get("threshold", DEFAULT_SETTINGS["threshold"])
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 <= threshold < 1.0:
        raise ValueError(f"postprocessing.threshold: must be a number in [0, 1), got {threshold!r}")
    fill = settings.get("fill_holes", DEFAULT_SETTINGS["fill_holes"])
    if not isinstance(fill, bool):
        raise ValueError(f"postprocessing.fill_holes: must be true or false, got {fill!r}")
    assemble = settings.get("assemble", DEFAULT_SETTINGS["assemble"])
    if assemble not in ASSEMBLY_RULES:
        raise ValueError(f"postprocessing.assemble: must be one of {list(ASSEMBLY_RULES)}, got {assemble!r}")
    return PostprocessingSettings(
        threshold=float(threshold),
        fill_holes=fill,
        min_size_mm3=_min_sizes(settings.get("min_size_mm3", {})),
        assemble=assemble,
    )


def _min_sizes(given: Any) -> dict[str, float]:
    if not isinstance(given, Mapping):
        raise ValueError(f"postprocessing.min_size_mm3: must map channel names to mm³, got {given!r}")
    unknown = sorted(set(given) - set(CHANNEL_NAMES))
    if unknown:
        raise ValueError(
            f"postprocessing.min_size_mm3: unknown name(s) {unknown}; allowed: {list(CHANNEL_NAMES)}"
        )
    sizes = dict(DEFAULT_SETTINGS["min_size_mm3"])
    for name, value in given.items():
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not np.isfinite(value)
            or value < 0
        ):
            raise ValueError(f"postprocessing.min_size_mm3.{name}: must be a number >= 0, got {value!r}")
        sizes[name] = float(value)
    return sizes


def _clean(mask: np.ndarray, voxel_volume: float, fill: bool, min_size: float) -> np.ndarray:
    if fill:
        mask = fill_holes(mask)
    return remove_small_objects(mask, voxel_volume, min_size)


def _check_channels(probs: np.ndarray, channels: Sequence[str]) -> dict[str, int]:
    if probs.ndim != 4:
        raise ValueError(f"probabilities must be (C, X, Y, Z), got shape {probs.shape}")
    channels = list(channels)
    if len(channels) != probs.shape[0]:
        raise ValueError(
            f"{len(channels)} channel names {channels} for {probs.shape[0]} probability channels"
        )
    unknown = sorted(set(channels) - set(CHANNEL_NAMES))
    if unknown or len(set(channels)) != len(channels):
        raise ValueError(f"channel names must be distinct names among {list(CHANNEL_NAMES)}, got {channels}")
    if not set(channels) & set(CLASS_NAMES):
        raise ValueError(f"no class channel among {channels}: a whole-tumour map alone has no class")
    return {name: index for index, name in enumerate(channels)}


def class_masks(
    probs: np.ndarray,
    channels: Sequence[str],
    settings: PostprocessingSettings,
    voxel_volume: float,
) -> dict[str, np.ndarray]:
    """Binary mask per class present in ``channels``, before per-class cleaning.

    Args:
        probs: ``(C, X, Y, Z)`` probabilities.
        channels: Name of each channel (see :data:`CHANNEL_NAMES`).
        settings: Validated settings.
        voxel_volume: Voxel volume in mm³ (for the whole channel's minimum size).

    Returns:
        ``{class name: bool mask}``: thresholded independently, or gated by the
        cleaned whole mask and split by argmax (``settings.assemble``, module
        docstring, step 2).
    """
    index = _check_channels(probs, channels)
    present = [name for name in _PRECEDENCE if name in index]
    if "whole" not in index or settings.assemble == "independent":
        return {name: probs[index[name]] > settings.threshold for name in present}
    whole = _clean(
        probs[index["whole"]] > settings.threshold,
        voxel_volume,
        settings.fill_holes,
        settings.min_size_mm3["whole"],
    )
    masks = {name: np.zeros(whole.shape, dtype=bool) for name in present}
    if not whole.any():
        return masks
    # The argmax runs inside the whole mask's bounding box only: over a full
    # 512 x 256 x 32 grid it costs more than the rest of the post-processing.
    box = bounding_box(whole)
    winner = np.argmax(np.stack([probs[index[name]][box] for name in present]), axis=0)
    for k, name in enumerate(present):
        masks[name][box] = whole[box] & (winner == k)
    return masks


def postprocess(
    probs: np.ndarray,
    channels: Sequence[str],
    affine: np.ndarray,
    settings: Mapping[str, Any] | PostprocessingSettings | None = None,
) -> np.ndarray:
    """Threshold, fill holes, remove small objects and merge into a ``dseg`` map.

    Args:
        probs: ``(C, X, Y, Z)`` sigmoid probabilities on the grid of ``affine``.
        channels: Name of each channel among ``tumor``, ``edema``, ``cavity``,
            ``whole``, in channel order.
        affine: 4x4 voxel-to-world matrix of that grid (for sizes in mm³).
        settings: See :func:`postprocessing_settings`; None for Lemay et al.'s.

    Returns:
        ``uint8`` map of shape ``(X, Y, Z)``: 0 background, 1 tumour, 2 edema,
        3 cavity (rule: module docstring).

    Raises:
        ValueError: bad shape, channel names or settings.
    """
    probs = np.asarray(probs)
    cfg = postprocessing_settings(settings)
    voxel_volume = voxel_volume_mm3(affine)
    masks = class_masks(probs, channels, cfg, voxel_volume)
    cleaned = {
        name: _clean(mask, voxel_volume, cfg.fill_holes, cfg.min_size_mm3[name])
        for name, mask in masks.items()
    }
    return merge_structures(cleaned, probs.shape[1:])
