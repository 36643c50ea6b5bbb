"""Tests for spinetumor.evaluation.figures: small synthetic inputs, 300 dpi PNG + PDF out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import write_nifti
from PIL import Image

from spinetumor.evaluation.evaluation import PER_CASE_COLUMNS
from spinetumor.evaluation.figures import (
    detection_rates,
    dice_boxplot,
    overlays,
    pick_best_median_worst,
    registration_mosaic,
    sagittal_slice,
    training_curves,
    volume_agreement,
)

LABELS = ("tumor", "edema", "cavity", "whole")


def synthetic_per_case(seed: int = 0) -> pd.DataFrame:
    """Two models x two splits x four subjects with random but plausible metrics."""
    rng = np.random.default_rng(seed)
    rows = []
    for model in ("cascade", "single"):
        for split in (0, 1):
            for subject in ("01", "02", "03", "04"):
                for label in LABELS:
                    truth = 0.0 if (label == "edema" and subject == "04") else float(rng.uniform(100, 5000))
                    values = {
                        "dice": rng.uniform(0.2, 0.95) if truth else np.nan,
                        "detection_tpr": rng.choice([0.0, 0.5, 1.0]) if truth else np.nan,
                        "detection_fdr": rng.choice([0.0, 0.5]),
                        "vol_truth_mm3": truth,
                        "vol_pred_mm3": 0.0 if subject == "03" else truth * rng.uniform(0.6, 1.4) + 1.0,
                    }
                    rows += [
                        {
                            "model": model,
                            "split": split,
                            "subject": subject,
                            "pathology": "ependymoma",
                            "label": label,
                            "metric": metric,
                            "value": float(value),
                        }
                        for metric, value in values.items()
                    ]
    return pd.DataFrame(rows, columns=list(PER_CASE_COLUMNS))


def assert_figure_files(png: Path, pdf: Path) -> None:
    """Non-empty 300 dpi PNG and a PDF, no temporary file left beside them."""
    assert png.stat().st_size > 1000
    with Image.open(png) as image:
        assert image.info["dpi"] == pytest.approx((300, 300), abs=0.5)
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert not [p for p in png.parent.iterdir() if p.name.startswith(".")]


@pytest.fixture(scope="module")
def per_case() -> pd.DataFrame:
    return synthetic_per_case()


@pytest.mark.parametrize("plot", [dice_boxplot, detection_rates, volume_agreement])
def test_per_case_figures_write_png_and_pdf(tmp_path, per_case, plot):
    png, pdf = plot(per_case, tmp_path / "fig.png", tmp_path / "fig.pdf")
    assert (png, pdf) == (tmp_path / "fig.png", tmp_path / "fig.pdf")
    assert_figure_files(png, pdf)


def test_per_case_figure_without_data_is_an_error(tmp_path, per_case):
    with pytest.raises(ValueError, match="no defined value of dice"):
        dice_boxplot(per_case[per_case["metric"] != "dice"], tmp_path / "f.png", tmp_path / "f.pdf")
    assert not (tmp_path / "f.png").exists()


def test_pick_best_median_worst():
    dice = {"01": 0.9, "02": 0.2, "03": 0.5, "04": 0.7}
    rows = [
        {
            "model": "m",
            "split": 0,
            "subject": s,
            "pathology": "x",
            "label": "whole",
            "metric": "dice",
            "value": v,
        }
        for s, v in dice.items()
    ]
    rows.append(
        {
            "model": "m",
            "split": 0,
            "subject": "05",
            "pathology": "x",
            "label": "whole",
            "metric": "dice",
            "value": np.nan,
        }
    )
    table = pd.DataFrame(rows)
    # Ascending 0.2, 0.5, 0.7, 0.9: lower median is 0.5.
    assert pick_best_median_worst(table, "m") == [(0, "01", 0.9), (0, "03", 0.5), (0, "02", 0.2)]
    two = table[table["subject"].isin(["01", "02"])]
    assert pick_best_median_worst(two, "m") == [(0, "01", 0.9), (0, "02", 0.2)]
    with pytest.raises(ValueError, match="model other: no defined Dice for label whole"):
        pick_best_median_worst(table, "other")


# --------------------------------------------------------------------------- sagittal slices


def marked_volume(shape: tuple[int, int, int], voxel: tuple[int, int, int]) -> np.ndarray:
    data = np.zeros(shape, np.float32)
    data[voxel] = 1.0
    return data


@pytest.mark.parametrize(
    ("affine", "voxel"),
    [
        # RAS: the superior-anterior corner of the middle sagittal slice is (2, A max, S max).
        (np.diag([1.0, 0.5, 2.0, 1.0]), (2, 5, 6)),
        # LPI: index 0 is already anterior and superior.
        (np.diag([-1.0, -0.5, -2.0, 1.0]), (2, 0, 0)),
    ],
)
def test_sagittal_slice_puts_superior_up_and_anterior_left(affine, voxel):
    plane, aspect = sagittal_slice(marked_volume((5, 6, 7), voxel), affine)
    assert plane.shape == (7, 6)  # rows S-I, columns A-P
    assert plane[0, 0] == 1.0
    assert aspect == pytest.approx(2.0 / 0.5)


def test_sagittal_slice_finds_permuted_axes():
    # Array axes: 0 -> anterior, 1 -> superior, 2 -> right (sagittal axis last).
    affine = np.array([[0, 0, 1.0, 0], [1.0, 0, 0, 0], [0, 3.0, 0, 0], [0, 0, 0, 1]])
    plane, aspect = sagittal_slice(marked_volume((6, 7, 4), (5, 6, 2)), affine)
    assert plane.shape == (7, 6)
    assert plane[0, 0] == 1.0
    assert aspect == pytest.approx(3.0)


def test_overlays_write_one_row_per_case(tmp_path):
    shape, affine = (5, 16, 20), np.diag([1.0, 1.0, 1.0, 1.0])
    rng = np.random.default_rng(0)
    truth = np.zeros(shape, np.uint8)
    truth[2, 5:9, 8:12] = 1
    pred = np.zeros(shape, np.uint8)
    pred[2, 6:10, 8:13] = 3
    files = {
        "t2w": write_nifti(tmp_path / "t2w.nii.gz", rng.random(shape).astype(np.float32), affine),
        "t1w": write_nifti(tmp_path / "t1w.nii.gz", rng.random(shape).astype(np.float32), affine),
        "truth": write_nifti(tmp_path / "truth.nii.gz", truth, affine),
        "pred": write_nifti(tmp_path / "pred.nii.gz", pred, affine),
        "empty": write_nifti(tmp_path / "empty.nii.gz", np.zeros(shape, np.uint8), affine),
    }
    cases = [
        {"title": "best: sub-01", **files},
        {"title": "worst: sub-02", **{**files, "pred": files["empty"]}},  # nothing predicted
    ]
    out = tmp_path / "figs"
    assert_figure_files(*overlays(cases, out / "overlay.png", out / "overlay.pdf"))


def test_overlays_reject_other_grid(tmp_path):
    shape = (5, 6, 7)
    t2w = write_nifti(tmp_path / "t2w.nii.gz", np.zeros(shape, np.float32))
    other = write_nifti(tmp_path / "t1w.nii.gz", np.zeros((5, 6, 8), np.float32))
    case = {"title": "sub-01", "t2w": t2w, "t1w": other, "truth": t2w, "pred": t2w}
    with pytest.raises(ValueError, match="overlay case sub-01: .*t1w.nii.gz is not on the grid"):
        overlays([case], tmp_path / "o.png", tmp_path / "o.pdf")


# --------------------------------------------------------------------------- training and QC


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
