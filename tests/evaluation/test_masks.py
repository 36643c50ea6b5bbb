"""Tests for spinetumor.evaluation.masks: label maps split into masks, and the shared input checks."""

from __future__ import annotations

import numpy as np
import pytest

from spinetumor.evaluation.masks import LABEL_NAMES, binary_masks, check_same_shape, check_spacing


def test_binary_masks_splits_labels_and_whole_is_union():
    dseg = np.array([0, 1, 2, 3, 1], dtype=np.uint8).reshape(1, 1, 5)
    masks = binary_masks(dseg)
    assert list(masks) == list(LABEL_NAMES)
    assert masks["tumor"].ravel().tolist() == [False, True, False, False, True]
    assert masks["edema"].ravel().tolist() == [False, False, True, False, False]
    assert masks["cavity"].ravel().tolist() == [False, False, False, True, False]
    assert masks["whole"].ravel().tolist() == [False, True, True, True, True]


@pytest.mark.parametrize("bad", [4, 255, 1.5])
def test_binary_masks_rejects_unknown_labels(bad):
    dseg = np.zeros((2, 2, 2), dtype=float)
    dseg[0, 0, 0] = bad
    with pytest.raises(ValueError, match="outside 0..3"):
        binary_masks(dseg)


def test_label_names_are_the_project_labels_then_whole():
    assert LABEL_NAMES == ("tumor", "edema", "cavity", "whole")


def test_check_spacing_returns_floats_and_rejects_bad_sizes():
    assert check_spacing(np.array([0.5, 1, 2]), 3) == [0.5, 1.0, 2.0]
    with pytest.raises(ValueError, match="spacing must hold 3 positive voxel sizes"):
        check_spacing((1.0, 1.0), 3)
    with pytest.raises(ValueError, match="spacing must hold 3 positive voxel sizes"):
        check_spacing((1.0, -1.0, 1.0), 3)


def test_check_same_shape_needs_two_3d_arrays_of_one_shape():
    check_same_shape(np.zeros((2, 2, 2)), np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="same shape"):
        check_same_shape(np.zeros((2, 2, 2)), np.zeros((2, 2, 3)))
    with pytest.raises(ValueError, match="same shape"):
        check_same_shape(np.zeros((2, 2)), np.zeros((2, 2)))
