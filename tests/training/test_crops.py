"""The cascade's lesion crops: around the cord label for training units, the predicted cord otherwise."""

from __future__ import annotations

import math

import pytest

from spinetumor.training.crops import CROP_COLUMNS, crop_boxes
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
