"""Turn a dataset's lesion labels into the project's ``dseg`` convention.

Inside the project a segmentation is one ``dseg`` map: 0 background,
1 tumour core, 2 edema, 3 cavity. Datasets that ship one binary file per
structure (the ivadomed convention) are merged; a unit without lesion
labels gets an empty map (validation has checked that it is declared healthy).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from spinetumor import LABELS

__all__ = ["MERGE_ORDER", "merge_structures", "structure_counts", "to_dseg"]

#: Structures painted later win where binary masks overlap: a tumour core
#: inside an edema mask stays tumour, a cyst wall drawn over edema stays cavity.
MERGE_ORDER: tuple[str, ...] = ("edema", "cavity", "tumor")


def merge_structures(masks: Mapping[str, np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    """Merge binary structure masks into a ``dseg`` map.

    Args:
        masks: Structure name (``tumor``, ``edema``, ``cavity``) to mask.
        shape: Shape of the map (for subjects with no mask at all).

    Returns:
        ``uint8`` map with values 0-3; overlaps resolved by :data:`MERGE_ORDER`.

    Raises:
        ValueError: unknown structure name or a mask of another shape.
    """
    unknown = set(masks) - set(LABELS)
    if unknown:
        raise ValueError(f"unknown structures {sorted(unknown)}; expected {sorted(LABELS)}")
    dseg = np.zeros(shape, dtype=np.uint8)
    for name in MERGE_ORDER:
        if name in masks:
            mask = np.asarray(masks[name])
            if mask.shape != tuple(shape):
                raise ValueError(f"{name} mask has shape {mask.shape}, expected {tuple(shape)}")
            dseg[mask > 0] = LABELS[name]
    return dseg


def to_dseg(arrays: Mapping[str, np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    """A unit's lesion labels as one ``dseg`` map.

    Args:
        arrays: Label arrays of the unit's grid, keyed by kind: a ``dseg``
            map (taken as is, rounded) or binary ``tumor``/``edema``/``cavity``
            masks (merged by :func:`merge_structures`); none for a healthy unit.
        shape: Shape of the map.

    Returns:
        ``uint8`` map with values 0-3.
    """
    if "dseg" in arrays:
        return np.rint(arrays["dseg"]).astype(np.uint8)
    return merge_structures(arrays, shape)


def structure_counts(dseg: np.ndarray) -> dict[str, int]:
    """Voxel count per structure of a ``dseg`` map."""
    return {name: int((dseg == value).sum()) for name, value in LABELS.items()}
