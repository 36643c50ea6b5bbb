"""Validation: Dice of whole volumes per target, and the run's selection criterion."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from spinetumor.training.data import SubjectRecord, load_record
from spinetumor.training.loop import train
from spinetumor.training.settings import TrainingSettings
from spinetumor.training.validation import scored_targets, selection_metric, validate
from tests.training.tiny_subjects import SHAPE, TINY_CONFIG, TINY_UNET, read_log, write_subject


@pytest.fixture
def subject(tmp_path) -> SubjectRecord:
    return write_subject(tmp_path / "data", "sub-01")


def test_validate_scores_each_target(tmp_path, subject):
    # Channel 0 = sigmoid(T2w): bright tumour (> 0) found exactly when the noise stays below 0 outside it.
    # Channel 1 = sigmoid(-T2w): predicts the background, but no validation volume has edema -> no
    # Dice (n/a), left out of the mean: its false positives weigh in the loss only.
    # Channel 2 = sigmoid(-10): predicts nothing, the cavity target is empty -> no Dice (n/a).
    model = torch.nn.Conv3d(1, 3, kernel_size=1)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([1.0, -1.0, 0.0]).reshape(3, 1, 1, 1, 1))
        model.bias.copy_(torch.tensor([-1.0, 1.0, -10.0]))
    settings = TrainingSettings.from_config(
        {"inputs": ["T2w"], "targets": ["whole", "edema", "cavity"], "patch_size": [16, 16, 8]}
    )
    scores = validate(model, [subject], settings, device="cpu")
    t2 = load_record(subject, ["T2w"], ["whole"])
    pred, truth = t2["image"][0] > 1.0, t2["label"][0] > 0
    expected = 2 * (pred & truth).sum() / (pred.sum() + truth.sum())
    assert scores["val_dice_whole"] == pytest.approx(expected) and expected > 0.8
    assert np.isnan(scores["val_dice_edema"]) and np.isnan(scores["val_dice_cavity"])
    assert scores["val_dice_mean"] == pytest.approx(expected)
    assert 0.0 <= scores["val_loss"] <= 1.0


class _CentredOnItsWindow(torch.nn.Module):
    """Logits 10 * (T2w - its mean over the window the network is given), like instance
    normalisation; it takes only windows whose axes are multiples of 3 and records their shapes."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(10.0))
        self.windows: list[tuple[int, ...]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert all(n % 3 == 0 for n in x.shape[2:]), f"window {tuple(x.shape[2:])} not a multiple of 3"
        self.windows.append(tuple(x.shape[2:]))
        return self.scale * (x - x.mean(dim=(2, 3, 4), keepdim=True))


def test_whole_window_validation_sees_each_volume_at_once(tmp_path, subject):
    # `val_window: whole` predicts each validation volume (32 x 32 x 16) in one window, zero-padded to
    # the network's multiple (here 3: 33 x 33 x 18), as a cascade with a fitted window infers; the
    # scores are those of the mean over that window. With `patch`, it sees 15 x 15 x 9 tiles, whose
    # own means give other scores.
    model = _CentredOnItsWindow()
    whole = TrainingSettings.from_config(
        {"inputs": ["T2w"], "targets": ["whole"], "patch_size": [15, 15, 9], "val_window": "whole"}
    )
    scores = validate(model, [subject], whole, device="cpu", divisor=(3, 3, 3))
    assert model.windows == [(33, 33, 18)]
    image = load_record(subject, ["T2w"], ["whole"])
    t2, truth = image["image"][0], image["label"][0] > 0
    pred = t2 > t2.sum() / (33 * 33 * 18)
    expected = 2 * (pred & truth).sum() / (pred.sum() + truth.sum())
    assert scores["val_dice_whole"] == pytest.approx(expected)

    model.windows.clear()
    patches = validate(model, [subject], dataclasses.replace(whole, val_window="patch"), device="cpu")
    assert set(model.windows) == {(15, 15, 9)} and len(model.windows) > 1
    assert patches["val_dice_whole"] != pytest.approx(expected)


def test_validation_dice_is_undefined_without_any_target(tmp_path):
    # A lesion-free validation volume: the whole target is empty. Channel 0 predicts nothing
    # (sigmoid(-10)), channel 1 predicts everything (sigmoid(+10)). Neither has a Dice: there is
    # nothing to score, and an untrained model must not look perfect (it used to get 1.0).
    healthy = write_subject(tmp_path / "data", "sub-02", lesion=False)
    model = torch.nn.Conv3d(1, 2, kernel_size=1)
    with torch.no_grad():
        model.weight.zero_()
        model.bias.copy_(torch.tensor([-10.0, 10.0]))
    settings = TrainingSettings.from_config(
        {"inputs": ["T2w"], "targets": ["whole", "tumor"], "patch_size": [16, 16, 8]}
    )
    scores = validate(model, [healthy], settings, device="cpu")
    assert np.isnan(scores["val_dice_whole"]) and np.isnan(scores["val_dice_tumor"])
    assert np.isnan(scores["val_dice_mean"])
    # Batch Dice loss, smooth 1, empty target: per channel 1 - 1 / (sum p + 1); mean of the two channels.
    n = np.prod(SHAPE)
    losses = [1 - 1 / (n * p + 1) for p in (1 / (1 + np.exp(10.0)), 1 / (1 + np.exp(-10.0)))]
    assert scores["val_loss"] == pytest.approx(np.mean(losses), rel=1e-4)


def test_scored_targets_and_selection_metric(tmp_path, subject):
    healthy = write_subject(tmp_path / "data", "sub-02", lesion=False)
    targets = ["tumor", "edema", "whole"]
    volumes = [load_record(r, ["T2w"], targets) for r in (subject, healthy)]
    # The subject's lesion is all tumour (label 1): edema has a target in no validation volume.
    assert scored_targets(volumes, targets) == ("tumor", "whole")
    assert scored_targets(volumes[1:], targets) == ()
    assert selection_metric(("tumor", "whole")) == "val_dice_mean"
    assert selection_metric(()) == "val_loss"


def test_lesion_free_validation_selects_on_the_loss(tmp_path, subject):
    healthy = write_subject(tmp_path / "data", "sub-02", seed=1, lesion=False)
    # Dice + cross-entropy: on empty targets the Dice loss alone saturates near 1, the BCE keeps falling
    # while the network learns the background.
    config = {
        **TINY_CONFIG,
        "max_epochs": 4,
        "patience": 100,
        "min_delta": 0.001,
        "patches_per_volume": 2,
        "loss": "dice_bce",
    }
    settings = TrainingSettings.from_config(config)
    result = train([subject], [healthy], TINY_UNET, settings, tmp_path / "run", device="cpu")
    log = read_log(tmp_path / "run")
    # No Dice where there is nothing to score (the old code wrote 1.0 and kept epoch 1 for good).
    assert log["val_dice_whole"].isna().all() and log["val_dice_mean"].isna().all()
    assert log["selection_metric"].tolist() == ["val_loss"] * 4
    assert result["selection_metric"] == "val_loss" and result["scored_targets"] == []
    # The best epoch is the one the loss rule picks: the lowest loss, each gain more than min_delta.
    best, best_epoch = math.inf, 0
    for epoch, loss in zip(log["epoch"], log["val_loss"]):
        if loss < best - 0.001:
            best, best_epoch = loss, epoch
    assert (result["best_epoch"], result["best_metric"]) == (best_epoch, pytest.approx(best))
    assert best_epoch > 1  # not the untrained epoch 1, which a Dice of 1.0 would have kept
    saved = torch.load(tmp_path / "run" / "checkpoint_best.pt", weights_only=True)
    assert (saved["epoch"], saved["extra"]["selection_metric"]) == (best_epoch, "val_loss")
    assert saved["best_metric"] == pytest.approx(best)
    # A rerun with more epochs resumes on the same criterion.
    more = train(
        [subject],
        [healthy],
        TINY_UNET,
        TrainingSettings.from_config({**config, "max_epochs": 5}),
        tmp_path / "run",
        device="cpu",
    )
    assert [row["epoch"] for row in more["history"]] == [5] and more["selection_metric"] == "val_loss"
