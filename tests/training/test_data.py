"""Training data: target channels, records cut to their box, the random patch pipeline."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from monai.transforms import Compose, RandAffined

from spinetumor.training.data import SubjectRecord, load_record, make_dataset, make_targets
from spinetumor.training.patches import augmentation_ranges, sampling_classes, training_transforms
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


def _sampled_centres(settings: TrainingSettings, label: np.ndarray, draws: int) -> np.ndarray:
    """How often the centre voxel of a drawn patch lies in each label channel (and in none)."""
    pipeline = Compose(training_transforms(settings))
    pipeline.set_random_state(0)
    image = np.random.default_rng(0).normal(size=(1, *label.shape[1:])).astype(np.float32)
    counts = np.zeros(label.shape[0] + 1)
    centre = tuple(s // 2 for s in settings.patch_size)
    for _ in range(draws):
        (item,) = pipeline({"image": image, "label": label})
        hits = item["label"][(slice(None), *centre)].numpy() > 0
        counts[:-1] += hits
        counts[-1] += not hits.any()
    return counts / draws


def test_class_sampling_draws_a_small_core_as_often_as_a_large_edema():
    # One tumour voxel beside a 1,000-voxel edema; the cavity is absent.
    label = np.zeros((4, 48, 48, 16), np.uint8)
    label[0, 10, 10, 8] = 1
    label[1, 30:40, 30:40, 4:14] = 1
    label[3] = label[0] | label[1]
    config = {"inputs": ["T2w"], "targets": ["tumor", "edema", "cavity", "whole"], "patch_size": [8, 8, 4]}
    config.update(pos_neg_ratio=2.0, augmentation=None)
    classes = _sampled_centres(TrainingSettings.from_config({**config, "sampling": "classes"}), label, 600)
    # Background 1 : tumour 1 : edema 1 (the absent cavity's share goes to the others).
    assert classes[0] == pytest.approx(1 / 3, abs=0.07) and classes[1] == pytest.approx(1 / 3, abs=0.07)
    assert classes[2] == 0 and classes[4] == pytest.approx(1 / 3, abs=0.07)
    # Centres on any lesion voxel almost never fall on the single tumour voxel.
    foreground = _sampled_centres(
        TrainingSettings.from_config({**config, "sampling": "foreground"}), label, 600
    )
    assert foreground[0] < 0.02 and foreground[3] == pytest.approx(2 / 3, abs=0.07)


def test_sampling_classes_leave_out_whole_unless_alone():
    assert sampling_classes(["tumor", "edema", "cavity", "whole"]) == [0, 1, 2]
    assert sampling_classes(["whole"]) == [0]
    assert sampling_classes(["cord"]) == [0]


def test_mirroring_and_intensity_changes_touch_what_they_should():
    settings = TrainingSettings.from_config(
        {
            "inputs": ["T1w", "T2w"],
            "targets": ["whole"],
            "patch_size": [4, 4, 4],
            "sampling": "uniform",
            "augmentation": {"prob": 0, "flip_axes": [2], "intensity_scale": 0.2, "intensity_shift": 0.5},
        }
    )
    pipeline = Compose(training_transforms(settings))
    pipeline.set_random_state(1)
    image = np.stack([np.ones((4, 4, 4)), 2 * np.ones((4, 4, 4))]).astype(np.float32)
    image[:, :, :, 0] = 0  # marks one end of axis 2
    label = np.zeros((1, 4, 4, 4), np.uint8)
    label[0, :, :, 0] = 1
    flipped = 0
    for _ in range(40):
        item = pipeline({"image": image, "label": label})
        item = item[0] if isinstance(item, list) else item
        img, lab = item["image"].numpy(), item["label"].numpy()
        end = 3 if lab[0, :, :, 3].all() else 0
        flipped += end == 3
        # Image and label are mirrored together.
        assert lab[0, :, :, end].all() and lab.sum() == 16
        for c, value in enumerate((1.0, 2.0)):
            inside = np.delete(img[c], end, axis=2)
            # One scale and one shift per channel: the channel stays constant off the marked end.
            assert np.ptp(inside) < 1e-5
            assert 0.8 * value - 0.5 - 1e-5 <= inside.mean() <= 1.2 * value + 0.5 + 1e-5
    assert 5 < flipped < 35


def test_augmentation_settings_check_the_new_keys():
    with pytest.raises(ValueError, match="flip_axes"):
        TrainingSettings.from_config({"augmentation": {"flip_axes": [3]}})
    with pytest.raises(ValueError, match="intensity_scale"):
        TrainingSettings.from_config({"augmentation": {"intensity_scale": 1.5}})
    aug = TrainingSettings.from_config({"augmentation": {"prob": 0, "noise_std": 0.1}}).augmentation
    assert aug.enabled and not aug.affine
