"""Tests for spinetumor.evaluation.qc_figures: training curves and the registration mosaic."""

from __future__ import annotations

import pytest
from PIL import Image

from spinetumor.evaluation.qc_figures import registration_mosaic, training_curves
from tests.evaluation.figure_files import assert_figure_files


def test_training_curves(tmp_path):
    curves = {
        name: {
            "epoch": list(range(5)),
            "train_loss": [1 - 0.1 * e + shift for e in range(5)],
            "val_loss": [None if e == 0 else 1.1 - 0.1 * e for e in range(5)],  # no value at epoch 0
            "val_dice_mean": [0.1 * e for e in range(5)],
        }
        for name, shift in (("split-0 cord", 0.0), ("split-0 lesion", 0.1))
    }
    out = tmp_path / "figs"
    assert_figure_files(*training_curves(curves, out / "curves.png", out / "curves.pdf"))


def test_training_curves_missing_column(tmp_path):
    with pytest.raises(ValueError, match="training curves split-1: missing columns val_loss, val_dice_mean"):
        training_curves(
            {"split-1": {"epoch": [0], "train_loss": [1.0]}}, tmp_path / "c.png", tmp_path / "c.pdf"
        )


def test_registration_mosaic(tmp_path):
    qc = {}
    for i, subject in enumerate(("sub-01", "sub-02", "sub-03", "sub-04")):
        qc[subject] = tmp_path / "qc" / f"{subject}.png"
        qc[subject].parent.mkdir(exist_ok=True)
        Image.new("RGB", (40, 20), (60 * i, 100, 200)).save(qc[subject])
    out = tmp_path / "figs"
    assert_figure_files(*registration_mosaic(qc, out / "mosaic.png", out / "mosaic.pdf"))
    with pytest.raises(FileNotFoundError, match="subject sub-09"):
        registration_mosaic({"sub-09": tmp_path / "nope.png"}, out / "m.png", out / "m.pdf")
