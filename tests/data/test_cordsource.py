"""Which source a unit's cord mask comes from, for each priority order."""

from __future__ import annotations

import itertools

import pytest

from spinetumor.data.cordsource import SOURCES, choose_source

FILES = {"cord": "c.nii.gz", "centerline": "l.nii.gz"}


def test_choose_source_follows_priority():
    files = {"cord": "c.nii.gz", "centerline": "l.nii.gz"}
    assert choose_source(["manual", "centerline"], files) == ("manual", "c.nii.gz")
    assert choose_source(["centerline", "manual"], files) == ("centerline", "l.nii.gz")
    assert choose_source(["manual", "centerline"], {"centerline": "l.nii.gz"}) == ("centerline", "l.nii.gz")
    with pytest.raises(ValueError, match="no cord mask source"):
        choose_source(["manual"], {"centerline": "l.nii.gz"})
    with pytest.raises(ValueError, match="unknown source 'atlas'"):
        choose_source(["atlas"], files)


def test_sources_are_manual_centerline_and_model():
    assert SOURCES == ("manual", "centerline", "model")


@pytest.mark.parametrize(
    ("available", "expected"),
    [
        # Every order of the three sources, for each set of files a unit may have.
        (FILES, {"manual": ("manual", "c.nii.gz"), "centerline": ("centerline", "l.nii.gz")}),
        ({"cord": "c.nii.gz"}, {"manual": ("manual", "c.nii.gz"), "centerline": None}),
        ({"centerline": "l.nii.gz"}, {"manual": None, "centerline": ("centerline", "l.nii.gz")}),
        ({}, {"manual": None, "centerline": None}),
    ],
)
def test_every_priority_order_picks_the_first_source_the_unit_has(available, expected):
    expected = {**expected, "model": ("model", None)}
    for order in itertools.permutations(SOURCES):
        first = next(expected[source] for source in order if expected[source] is not None)
        assert choose_source(order, available) == first, order


def test_file_keys_other_than_cord_and_centerline_are_not_sources():
    assert choose_source(["manual", "model"], {"dseg": "d.nii.gz", "cord": ""}) == ("model", None)
    with pytest.raises(ValueError, match=r"no cord mask source among \['centerline'\] is available"):
        choose_source(["centerline"], {"cord": "c.nii.gz", "dseg": "d.nii.gz"})


def test_an_unknown_source_is_rejected_only_when_reached():
    assert choose_source(["manual", "atlas"], FILES) == ("manual", "c.nii.gz")
    with pytest.raises(ValueError, match=r"unknown source 'atlas' \(known: manual, centerline, model\)"):
        choose_source(["centerline", "atlas"], {"cord": "c.nii.gz"})
    with pytest.raises(ValueError, match="no cord mask source among"):
        choose_source([], FILES)
