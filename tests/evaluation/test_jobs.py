"""Tests for spinetumor.evaluation.jobs: the evaluation jobs from hand-made files, values checked."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest

from spinetumor.evaluation import figures, jobs, overlays, qc_figures
from spinetumor.evaluation.per_case import PER_CASE_COLUMNS, read_tsv, write_tsv
from tests.conftest import write_nifti
from tests.evaluation.evaluation_tables import dseg_pair, per_case_table

PARTICIPANTS = "participant_id\tpathology\tsex\nsub-01\tependymoma\tF\nsub-02\tn/a\tM\n03\tastrocytoma\tF\n"


@pytest.fixture
def participants(tmp_path):
    path = tmp_path / "participants.tsv"
    path.write_text(PARTICIPANTS)
    return path


@pytest.fixture
def per_case_tsv(tmp_path):
    return write_tsv(per_case_table(), tmp_path / "per_case_metrics.tsv")


# --------------------------------------------------------------------------- tumour types


def test_pathology_of_reads_the_column_and_marks_unknown_types(participants):
    # "03" is read as sub-03; the n/a of sub-02 is an unknown type.
    assert jobs.pathology_of(participants, "pathology") == {
        "sub-01": "ependymoma",
        "sub-02": "n/a",
        "sub-03": "astrocytoma",
    }
    assert jobs.pathology_of(participants, "sex")["sub-02"] == "M"


def test_pathology_of_without_table_or_column_is_empty(tmp_path, participants, caplog):
    assert jobs.pathology_of(None, "pathology") == {}
    assert jobs.pathology_of(participants, None) == {}
    assert jobs.pathology_of(tmp_path / "missing.tsv", "pathology") == {}
    with caplog.at_level(logging.WARNING):
        assert jobs.pathology_of(participants, "histology") == {}
    assert "no 'histology' column; tumour types are n/a" in caplog.text


def metric_cases(tmp_path) -> list[dict]:
    """Four test units; the prediction of each has Dice 2/3 against its truth."""
    pred, truth = dseg_pair(tmp_path, "case")
    units = [("sub-01", "sub-01"), ("sub-02", "sub-02"), ("sub-03_ses-01", "sub-03"), ("sub-04", "sub-04")]
    return [
        {"model": "m", "split": 0, "subject": unit, "participant": participant, "pred": pred, "truth": truth}
        for unit, participant in units
    ]


def test_metrics_table_adds_each_participants_tumour_type(tmp_path, participants):
    out = tmp_path / "tables" / "per_case_metrics.tsv"
    table = jobs.metrics_table(metric_cases(tmp_path), participants, "pathology", out)
    written = read_tsv(out).fillna({"pathology": "n/a"})  # the file's n/a reads back as missing
    pd.testing.assert_frame_equal(written, table, check_dtype=False)
    assert list(written.columns) == list(PER_CASE_COLUMNS)
    types = written.drop_duplicates("subject").set_index("subject")["pathology"].to_dict()
    # A session takes its participant's type; sub-02's is n/a, sub-04 is not in participants.tsv.
    assert types == {"sub-01": "ependymoma", "sub-02": "n/a", "sub-03_ses-01": "astrocytoma", "sub-04": "n/a"}
    dice = written[(written["label"] == "tumor") & (written["metric"] == "dice")]["value"]
    assert dice.tolist() == pytest.approx([2 / 3] * 4)
    assert "m\t0\tsub-01\tsub-01\tependymoma\ttumor\tdice\t0.666667" in out.read_text().splitlines()


def test_metrics_table_without_pathology_column_is_all_na(tmp_path, participants):
    table = jobs.metrics_table(metric_cases(tmp_path), participants, None, tmp_path / "t.tsv")
    assert set(table["pathology"]) == {"n/a"}


# --------------------------------------------------------------------------- tables


def test_model_tables_write_lemay_and_stanford_layouts(tmp_path, per_case_tsv):
    lemay = {ext: tmp_path / f"lemay.{ext}" for ext in ("tsv", "tex", "md")}
    stanford = {ext: tmp_path / f"stanford.{ext}" for ext in ("tsv", "tex", "md")}
    jobs.model_tables(per_case_tsv, "A", lemay, stanford, stanford_label="tumor")
    lemay_lines = lemay["tsv"].read_text().splitlines()
    assert lemay_lines[0] == "metric (%)\twhole\ttumour\tcavity\tedema"
    assert lemay_lines[1] == "Dice\t65.0 ± 7.1\t47.5 ± 3.5\tn/a\t40.0"
    tex = lemay["tex"].read_text()
    assert r"\caption{A: mean " in tex and r"Dice & 65.0 $\pm$ 7.1 & 47.5 $\pm$ 3.5 & n/a & 40.0 \\" in tex
    assert "| Dice | 65.0 ± 7.1 | 47.5 ± 3.5 | n/a | 40.0 |" in lemay["md"].read_text().splitlines()
    stanford_lines = stanford["tsv"].read_text().splitlines()
    assert stanford_lines[0] == "split\tn_cases\tsensitivity\tmean_dice\ttp_mean_dice"
    assert stanford_lines[1:] == [
        "0\t2\t1 out of 2 (50.0 %)\t0.40 ± 0.57\t0.80",
        "1\t3\t3 out of 3 (100.0 %)\t0.50 ± 0.10\t0.50 ± 0.10",
        "average\t5\t75.0 %\t0.45 ± 0.33\t0.65 ± 0.10",
    ]
    assert "sensitivity and Dice (tumor)" in stanford["tex"].read_text()


def test_comparison_table_writes_each_pair(tmp_path, per_case_tsv):
    out_tsv, out_md = tmp_path / "comparison.tsv", tmp_path / "comparison.md"
    predicted = {"A": ("whole", "tumor", "edema", "cavity"), "B": ("whole", "tumor")}
    table = jobs.comparison_table(
        per_case_tsv, [("A", "B")], out_tsv, out_md, n_boot=100, predicted=predicted
    )
    written = pd.read_csv(out_tsv, sep="\t", keep_default_na=False, na_values=["n/a"])
    pd.testing.assert_frame_equal(written, table, check_dtype=False, rtol=1e-5)
    # Only the labels both models predict; groups: all, then each tumour type.
    assert list(zip(written["group"], written["label"])) == [
        (group, label) for group in ("all", "astrocytoma", "ependymoma") for label in ("whole", "tumor")
    ]
    whole = written.set_index(["group", "label"]).loc[("all", "whole")]
    assert (whole["n"], whole["mean_a"], whole["mean_b"]) == (4, 0.6625, 0.5375)
    assert whole["mean_diff"] == pytest.approx(0.125)
    assert whole["wilcoxon_p"] == pytest.approx(0.125)
    markdown = out_md.read_text().splitlines()
    assert markdown[2].startswith("| A | B | all | whole | 4 | 0.6625 | 0.5375 | 0.125 | ")


def test_cord_table_reads_crop_boxes_from_sidecars(tmp_path, participants):
    cord = np.zeros((4, 4, 4), np.uint8)
    cord[1, 1, :] = 1
    dseg = np.zeros((4, 4, 4), np.uint8)
    dseg[1, 1, 1] = 1
    files = {
        "pred_cord": write_nifti(tmp_path / "pred_cord.nii.gz", cord),
        "ref_cord": write_nifti(tmp_path / "ref_cord.nii.gz", cord),
        "preproc_dseg": write_nifti(tmp_path / "dseg.nii.gz", dseg),
    }
    cases = []
    for subject, stop in (("sub-01", [4, 4, 4]), ("sub-03", [1, 4, 4])):  # voxel (1, 1, 1) out of the 2nd box
        sidecar = tmp_path / f"{subject}.json"
        sidecar.write_text(json.dumps({"crop_box_preprocessed": [[0, 0, 0], stop]}))
        cases.append(
            {
                "model": "c",
                "split": 0,
                "subject": subject,
                "participant": subject,
                "sidecar": sidecar,
                **files,
            }
        )
    out, summary = tmp_path / "cord.tsv", tmp_path / "summary.tsv"
    jobs.cord_table(cases, participants, "pathology", out, summary)
    table = pd.read_csv(out, sep="\t")
    assert table["pathology"].tolist() == ["ependymoma", "astrocytoma"]
    assert table["cord_dice"].tolist() == [1.0, 1.0]
    assert table["tumour_inside_crop"].tolist() == [True, False]
    totals = pd.read_csv(summary, sep="\t").iloc[0]
    assert (totals["model"], totals["n_cases"], totals["n_with_lesion"]) == ("c", 2, 2)
    assert (totals["cord_dice_pct"], totals["tumour_inside_crop_pct"]) == (100.0, 50.0)


def test_cord_table_needs_a_cascade_sidecar(tmp_path):
    sidecar = tmp_path / "single.json"
    sidecar.write_text("{}")
    case = {"model": "s", "split": 0, "subject": "sub-01", "participant": "sub-01", "sidecar": sidecar}
    with pytest.raises(ValueError, match="single.json: no crop_box_preprocessed"):
        jobs.cord_table([case], None, None, tmp_path / "c.tsv", tmp_path / "s.tsv")


# --------------------------------------------------------------------------- figures


def record(monkeypatch, module, name: str) -> list[tuple]:
    """Replace ``module.name`` by a stub that records its arguments."""
    calls: list[tuple] = []
    monkeypatch.setattr(module, name, lambda *args, **kwargs: calls.append((*args, kwargs)))
    return calls


def test_summary_figures_draw_each_figure_to_its_files(tmp_path, monkeypatch, per_case_tsv):
    drawn = {
        name: record(monkeypatch, figures, name)
        for name in ("dice_boxplot", "detection_rates", "volume_agreement")
    }
    outs = {
        f"{kind}_{ext}": tmp_path / f"{kind}.{ext}"
        for kind in ("dice", "detection", "volume")
        for ext in ("png", "pdf")
    }
    jobs.summary_figures(per_case_tsv, outs)
    for name, kind in (
        ("dice_boxplot", "dice"),
        ("detection_rates", "detection"),
        ("volume_agreement", "volume"),
    ):
        ((table, png, pdf, kwargs),) = drawn[name]
        pd.testing.assert_frame_equal(table, read_tsv(per_case_tsv))
        assert (png, pdf, kwargs) == (outs[f"{kind}_png"], outs[f"{kind}_pdf"], {})


def test_model_figures_show_best_median_and_worst_case(tmp_path, monkeypatch, per_case_tsv):
    shown = record(monkeypatch, overlays, "overlays")
    curves = record(monkeypatch, qc_figures, "training_curves")
    # Model A's whole-lesion Dice: 0.4 (split 0, s3) ... 0.6 (split 0, s2) ... 0.9 (split 1, s4).
    images = {
        str(split): {
            subject: {"t2w": f"{split}/{subject}_T2w.nii.gz"} for subject in ("s1", "s2", "s3", "s4", "s5")
        }
        for split in (0, 1)
    }
    runs = {}
    for split in (0, 1):
        runs[f"split-{split} lesion"] = {
            "epoch": [1, 2],
            "train_loss": [0.9, 0.5 + split],
            "val_loss": [None, 0.7],
        }
        (tmp_path / f"summary{split}.json").write_text(
            json.dumps({"best_epoch": 2, "curves": runs[f"split-{split} lesion"]})
        )
    summaries = {f"split-{split} lesion": tmp_path / f"summary{split}.json" for split in (0, 1)}
    outs = {name: tmp_path / name for name in ("overlay_png", "overlay_pdf", "curves_png", "curves_pdf")}
    jobs.model_figures(per_case_tsv, "A", images, summaries, outs)
    ((cases, png, pdf, _),) = shown
    assert cases == [
        {"title": "best: s4, split 1, Dice 0.90", "t2w": "1/s4_T2w.nii.gz"},
        {"title": "median: s2, split 0, Dice 0.60", "t2w": "0/s2_T2w.nii.gz"},
        {"title": "worst: s3, split 0, Dice 0.40", "t2w": "0/s3_T2w.nii.gz"},
    ]
    assert (png, pdf) == (outs["overlay_png"], outs["overlay_pdf"])
    # Each run's curves are those its training summary carries, under the run's name.
    assert curves == [(runs, outs["curves_png"], outs["curves_pdf"], {})]
    (tmp_path / "summary1.json").write_text(json.dumps({"best_epoch": 2}))
    with pytest.raises(ValueError, match="training curves split-1 lesion: .*summary1.json has no curves"):
        jobs.model_figures(per_case_tsv, "A", images, summaries, outs)


def test_registration_figure_tiles_the_first_units_by_name(tmp_path, monkeypatch, caplog):
    mosaics = record(monkeypatch, qc_figures, "registration_mosaic")
    qc = {f"sub-{i:02d}": tmp_path / f"sub-{i:02d}.png" for i in range(30, 0, -1)}
    with caplog.at_level(logging.INFO):
        jobs.registration_figure(qc, tmp_path / "m.png", tmp_path / "m.pdf", max_tiles=24)
    ((chosen, png, pdf, kwargs),) = mosaics
    assert list(chosen) == [f"sub-{i:02d}" for i in range(1, 25)]
    assert chosen["sub-07"] == tmp_path / "sub-07.png"
    assert (png, pdf, kwargs) == (tmp_path / "m.png", tmp_path / "m.pdf", {"n_columns": 4})
    assert "24 of 30 units shown" in caplog.text
