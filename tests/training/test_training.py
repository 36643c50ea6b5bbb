"""Training: targets, data pipeline, checkpoints, resume, SIGTERM, determinism, early stopping, overfitting."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from monai.transforms import RandAffined

from spinetumor.layout import preprocessed_file
from spinetumor.training.training import (
    SubjectRecord,
    TrainingSettings,
    augmentation_ranges,
    load_checkpoint,
    load_record,
    log_columns,
    make_dataset,
    make_targets,
    record_from_prefix,
    save_checkpoint,
    scored_targets,
    selection_metric,
    train,
    training_transforms,
    validate,
)
from tests.conftest import REPO, write_nifti

SHAPE = (32, 32, 16)
#: A tiny network: 2 downsamplings, so patches must be multiples of 4.
TINY_UNET = {
    "architecture": "unet",
    "in_channels": 2,
    "out_channels": 1,
    "channels": [8, 16, 32],
    "strides": [2, 2],
}
TINY_CONFIG = {
    "inputs": ["T2w", "T1w"],
    "targets": ["whole"],
    "patch_size": [32, 32, 16],
    "batch_size": 2,
    "patches_per_volume": 4,
    "augmentation": None,
    "lr": 0.01,
    "scheduler": "none",
    "val_every": 1,
}


def ellipsoid(shape=SHAPE, centre=(16, 16, 8), radii=(6, 5, 3)) -> np.ndarray:
    grid = np.meshgrid(*[np.arange(s) for s in shape], indexing="ij")
    return sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre, radii)) <= 1


def write_subject(
    root: Path, subject: str, seed: int = 0, centre=(16, 16, 8), lesion: bool = True
) -> SubjectRecord:
    """A bright ellipsoid 'tumour' (label 1) in noisy T2w and T1w, and a box-shaped cord.

    With ``lesion=False``: the same noise and cord, no tumour (a healthy subject).
    """
    rng = np.random.default_rng(seed)
    tumour = ellipsoid(centre=centre) & lesion
    prefix = root / subject / "anat" / f"{subject}_desc-preproc"
    cord = np.zeros(SHAPE, np.uint8)
    cord[8:24, 10:22, :] = 1
    volumes = {
        "T2w": (rng.normal(0, 0.3, SHAPE) + 2.0 * tumour).astype(np.float32),
        "T1w": (rng.normal(0, 0.3, SHAPE) + 1.0 * tumour).astype(np.float32),
        "dseg": tumour.astype(np.uint8),
        "cord": cord,
    }
    for name, data in volumes.items():
        write_nifti(Path(preprocessed_file(prefix, name)), data)
    return record_from_prefix(subject, prefix)


@pytest.fixture
def subject(tmp_path) -> SubjectRecord:
    return write_subject(tmp_path / "data", "sub-01")


def read_log(out_dir: Path) -> pd.DataFrame:
    return pd.read_csv(out_dir / "training_log.tsv", sep="\t")


# --------------------------------------------------------------------------- targets and settings


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


def test_settings_defaults_follow_lemay():
    s = TrainingSettings.from_config({})
    assert (s.optimizer, s.lr, s.scheduler, s.max_epochs, s.patience, s.min_delta) == (
        "adam",
        1e-3,
        "cosine",
        200,
        50,
        0.001,
    )
    assert (s.augmentation.rotate_deg, s.augmentation.scale, s.augmentation.translate) == (5.0, 0.10, 0.03)
    assert (s.val_patch_overlap, s.val_blend, s.amp) == (0.5, "constant", "bf16")
    assert TrainingSettings.from_config({"augmentation": None, "amp": None}).augmentation.enabled is False
    assert TrainingSettings.from_config({"amp": None}).amp == "none"
    assert s.to_dict()["augmentation"]["rotate_deg"] == 5.0


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        ({"learning_rate": 0.1}, "unknown key"),
        ({"augmentation": {"rotate": 5}}, "unknown key"),
        ({"targets": ["whole", "whole"]}, "twice"),
        ({"inputs": ["FLAIR"]}, "unknown inputs"),
        ({"inputs": "T2w"}, "must be a list"),
        ({"patch_size": [64, 64]}, "patch_size"),
        ({"batch_size": 0}, "batch_size"),
        ({"scheduler": "step"}, "scheduler"),
        ({"val_blend": "max"}, "val_blend"),
        ({"augmentation": {"prob": 2}}, "prob"),
    ],
)
def test_settings_errors(cfg, message):
    with pytest.raises(ValueError, match=message):
        TrainingSettings.from_config(cfg)


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


# --------------------------------------------------------------------------- data


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


# --------------------------------------------------------------------------- checkpoints


def test_checkpoint_round_trip_is_weights_only(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Conv3d(2, 1, 3)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=10)
    model(torch.randn(1, 2, 4, 4, 4)).sum().backward()
    optimizer.step()
    scheduler.step()
    settings = TrainingSettings.from_config({"seed": 7})
    path = save_checkpoint(
        tmp_path / "c.pt",
        model,
        optimizer,
        scheduler,
        3,
        0.5,
        settings,
        {"split": 2, "data": Path("/x"), "shape": (1, 2)},
        best_epoch=2,
    )
    raw = torch.load(path, weights_only=True)
    assert (raw["epoch"], raw["best_metric"], raw["best_epoch"], raw["seed"]) == (3, 0.5, 2, 7)
    assert raw["settings"]["patch_size"] == [128, 128, 32]
    assert raw["extra"] == {"split": 2, "data": "/x", "shape": [1, 2]}
    fresh = torch.nn.Conv3d(2, 1, 3)
    fresh_opt = torch.optim.Adam(fresh.parameters(), lr=1e-3)
    fresh_sched = torch.optim.lr_scheduler.CosineAnnealingLR(fresh_opt, T_max=10)
    load_checkpoint(path, fresh, fresh_opt, fresh_sched)
    torch.testing.assert_close(fresh.weight, model.weight)
    assert fresh_sched.last_epoch == 1 and fresh_opt.state_dict()["state"][0]["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temporary file left behind


# --------------------------------------------------------------------------- training


def test_tiny_network_overfits_one_case(tmp_path, subject):
    # 10 epochs x 8 steps of 2 patches; on CPU such runs pass Dice 0.9 by epoch 5 or 6.
    settings = TrainingSettings.from_config(
        {**TINY_CONFIG, "patches_per_volume": 16, "max_epochs": 10, "patience": 100}
    )
    result = train([subject], [subject], TINY_UNET, settings, tmp_path / "run", device="cpu")
    assert result["best_metric"] > 0.9, read_log(tmp_path / "run")
    assert not result["stopped_early"]
    log = read_log(tmp_path / "run")
    assert (
        list(log.columns)
        == log_columns(["whole"])
        == [
            "epoch",
            "train_loss",
            "val_loss",
            "val_dice_whole",
            "val_dice_mean",
            "selection_metric",
            "lr",
            "seconds",
            "data_seconds",
        ]
    )
    assert log["epoch"].tolist() == list(range(1, 11))
    assert set(log["selection_metric"]) == {"val_dice_mean"} and result["selection_metric"] == "val_dice_mean"
    best = torch.load(tmp_path / "run" / "checkpoint_best.pt", weights_only=True)
    assert best["best_metric"] == pytest.approx(result["best_metric"])
    assert best["extra"]["selection_metric"] == "val_dice_mean"


def test_same_seed_same_losses_and_exact_resume(tmp_path, subject):
    config = {**TINY_CONFIG, "patches_per_volume": 2, "seed": 3}
    straight = train(
        [subject],
        [subject],
        TINY_UNET,
        TrainingSettings.from_config({**config, "max_epochs": 4}),
        tmp_path / "a",
        device="cpu",
    )
    first = train(
        [subject],
        [subject],
        TINY_UNET,
        TrainingSettings.from_config({**config, "max_epochs": 2}),
        tmp_path / "b",
        device="cpu",
    )
    resumed = train(
        [subject],
        [subject],
        TINY_UNET,
        TrainingSettings.from_config({**config, "max_epochs": 4}),
        tmp_path / "b",
        device="cpu",
    )
    losses = [[row["train_loss"], row["val_loss"]] for row in straight["history"]]
    # Two independent runs with one seed agree exactly, and so does a run resumed from its checkpoint.
    assert [[row["train_loss"], row["val_loss"]] for row in first["history"]] == losses[:2]
    assert [row["epoch"] for row in resumed["history"]] == [3, 4]
    assert [[row["train_loss"], row["val_loss"]] for row in resumed["history"]] == losses[2:]
    assert read_log(tmp_path / "b")["epoch"].tolist() == [1, 2, 3, 4]


def test_deeply_supervised_dynunet_trains_with_augmentation(tmp_path, subject):
    spec = {"architecture": "dynunet", "in_channels": 2, "out_channels": 2, "depth": 2, "base_filters": 4}
    config = {
        **TINY_CONFIG,
        "targets": ["whole", "cord"],
        "augmentation": {},
        "patch_size": [16, 16, 8],
        "max_epochs": 2,
        "val_every": 2,
        "iterations_per_epoch": 1,
        "patches_per_volume": 8,
        "scheduler": "cosine",
    }
    result = train(
        [subject], [subject], spec, TrainingSettings.from_config(config), tmp_path / "run", device="cpu"
    )
    log = read_log(tmp_path / "run")
    assert log["epoch"].tolist() == [1, 2]
    assert np.isnan(log["val_dice_mean"][0]) and not np.isnan(
        log["val_dice_mean"][1]
    )  # validated every 2 epochs
    # Cosine over 2 epochs: 0.01, then 0.01 * (1 + cos(pi / 2)) / 2 = 0.005.
    assert log["lr"].tolist() == pytest.approx([0.01, 0.005])
    assert 0.0 <= result["best_metric"] <= 1.0
    assert set(log.columns) >= {"val_dice_whole", "val_dice_cord"}


def test_early_stopping_when_validation_cannot_improve(tmp_path, subject):
    settings = TrainingSettings.from_config(
        {
            **TINY_CONFIG,
            "lr": 0.0,
            "patience": 2,
            "max_epochs": 20,
            "patches_per_volume": 1,
            "sampling": "uniform",
        }
    )
    result = train([subject], [subject], TINY_UNET, settings, tmp_path / "run", device="cpu")
    # Epoch 1 sets the best; epochs 2 and 3 do not beat it by min_delta: stop after patience + 1 = 3 validations.
    assert result["stopped_early"] and result["last_epoch"] == 3 and result["best_epoch"] == 1
    log = read_log(tmp_path / "run")
    assert log["epoch"].tolist() == [1, 2, 3]
    assert log["val_dice_mean"].nunique() == 1
    again = train([subject], [subject], TINY_UNET, settings, tmp_path / "run", device="cpu")
    assert again["history"] == [] and again["stopped_early"]  # a finished run stays finished
    assert read_log(tmp_path / "run")["epoch"].tolist() == [1, 2, 3]


def test_channel_mismatch_is_rejected(tmp_path, subject):
    settings = TrainingSettings.from_config({**TINY_CONFIG, "inputs": ["T2w"]})
    with pytest.raises(ValueError, match="in_channels=2 but 1 inputs"):
        train([subject], [subject], TINY_UNET, settings, tmp_path / "run", device="cpu")
    with pytest.raises(ValueError, match="not divisible"):
        train(
            [subject],
            [subject],
            TINY_UNET,
            TrainingSettings.from_config({**TINY_CONFIG, "patch_size": [30, 32, 16]}),
            tmp_path / "run",
            device="cpu",
        )


TRAIN_SCRIPT = """
import logging, sys
from spinetumor.training.training import TrainingSettings, record_from_prefix, train
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
record = record_from_prefix("sub-01", {prefix!r})
settings = TrainingSettings.from_config({config!r})
train([record], [record], {spec!r}, settings, {out!r}, device="cpu")
"""


def test_sigterm_saves_a_checkpoint_and_the_rerun_resumes(tmp_path, subject):
    out = tmp_path / "run"
    config = {**TINY_CONFIG, "patches_per_volume": 2, "max_epochs": 10_000, "scheduler": "cosine"}
    prefix = str(subject.dseg).removesuffix("_dseg.nii.gz")
    code = TRAIN_SCRIPT.format(prefix=prefix, config=config, spec=TINY_UNET, out=str(out))
    env = {**os.environ, "PYTHONPATH": str(REPO / "workflow" / "scripts"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            log = out / "training_log.tsv"
            if (
                (out / "checkpoint_last.pt").exists()
                and log.exists()
                and len(log.read_text().splitlines()) >= 3
            ):
                break
            time.sleep(0.1)
        assert proc.poll() is None, proc.stderr.read()
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert "TrainingInterrupted" in stderr
    saved = torch.load(out / "checkpoint_last.pt", weights_only=True)
    assert saved["epoch"] >= 2 and saved["seed"] == 0
    assert saved["settings"]["max_epochs"] == 10_000 and saved["extra"]["network"]["channels"] == [8, 16, 32]
    epoch = saved["epoch"]

    settings = TrainingSettings.from_config({**config, "max_epochs": epoch + 2})
    result = train([subject], [subject], TINY_UNET, settings, out, device="cpu")
    assert [row["epoch"] for row in result["history"]] == [epoch + 1, epoch + 2]
    epochs = read_log(out)["epoch"].tolist()
    assert epochs == list(range(1, epoch + 3))  # strictly increasing, no duplicate rows
