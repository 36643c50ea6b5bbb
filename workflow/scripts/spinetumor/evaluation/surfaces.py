"""Surface distances via MONAI: 95th-percentile Hausdorff distance and surface Dice at 1 mm.

torch and MONAI are imported inside :func:`surface_metrics` only: they take
seconds to load and nothing else here needs them.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from spinetumor.evaluation.masks import check_same_shape, check_spacing

if TYPE_CHECKING:
    import torch

__all__ = ["SURFACE_TOLERANCE_MM", "surface_metrics"]

#: Surface Dice tolerance (mm).
SURFACE_TOLERANCE_MM: float = 1.0


def _finite_or_none(value: torch.Tensor) -> float | None:
    """A one-element tensor as a float, or ``None`` if it is NaN or infinite."""
    number = float(value.reshape(-1)[0])
    return number if math.isfinite(number) else None


def surface_metrics(pred: np.ndarray, truth: np.ndarray, spacing: Sequence[float]) -> dict[str, float | None]:
    """95th-percentile Hausdorff distance and surface Dice at 1 mm, via MONAI.

    Both come from one call of MONAI's ``get_edge_surface_distance`` (edge
    voxels and their nearest-edge distances, both ways): its
    ``compute_hausdorff_distance`` and ``compute_surface_dice`` would each
    compute the same distances again, and that search is most of the cost of
    the per-case table. The formulas are theirs (HD95: the larger of the two
    directed 95th percentiles; surface Dice: the share of edge voxels, of
    both masks, within the tolerance), which a test checks.

    Args:
        pred: Boolean 3-D prediction mask.
        truth: Boolean 3-D reference mask, same shape.
        spacing: Voxel size in mm along each array axis.

    Returns:
        ``hd95_mm`` (symmetric) and ``surface_dice_1mm``; both ``None`` when
        either mask is empty (distances to nothing are undefined) or MONAI
        returns NaN/inf.

    Raises:
        ValueError: shapes differ or ``spacing`` does not match them.
    """
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    check_same_shape(pred, truth)
    spacing = check_spacing(spacing, pred.ndim)
    if not pred.any() or not truth.any():
        return {"hd95_mm": None, "surface_dice_1mm": None}
    # Imported here: torch + MONAI take seconds to load and nothing else needs them,
    # so input errors and --help answer at once.
    import torch
    from monai.metrics.utils import get_edge_surface_distance

    with warnings.catch_warnings():
        # MONAI 1.5+ warns about its own internal use of a deprecated argument.
        warnings.filterwarnings("ignore", message=".*always_return_as_numpy.*", category=FutureWarning)
        _, distances, _ = get_edge_surface_distance(
            torch.from_numpy(pred), torch.from_numpy(truth), spacing=spacing, symmetric=True
        )
    hd95 = torch.max(torch.stack([torch.quantile(d, 0.95) for d in distances]))
    within = sum(int(torch.sum(d <= SURFACE_TOLERANCE_MM)) for d in distances)
    nsd = torch.tensor(within / sum(len(d) for d in distances))
    return {"hd95_mm": _finite_or_none(hd95), "surface_dice_1mm": _finite_or_none(nsd)}
