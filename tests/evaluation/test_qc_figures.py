"""Tests for spinetumor.evaluation.qc_figures: training curves and the registration mosaic."""

from __future__ import annotations

import pytest
from PIL import Image

from spinetumor.evaluation.qc_figures import registration_mosaic, training_curves
from tests.evaluation.figure_files import assert_figure_files


def test_training_curves(tmp_path):
    header = "epoch\ttrain_loss\tval_loss\tval_dice_cord\tval_dice_mean\tlr\tseconds\tdata_seconds\n"
    logs = {}
    for name, shift in (("split-0 cord", 0.0), ("split-0 lesion", 0.1)):
        lines = [
            f"{e}\t{1 - 0.1 * e + shift}\t{'n/a' if e == 0 else 1.1 - 0.1 * e}\t0.5\t{0.1 * e}\t0.001\t1\t0.1"
            for e in range(5)
        ]
        logs[name] = tmp_path / f"{name}.tsv"
        logs[name].write_text(header + "\n".join(lines) + "\n")
    out = tmp_path / "figs"
    assert_figure_files(*training_curves(logs, out / "curves.png", out / "curves.pdf"))


def test_training_curves_missing_column(tmp_path):
    log = tmp_path / "log.tsv"
    log.write_text("epoch\ttrain_loss\n0\t1.0\n")
    with pytest.raises(ValueError, match="training log split-1: .*missing columns val_loss, val_dice_mean"):
        training_curves({"split-1": log}, tmp_path / "c.png", tmp_path / "c.pdf")


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
