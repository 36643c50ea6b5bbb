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
    network: torch.nn.Module, prefix: str, cfg: InferenceSettings
) -> tuple[np.ndarray, np.ndarray, float]:
    """The cord that ``network`` predicts from a unit's preprocessed images (``prefix``), the
    affine of their grid, and the prediction's Dice with the cord label on that grid."""
    image = np.stack(
        [load_nifti(preprocessed_file(prefix, c)).get_fdata(dtype=np.float32) for c in cfg.stage1_contrasts]
    )
    label_img = load_nifti(preprocessed_file(prefix, "cord"))
    mask = predict_cord_mask(network, image, cfg) > 0
    return mask, np.asarray(label_img.affine, dtype=np.float64), dice(mask, np.asarray(label_img.dataobj) > 0)


def crop_boxes(
    model: Mapping[str, Any],
    chain_steps: Sequence[Mapping[str, Any]],
    units: Mapping[str, str],
    roles: Mapping[str, str],
    cord_network: torch.nn.Module | None,
    *,
    stage1_units: Collection[str] = (),
    stage1_chain: tuple[Sequence[Mapping[str, Any]], Mapping[str, str]] | None = None,
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
        stage1_chain: The cord stage's own chain, when it has one: its steps
            and each unit's file prefix in it. The cord is then predicted on
            that grid and its box carried to the lesion grid through world
            coordinates (:func:`spinetumor.inference.crop.lesion_crop_box`).

    Returns:
        One row per unit: ``unit, role, source, start, stop`` and, for
        predicted crops, ``cord_dice`` (prediction vs label) and
        ``lesion_inside`` (share of lesion voxels inside the box).

    Raises:
        ValueError: a unit needs the predicted cord and ``cord_network`` is None.
    """
    stage1_steps, stage1_prefixes = stage1_chain if stage1_chain is not None else (None, {})
    cfg = inference_settings(inference_config(model, chain_steps, stage1_chain_steps=stage1_steps))
    rows = []
    for unit, prefix in units.items():
        cord_img = load_nifti(preprocessed_file(prefix, "cord"))
        label = np.asarray(cord_img.dataobj) > 0
        row: dict[str, Any] = {"unit": unit, "role": roles[unit]}
        affine = np.asarray(cord_img.affine, dtype=np.float64)
        if roles[unit] == "train" and unit not in stage1_units:
            box = lesion_crop_box(label.astype(np.uint8), affine, cfg)
            row["source"] = "label"
        else:
            if cord_network is None:
                raise ValueError(f"{unit}: a crop from the predicted cord needs the trained cord stage")
            stage1_prefix = stage1_prefixes[unit] if stage1_chain is not None else prefix
            mask, mask_affine, row["cord_dice"] = _predicted_cord(cord_network, stage1_prefix, cfg)
            onto = (affine, label.shape) if stage1_chain is not None else None
            box = lesion_crop_box(mask.astype(np.uint8), mask_affine, cfg, onto=onto)
            row["source"] = "stage1"
        lesion = np.asarray(load_nifti(preprocessed_file(prefix, "dseg")).dataobj) > 0
        inside = lesion[tuple(slice(a, b) for a, b in zip(*box))].sum()
        row.update(
            start=list(box[0]),
            stop=list(box[1]),
            lesion_inside=float(inside / lesion.sum()) if lesion.any() else float("nan"),
        )
        rows.append(row)
    return pd.DataFrame(rows, columns=list(CROP_COLUMNS))
