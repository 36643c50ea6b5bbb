"""The cascade's lesion crops: around the cord label for training units, the predicted cord otherwise."""

from __future__ import annotations

import math
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from spinetumor.layout import preprocessed_file, preprocessed_prefix
from spinetumor.training.crops import CROP_COLUMNS, crop_boxes
from tests.conftest import write_nifti
from tests.modelstudy import STEPS, tiny_cascade, write_study


def test_training_units_are_cropped_around_their_cord_label(tmp_path):
    study = write_study(tmp_path)
    units = {u: study["prefixes"][u] for u in ("sub-1", "sub-2")}
    table = crop_boxes(tiny_cascade(), STEPS, units, {"sub-1": "train", "sub-2": "train"}, None)
    assert list(table.columns) == list(CROP_COLUMNS) and list(table.unit) == ["sub-1", "sub-2"]
    assert list(table.source) == ["label", "label"] and all(math.isnan(d) for d in table.cord_dice)
    for start, stop in zip(table.start, table.stop):
        assert all(0 <= a < b for a, b in zip(start, stop))
    # The cord box holds the whole lesion (it sits inside the cord), plus the margin.
    assert list(table.lesion_inside) == [1.0, 1.0]


def test_a_predicted_cord_needs_the_trained_cord_stage(tmp_path):
    study = write_study(tmp_path)
    units = {"sub-4": study["prefixes"]["sub-4"]}
    with pytest.raises(
        ValueError, match="sub-4: a crop from the predicted cord needs the trained cord stage"
    ):
        crop_boxes(tiny_cascade(), STEPS, units, {"sub-4": "val"}, None)
    with pytest.raises(ValueError, match="sub-4: a crop from the predicted cord"):
        crop_boxes(tiny_cascade(), STEPS, units, {"sub-4": "train"}, None, stage1_units={"sub-4"})


class _Marks(torch.nn.Module):
    """A 'cord network' that marks every voxel whose T2w is above 0.5 (the cord box of the study)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 20.0 * (x[:, :1] - 0.5)


def test_a_cord_stage_on_a_coarse_chain_of_its_own_crops_the_lesion_grid_in_world_coordinates(tmp_path):
    study = write_study(tmp_path)
    # The cord stage's chain: the same units on a grid of 2 mm voxels (every other voxel).
    coarse = {}
    for unit, prefix in study["prefixes"].items():
        coarse[unit] = preprocessed_prefix(tmp_path / "coarse", unit)
        for kind in ("T2w", "T1w", "dseg", "cord"):
            data = np.asarray(nib.load(preprocessed_file(prefix, kind)).dataobj)[::2, ::2, ::2]
            affine = np.diag([2.0, 2.0, 2.0, 1.0])
            affine[:3, 3] = 0.5  # voxel 0 covers the fine voxels 0 and 1
            write_nifti(Path(preprocessed_file(coarse[unit], kind)), data, affine)
    units = {u: study["prefixes"][u] for u in ("sub-1", "sub-4")}
    roles = {"sub-1": "train", "sub-4": "val"}
    own = crop_boxes(tiny_cascade(), STEPS, units, roles, _Marks(), stage1_chain=(STEPS, coarse))
    same = crop_boxes(tiny_cascade(), STEPS, units, roles, _Marks())
    assert list(own.source) == ["label", "stage1"]
    # The validation unit's cord, found on the coarse grid, crops the same lesion-grid box, and the
    # Dice is the coarse prediction's with the coarse label (the T2w noise flips a few voxels).
    assert own.start[1] == same.start[1] and own.stop[1] == same.stop[1]
    assert own.cord_dice[1] > 0.9 and own.lesion_inside[1] == 1.0
    with pytest.raises(KeyError):  # a unit without files on the cord stage's grid
        crop_boxes(
            tiny_cascade(), STEPS, units, roles, _Marks(), stage1_chain=(STEPS, {"sub-1": coarse["sub-1"]})
        )
