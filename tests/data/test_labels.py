"""Lesion labels to the project's dseg convention."""

from __future__ import annotations

import numpy as np
import pytest

from spinetumor.data.labels import merge_structures, structure_counts, to_dseg


def test_merge_structures_resolves_overlaps_tumour_over_cavity_over_edema():
    shape = (4, 1, 1)
    edema = np.array([1, 1, 1, 0]).reshape(shape)
    cavity = np.array([0, 1, 1, 0]).reshape(shape)
    tumour = np.array([0, 0, 1, 1]).reshape(shape)
    merged = merge_structures({"tumor": tumour, "edema": edema, "cavity": cavity}, shape)
    assert merged.ravel().tolist() == [2, 3, 1, 1]
    assert merged.dtype == np.uint8


def test_merge_structures_checks_names_and_shapes():
    with pytest.raises(ValueError, match="unknown structures"):
        merge_structures({"syrinx": np.zeros((2, 2, 2))}, (2, 2, 2))
    with pytest.raises(ValueError, match="expected \\(2, 2, 2\\)"):
        merge_structures({"tumor": np.zeros((2, 2, 3))}, (2, 2, 2))


def test_to_dseg_takes_a_dseg_map_as_is_or_merges_structures():
    dseg = np.zeros((2, 2, 2), np.float32)
    dseg[0, 0, 0], dseg[1, 1, 1] = 2.0, 3.0000001
    out = to_dseg({"dseg": dseg, "tumor": np.ones((2, 2, 2))}, (2, 2, 2))
    assert out.dtype == np.uint8 and out[0, 0, 0] == 2 and out[1, 1, 1] == 3 and out.sum() == 5
    tumour = np.zeros((2, 2, 2), np.uint8)
    tumour[0, 1, 0] = 1
    np.testing.assert_array_equal(to_dseg({"tumor": tumour}, (2, 2, 2)), tumour)
    assert to_dseg({}, (3, 2, 1)).shape == (3, 2, 1) and not to_dseg({}, (3, 2, 1)).any()


def test_structure_counts_per_label():
    dseg = np.array([0, 1, 1, 2, 3, 3, 3], np.uint8)
    assert structure_counts(dseg) == {"tumor": 2, "edema": 1, "cavity": 3}
