"""Turn a dataset's lesion labels into the project's ``dseg`` convention.

Inside the project a segmentation is one ``dseg`` map: 0 background,
1 tumour core, 2 edema, 3 cavity. Datasets that ship one binary file per
structure (the ivadomed convention) are merged; a unit without lesion
labels gets an empty map (validation has checked that it is declared healthy).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from spinetumor import LABELS
from spinetumor.io import load_nifti, save_nifti

__all__ = ["MERGE_ORDER", "merge_structures", "standardize_labels"]

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


def standardize_labels(
    t2w: str | Path, label_files: Mapping[str, str], out_path: str | Path
) -> dict[str, int]:
    """Write a unit's lesion labels as one ``dseg`` map on the T2w grid.

    Args:
        t2w: The T2w image (defines the grid; validation has checked that
            every label shares it).
        label_files: Files found for the unit; ``dseg`` takes precedence over
            ``tumor``/``edema``/``cavity``; other keys are ignored.
        out_path: Destination ``..._dseg.nii.gz``.

    Returns:
        Voxel count per structure in the written map.
    """
    ref = load_nifti(t2w)
    shape = ref.shape[:3]
    if "dseg" in label_files:
        data = np.asanyarray(load_nifti(label_files["dseg"]).dataobj).reshape(shape)
        dseg = np.rint(data).astype(np.uint8)
    else:
        masks = {
            name: np.asanyarray(load_nifti(path).dataobj).reshape(shape)
            for name, path in label_files.items()
            if name in LABELS
        }
        dseg = merge_structures(masks, shape)
    save_nifti(dseg, ref.affine, out_path, dtype=np.uint8)
    return {name: int((dseg == value).sum()) for name, value in LABELS.items()}
