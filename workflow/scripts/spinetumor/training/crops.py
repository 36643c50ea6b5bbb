"""The cascade's lesion-stage crop boxes on the preprocessed grid, for its training run.

A training unit is cropped around its cord *label*, a validation unit (and a
training unit whose cord mask is itself a prediction) around the cord that
the trained ``cord`` stage predicts, as at test time. The table is written
beside the run's checkpoints (:data:`spinetumor.layout.CROP_BOXES`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from spinetumor.evaluation.overlap import dice
from spinetumor.inference.crop import lesion_crop_box
from spinetumor.inference.settings import InferenceSettings, inference_settings
from spinetumor.inference.stages import predict_cord_mask
from spinetumor.io import load_nifti
from spinetumor.layout import preprocessed_file
from spinetumor.models.definitions import inference_config

__all__ = ["CROP_COLUMNS", "crop_boxes"]

#: Columns of the crop-box table.
CROP_COLUMNS: tuple[str, ...] = ("unit", "role", "source", "start", "stop", "cord_dice", "lesion_inside")


def _predicted_cord(
    network: torch.nn.Module, prefix: str, label: np.ndarray, cfg: InferenceSettings
) -> tuple[np.ndarray, float]:
    """The cord that ``network`` predicts from a unit's preprocessed images, and its Dice with the label."""
    image = np.stack(
        [load_nifti(preprocessed_file(prefix, c)).get_fdata(dtype=np.float32) for c in cfg.stage1_contrasts]
    )
    mask = predict_cord_mask(network, image, cfg) > 0
    return mask, dice(mask, label)


def crop_boxes(
    model: Mapping[str, Any],
    chain_steps: Sequence[Mapping[str, Any]],
    units: Mapping[str, str],
    roles: Mapping[str, str],
    cord_network: torch.nn.Module | None,
    *,
    stage1_units: Collection[str] = (),
) -> pd.DataFrame:
    """The cascade's lesion-stage crop boxes on the preprocessed grid.

    Args:
        model: The resolved cascade.
        chain_steps: Its preprocessing chain.
        units: Unit id to preprocessed file prefix.
        roles: Unit id to ``train`` or ``val``: training units are cropped
            around their cord label, validation units around the cord that
            ``cord_network`` predicts (as at test time).
        cord_network: The trained cord stage (needed when a unit is ``val``
            or in ``stage1_units``).
        stage1_units: Training units cropped around the predicted cord too,
            because their cord mask is not a label (cord source ``model``).

    Returns:
        One row per unit: ``unit, role, source, start, stop`` and, for
        predicted crops, ``cord_dice`` (prediction vs label) and
        ``lesion_inside`` (share of lesion voxels inside the box).

    Raises:
        ValueError: a unit needs the predicted cord and ``cord_network`` is None.
    """
    cfg = inference_settings(inference_config(model, chain_steps))
    rows = []
    for unit, prefix in units.items():
        cord_img = load_nifti(preprocessed_file(prefix, "cord"))
        label = np.asarray(cord_img.dataobj) > 0
        row: dict[str, Any] = {"unit": unit, "role": roles[unit]}
        if roles[unit] == "train" and unit not in stage1_units:
            mask, row["source"] = label, "label"
        else:
            if cord_network is None:
                raise ValueError(f"{unit}: a crop from the predicted cord needs the trained cord stage")
            mask, row["cord_dice"] = _predicted_cord(cord_network, prefix, label, cfg)
            row["source"] = "stage1"
        box = lesion_crop_box(mask.astype(np.uint8), np.asarray(cord_img.affine, dtype=np.float64), cfg)
        lesion = np.asarray(load_nifti(preprocessed_file(prefix, "dseg")).dataobj) > 0
        inside = lesion[tuple(slice(a, b) for a, b in zip(*box))].sum()
        row.update(
            start=list(box[0]),
            stop=list(box[1]),
            lesion_inside=float(inside / lesion.sum()) if lesion.any() else float("nan"),
        )
        rows.append(row)
    return pd.DataFrame(rows, columns=list(CROP_COLUMNS))
