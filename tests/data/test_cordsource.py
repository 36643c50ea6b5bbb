"""The cord mask's source: the first of the configured priority that the unit has."""

from __future__ import annotations

import pytest

from spinetumor.data.cordsource import SOURCES, choose_source

LABELS = {"cord": "/l/sub-1_seg-manual.nii.gz", "centerline": "/l/sub-1_centerline-manual.nii.gz"}


def test_the_first_available_source_of_the_priority_wins():
    assert choose_source(["manual", "centerline"], LABELS) == ("manual", LABELS["cord"])
    assert choose_source(["centerline", "manual"], LABELS) == ("centerline", LABELS["centerline"])
    assert choose_source(["manual", "centerline"], {"centerline": LABELS["centerline"]}) == (
        "centerline",
        LABELS["centerline"],
    )


def test_the_model_source_has_no_file_and_is_always_available():
    assert choose_source(["manual", "model"], {}) == ("model", None)
    assert choose_source(["manual", "model"], LABELS) == ("manual", LABELS["cord"])
    assert set(SOURCES) == {"manual", "centerline", "model"}


def test_an_empty_label_counts_as_missing():
    assert choose_source(["manual", "centerline"], {"cord": "", "centerline": LABELS["centerline"]})[0] == (
        "centerline"
    )


def test_no_source_or_an_unknown_one_is_an_error():
    with pytest.raises(ValueError, match=r"no cord mask source among \['manual', 'centerline'\]"):
        choose_source(["manual", "centerline"], {})
    with pytest.raises(ValueError, match="unknown source 'atlas'"):
        choose_source(["atlas", "manual"], LABELS)
