"""Training data: target channels, records cut to their box, the random patch pipeline."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from monai.transforms import RandAffined

from spinetumor.training.data import (
    SubjectRecord,
    augmentation_ranges,
    load_record,
    make_dataset,
    make_targets,
    training_transforms,
)
from spinetumor.training.settings import TrainingSettings
from tests.training.tiny_subjects import TINY_CONFIG, write_subject


@pytest.fixture
def subject(tmp_path) -> SubjectRecord:
    return write_subject(tmp_path / "data", "sub-01")


def test_make_targets_on_a_hand_made_map():
    dseg = np.array([[[0], [1]], [[2], [3]]], dtype=np.uint8)  # 2 x 2 x 1
    cord = np.array([[[1], [1]], [[0], [0]]], dtype=np.uint8)
    out = make_targets(dseg, cord, ["tumor", "edema", "cavity", "whole", "cord"])
    assert out.dtype == np.uint8 and out.shape == (5, 2, 2, 1)
    assert out[:, :, :, 0].tolist() == [
        [[0, 1], [0, 0]],  # tumour: label 1
        [[0, 0], [1, 0]],  # edema: label 2
        [[0, 0], [0, 1]],  # cavity: label 3
        [[0, 1], [1, 1]],  # whole: union of 1-3
        [[1, 1], [0, 0]],  # cord mask
    ]
    assert make_targets(dseg, None, ["whole", "tumor"])[:, :, :, 0].tolist() == [
        [[0, 1], [1, 1]],
        [[0, 1], [0, 0]],
    ]


@pytest.mark.parametrize(
    ("dseg", "cord", "targets", "message"),
    [
        (np.zeros((2, 2, 1)), None, ["cord"], "needs a cord mask"),
        (np.zeros((2, 2, 1)), None, ["core"], "unknown target"),
        (np.full((2, 2, 1), 4), None, ["whole"], "values must be 0-3"),
        (np.zeros((2, 2, 1)), np.zeros((2, 2, 2)), ["cord"], "differs"),
    ],
)
def test_make_targets_errors(dseg, cord, targets, message):
    with pytest.raises(ValueError, match=message):
        make_targets(dseg, cord, targets)


def test_augmentation_maps_to_rand_affined():
    settings = TrainingSettings.from_config({"patch_size": [128, 128, 32], "augmentation": {"prob": 0.7}})
    ranges = augmentation_ranges(settings.augmentation, settings.patch_size)
    assert ranges["rotate_range"] == pytest.approx((math.pi / 36,) * 3)  # 5 degrees in radians
    assert ranges["scale_range"] == pytest.approx((0.1,) * 3)  # MONAI adds 1: factors in [0.9, 1.1]
    assert ranges["translate_range"] == pytest.approx((3.84, 3.84, 0.96))  # 3 % of the patch, in voxels
    affine = [t for t in training_transforms(settings) if isinstance(t, RandAffined)]
    assert len(affine) == 1
    grid = affine[0].rand_affine.rand_affine_grid
    assert grid.rotate_range == pytest.approx((0.0872665,) * 3, abs=1e-6)
    assert grid.translate_range == pytest.approx((3.84, 3.84, 0.96))
    assert affine[0].prob == 0.7
    assert tuple(affine[0].mode) == ("bilinear", "nearest")  # images, then targets
    no_aug = TrainingSettings.from_config({"augmentation": {"prob": 0}})
    assert not any(isinstance(t, RandAffined) for t in training_transforms(no_aug))


def test_load_record_crops_to_the_box(subject):
    box = SubjectRecord(
        subject.subject, subject.images, subject.dseg, subject.cord, ((4, 6, 2), (20, 26, 10))
    )
    volume = load_record(box, ["T1w", "T2w"], ["whole", "cord"])
    assert volume["image"].shape == (2, 16, 20, 8) and volume["image"].dtype == np.float32
    assert volume["label"].shape == (2, 16, 20, 8)
    full = load_record(subject, ["T1w", "T2w"], ["whole", "cord"])
    np.testing.assert_array_equal(volume["label"], full["label"][:, 4:20, 6:26, 2:10])
    too_big = SubjectRecord(subject.subject, subject.images, subject.dseg, None, ((0, 0, 0), (40, 8, 8)))
    with pytest.raises(ValueError, match="exceeds"):
        load_record(too_big, ["T2w"], ["whole"])
    with pytest.raises(ValueError, match="crop_box"):
        SubjectRecord("x", {}, Path("d"), None, ((4, 4, 4), (4, 8, 8)))


def test_patches_are_padded_sampled_and_foreground_biased(subject):
    # A crop smaller than the patch along z is zero-padded to the patch size.
    small = SubjectRecord(subject.subject, subject.images, subject.dseg, None, ((0, 0, 6), (32, 32, 10)))
    settings = TrainingSettings.from_config({**TINY_CONFIG, "patch_size": [8, 8, 8], "pos_neg_ratio": 1e9})
    dataset = make_dataset([small], settings)
    for _ in range(10):
        (item,) = dataset[0]
        assert item["image"].shape == (2, 8, 8, 8) and item["label"].shape == (1, 8, 8, 8)
        assert item["image"].dtype == torch.float32
        assert set(item["label"].unique().tolist()) <= {0.0, 1.0}
        # With pos/neg 1e9 every patch is centred on the tumour, so it holds some.
        assert item["label"].sum() > 0
