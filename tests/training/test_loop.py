"""The training loop: overfitting, determinism and exact resume, early stopping, SIGTERM, the log."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch

from spinetumor.training.data import SubjectRecord
from spinetumor.training.log import log_columns
from spinetumor.training.loop import train
from spinetumor.training.settings import TrainingSettings
from tests.conftest import REPO
from tests.training.tiny_subjects import TINY_CONFIG, TINY_UNET, read_log, write_subject


@pytest.fixture
def subject(tmp_path) -> SubjectRecord:
    return write_subject(tmp_path / "data", "sub-01")


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
from spinetumor.training.data import record_from_prefix
from spinetumor.training.loop import train
from spinetumor.training.settings import TrainingSettings
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
