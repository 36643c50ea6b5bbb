"""``dseg`` maps as boolean masks, and the input checks every metric shares.

A ``dseg`` map holds 0 (background) and the values of :data:`spinetumor.LABELS`
(1 tumour, 2 edema, 3 cavity); the reported labels are those three and
``whole``, their union.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from spinetumor import LABELS

__all__ = [
    "LABEL_NAMES",
    "VALID_LABEL_VALUES",
    "binary_masks",
    "check_dseg",
    "check_same_shape",
    "check_spacing",
]

#: Row labels, in output order; "whole" is the union of labels 1-3.
LABEL_NAMES: tuple[str, ...] = (*LABELS, "whole")

#: Values allowed in a ``dseg`` map (0 is background).
VALID_LABEL_VALUES: tuple[int, ...] = (0, *sorted(LABELS.values()))


def check_dseg(dseg: np.ndarray, name: str) -> None:
    """Raise if ``dseg`` is not a 3-D map with values in 0..3.

    Args:
        dseg: Label map.
        name: What to call it in the error message (a file name or role).

    Raises:
        ValueError: wrong dimensionality or unexpected label values.
    """
    if dseg.ndim != 3:
        raise ValueError(f"{name}: expected a 3-D label map, got shape {dseg.shape}")
    valid = np.isin(dseg, VALID_LABEL_VALUES)
    if not valid.all():
        bad = np.unique(dseg[~valid])
        shown = ", ".join(repr(v.item()) for v in bad[:5]) + (", ..." if bad.size > 5 else "")
        raise ValueError(f"{name}: label values outside 0..3: {shown}")


def binary_masks(dseg: np.ndarray) -> dict[str, np.ndarray]:
    """Split a ``dseg`` map into one boolean mask per reported label.

    Args:
        dseg: 3-D map with 0 background, 1 tumour, 2 edema, 3 cavity.

    Returns:
        ``{label: mask}`` for every name in ``LABEL_NAMES``, ``whole`` being
        the union of labels 1-3.

    Raises:
        ValueError: ``dseg`` is not 3-D or holds values outside 0..3.
    """
    dseg = np.asarray(dseg)
    check_dseg(dseg, "dseg")
    masks = {name: dseg == value for name, value in LABELS.items()}
    masks["whole"] = dseg > 0
    return {name: masks[name] for name in LABEL_NAMES}


def check_same_shape(pred: np.ndarray, truth: np.ndarray) -> None:
    """Raise unless both masks are 3-D and of the same shape."""
    if pred.ndim != 3 or pred.shape != truth.shape:
        raise ValueError(f"expected two 3-D arrays of the same shape, got {pred.shape} and {truth.shape}")


def check_spacing(spacing: Sequence[float], ndim: int) -> list[float]:
    """Return ``spacing`` as a list of floats after checking length and sign.

    Raises:
        ValueError: wrong length or a non-positive entry.
    """
    values = [float(s) for s in np.asarray(spacing, dtype=float).reshape(-1)]
    if len(values) != ndim or not all(s > 0 for s in values):
        raise ValueError(f"spacing must hold {ndim} positive voxel sizes, got {list(spacing)}")
    return values
