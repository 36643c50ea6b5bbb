"""Snakemake runs for real: the DAG, the data stages on demo and real data, bad input.

Each test runs the repository's Snakefile from the repository root with its
outputs in a temporary results folder.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch

from conftest import REPO, TINY, make_bids, run_snakemake

pytestmark = pytest.mark.workflow

REAL = REPO / "tests" / "config" / "real_spine.yaml"


def snakemake(*args: str, configfile: Path | None = None, config: dict | None = None, check: bool = True,
              timeout: int = 900) -> subprocess.CompletedProcess:
    """Run Snakemake from the repository root (see `conftest.run_snakemake`)."""
    return run_snakemake(*args, configfiles=[configfile] if configfile else None, config=config, check=check,
                         timeout=timeout)


def job_counts(output: str) -> dict[str, int]:
    """Rule -> job count from Snakemake's dry-run summary table."""
    counts = {}
    for line in output.splitlines():
        m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if m and m.group(1) != "total":
            counts[m.group(1)] = int(m.group(2))
    return counts


def test_dry_run_of_the_whole_default_study(tmp_path):
    proc = snakemake("-n", config={"results_dir": str(tmp_path / "results")})
    counts = job_counts(proc.stdout + proc.stderr)
    assert counts["demo_subject"] == 12 and counts["demo_dataset"] == 1
    assert counts["validate_subject"] == 12 and counts["register_t1w"] == 12
    assert counts["cord_mask"] == 12 and counts["standardize_labels"] == 12
    # 12 subjects x the demo models' 2 chains (lemaydemo, stanforddemo)
    assert counts["preprocess_subject"] == 24
    assert counts["make_splits"] == 1 and counts["all"] == 1


def test_lint_is_clean():
    proc = snakemake("--lint", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_tiny_study_splits(tiny_run):
    splits = pd.read_csv(tiny_run / "splits" / "splits.tsv", sep="\t")
    assert list(splits.columns) == ["subject", "split", "role"]
    assert sorted(splits.subject.unique()) == ["sub-001", "sub-002", "sub-003", "sub-004"]
    assert sorted(splits.split.unique()) == [0, 1]
    tests = splits[splits.role == "test"]
    assert sorted(tests.subject) == ["sub-001", "sub-002", "sub-003", "sub-004"]  # each tested once
    for _, part in splits.groupby("split"):
        assert part.subject.is_unique


def test_tiny_study_preprocessed_volumes_and_round_trip(tiny_run):
    for sub in ("sub-001", "sub-004"):
        base = tiny_run / "preprocessed" / "lemay2021" / sub / "anat" / f"{sub}_desc-preproc"
        t2 = nib.load(f"{base}_T2w.nii.gz")
        assert t2.shape == (512, 256, 32)
        assert nib.aff2axcodes(t2.affine) == ("S", "A", "R")
        np.testing.assert_allclose(np.sqrt((t2.affine[:3, :3] ** 2).sum(0)), [1.0, 1.0, 2.0], atol=1e-4)
        # BIDS entity order: label before desc.
        cord = base.parent / f"{sub}_label-SC_desc-preproc_mask.nii.gz"
        for name in (f"{base}_T1w.nii.gz", f"{base}_dseg.nii.gz", str(cord)):
            other = nib.load(name)
            assert other.shape == t2.shape and np.allclose(other.affine, t2.affine, atol=1e-4)
        geometry = json.loads(Path(f"{base}_geometry.json").read_text())
        assert geometry  # the native grid is recorded
        # The preprocessed dseg mapped back lands on the native labels (within a voxel).
        from spinetumor.preprocessing import to_native

        native = nib.load(str(tiny_run / "labels" / sub / "anat" / f"{sub}_space-T2w_dseg.nii.gz"))
        back = np.asarray(to_native(nib.load(f"{base}_dseg.nii.gz"), native, order=0).dataobj)
        truth = np.asarray(native.dataobj)
        whole_truth, whole_back = truth > 0, back > 0
        if whole_truth.sum():
            dice = 2 * (whole_truth & whole_back).sum() / (whole_truth.sum() + whole_back.sum())
            assert dice > 0.8, f"{sub}: round-trip Dice {dice:.3f}"
        # The models' own chain is run too, on a grid of its own.
        demo = nib.load(str(tiny_run / "preprocessed" / "lemaydemo" / sub / "anat" / f"{sub}_desc-preproc_T2w.nii.gz"))
        assert demo.shape == (128, 96, 24)


def test_tiny_study_predicts_every_test_unit_of_every_split_with_every_model(tiny_run):
    splits = pd.read_csv(tiny_run / "splits" / "splits.tsv", sep="\t")
    tests = splits[splits.role == "test"]
    for model in ("cascade", "singlestage"):
        found = sorted((tiny_run / "predictions" / model).glob("split-*/sub-*/anat/*_dseg.nii.gz"))
        expected = sorted(
            tiny_run / "predictions" / model / f"split-{row.split}" / row.subject / "anat"
            / f"{row.subject}_space-T2w_desc-{model}_dseg.nii.gz"
            for row in tests.itertuples()
        )
        assert found == expected
        for path in expected:
            native = nib.load(str(tiny_run / "demo" / "bids" / path.parts[-3] / "anat" / f"{path.parts[-3]}_T2w.nii.gz"))
            pred = nib.load(str(path))
            assert pred.shape == native.shape and np.allclose(pred.affine, native.affine, atol=1e-5)
            assert set(np.unique(np.asarray(pred.dataobj))) <= {0, 1, 2, 3}
            sidecar = json.loads(path.with_suffix("").with_suffix(".json").read_text())
            assert sidecar["model"] == model and sidecar["split"] == int(path.parts[-4].removeprefix("split-"))
    cords = sorted((tiny_run / "predictions" / "cascade").glob("split-*/sub-*/anat/*_label-SC_desc-cascade_mask.nii.gz"))
    assert len(cords) == len(tests)


def test_no_test_subject_reaches_any_training_step_of_its_split(tiny_run):
    splits = pd.read_csv(tiny_run / "splits" / "splits.tsv", sep="\t")
    runs = sorted((tiny_run / "models").glob("*/split-*/*/model.pt"))
    assert len(runs) == 2 * (2 + 1)  # 2 splits x (cascade: cord + lesion; singlestage)
    for run in runs:
        split = int(run.parts[-3].removeprefix("split-"))
        roles = splits[splits.split == split].groupby("role")["subject"].apply(set)
        ckpt = torch.load(run, weights_only=True)
        assert set(ckpt["extra"]["train_subjects"]) == roles["train"], run
        assert set(ckpt["extra"]["val_subjects"]) == roles["val"], run
        assert not roles["test"] & (set(ckpt["extra"]["train_subjects"]) | set(ckpt["extra"]["val_subjects"]))
        summary = json.loads((run.parent / "training_summary.json").read_text())
        assert not roles["test"] & set(summary["train_units"] + summary["val_units"])
        if run.parts[-4] == "cascade" and run.parts[-2] == "lesion":
            # Validation crops come from stage 1's prediction, training crops from the cord label.
            boxes = pd.read_csv(run.parent / "crop_boxes.tsv", sep="\t")
            assert set(boxes.unit) == roles["train"] | roles["val"]
            assert set(boxes[boxes.role == "val"].source) == {"stage1"}
            assert set(boxes[boxes.role == "train"].source) == {"label"}
        for name in ("checkpoint_last.pt", "checkpoint_best.pt", "training_log.tsv"):
            assert (run.parent / name).exists()
        assert (tiny_run / "logs" / "models" / run.parts[-4] / run.parts[-3] / f"{run.parts[-2]}.log").exists()


def test_tiny_study_evaluation_tables_and_figures(tiny_run):
    tables, figures = tiny_run / "tables", tiny_run / "figures"
    per_case = pd.read_csv(tables / "per_case_metrics.tsv", sep="\t", na_values=["n/a"])
    assert list(per_case.columns) == ["model", "split", "subject", "participant", "pathology", "label", "metric",
                                         "value"]
    splits = pd.read_csv(tiny_run / "splits" / "splits.tsv", sep="\t")
    tests = {(row.split, row.subject) for row in splits[splits.role == "test"].itertuples()}
    for model in ("cascade", "singlestage"):
        rows = per_case[per_case.model == model]
        assert set(zip(rows.split, rows.subject)) == tests
        assert set(rows.label) == {"tumor", "edema", "cavity", "whole"}
        lemay = pd.read_csv(tables / model / "lemay_table3.tsv", sep="\t")
        assert list(lemay.columns[1:]) == ["whole", "tumour", "cavity", "edema"] and len(lemay) == 7
        assert (tables / model / "lemay_table3.tex").read_text().count("\\toprule") == 1
        assert (tables / model / "stanford_table.md").read_text().startswith("|")
        for name in ("overlays", "training_curves"):
            assert (figures / f"{model}_{name}.png").stat().st_size > 0 and (figures / f"{model}_{name}.pdf").exists()
    # Every metric row of a test case comes from the prediction and the reference of that case.
    whole = per_case[(per_case.label == "whole") & (per_case.metric == "dice")]
    assert whole.value.between(0, 1).all() and len(whole) == 2 * len(tests)
    participants = pd.read_csv(tiny_run / "demo" / "bids" / "participants.tsv", sep="\t").set_index("participant_id")
    for row in whole.itertuples():
        assert row.pathology == participants.at[row.subject, "pathology"]
    comparison = pd.read_csv(tables / "model_comparison.tsv", sep="\t")
    assert {("cascade", "singlestage")} == set(zip(comparison.model_a, comparison.model_b))
    assert "all" in set(comparison.group)
    cord = pd.read_csv(tables / "cord_localisation.tsv", sep="\t", na_values=["n/a"])
    assert set(zip(cord.split, cord.subject)) == tests and cord.cord_dice.between(0, 1).all()
    assert (tables / "cord_localisation_summary.tsv").exists()
    for name in ("dice_per_label", "detection_rates", "volume_agreement", "registration_qc_mosaic"):
        assert (figures / f"{name}.png").stat().st_size > 0 and (figures / f"{name}.pdf").exists()


def test_report_of_the_tiny_study(tiny_run, tmp_path):
    report = tmp_path / "report.html"
    snakemake("--report", str(report), configfile=TINY, config={"results_dir": str(tiny_run)})
    html = report.read_text(errors="replace")
    assert report.stat().st_size > 100_000
    for text in ("per_case_metrics.tsv", "lemay_table3.tsv", "dice_per_label.png", "Evaluation", "Registration"):
        assert text in html, text


def test_tiny_study_registration_and_cord_outputs(tiny_run):
    sub = "sub-002"
    reg = tiny_run / "registration" / sub
    t1 = nib.load(str(reg / "anat" / f"{sub}_space-T2w_T1w.nii.gz"))
    t2 = nib.load(str(tiny_run / "demo" / "bids" / sub / "anat" / f"{sub}_T2w.nii.gz"))
    assert t1.shape == t2.shape and np.allclose(t1.affine, t2.affine, atol=1e-4)
    assert (reg / "anat" / f"{sub}_from-T1w_to-T2w_mode-image_xfm.tfm").stat().st_size > 0
    assert (reg / "figures" / f"{sub}_desc-registration_qc.png").stat().st_size > 0
    cord = json.loads((tiny_run / "cordmask" / sub / "anat" / f"{sub}_space-T2w_label-SC_mask.json").read_text())
    assert cord["source"] == "manual" and cord["voxels"] > 0
    # Logs and benchmarks mirror the outputs under the results folder.
    assert (tiny_run / "logs" / "registration" / sub / f"{sub}.log").exists()
    assert (tiny_run / "benchmarks" / "registration" / sub / f"{sub}.tsv").exists()


def test_real_spine_orientations_grids_and_round_trip(real_spine, tmp_path):
    results = tmp_path / "results"
    snakemake("preprocess", "splits", configfile=REAL,
              config={"results_dir": str(results), "bids_dir": str(real_spine), "preprocessing": {"run": ["lemay2021"]}})
    for sub, native_codes in (("sub-errsm30", ("P", "S", "R")), ("sub-unf01", ("R", "A", "S"))):
        t2_native = nib.load(str(real_spine / sub / "anat" / f"{sub}_T2w.nii.gz"))
        assert nib.aff2axcodes(t2_native.affine) == native_codes
        # Registered T1w on the native T2w grid, whatever the T1w's own grid was.
        t1 = nib.load(str(results / "registration" / sub / "anat" / f"{sub}_space-T2w_T1w.nii.gz"))
        assert t1.shape == t2_native.shape[:3] and np.allclose(t1.affine, t2_native.affine, atol=1e-4)
        base = results / "preprocessed" / "lemay2021" / sub / "anat" / f"{sub}_desc-preproc"
        pre = nib.load(str(base.parent / f"{sub}_label-SC_desc-preproc_mask.nii.gz"))
        assert pre.shape == (512, 256, 32) and nib.aff2axcodes(pre.affine) == ("S", "A", "R")
        from spinetumor.preprocessing import to_native

        cord_native = np.asarray(nib.load(str(real_spine / "derivatives" / "labels" / sub / "anat" /
                                              f"{sub}_T2w_seg-manual.nii.gz")).dataobj) > 0
        back = np.asarray(to_native(pre, t2_native, order=0).dataobj) > 0
        dice = 2 * (cord_native & back).sum() / (cord_native.sum() + back.sum())
        # 2 mm R-L resampling of a ~13 mm wide cord loses the edges; the bulk must come back.
        assert dice > 0.8, f"{sub}: cord round-trip Dice {dice:.3f}"
    splits = pd.read_csv(results / "splits" / "splits.tsv", sep="\t")
    assert sorted(splits.subject.unique()) == ["sub-errsm30", "sub-unf01"]


def _broken_copy(real_spine: Path, dest: Path) -> Path:
    """A copy of the real data whose sub-unf01 T1w contains NaN values."""
    shutil.copytree(real_spine, dest)
    t1_path = dest / "sub-unf01" / "anat" / "sub-unf01_T1w.nii.gz"
    img = nib.load(str(t1_path))
    data = img.get_fdata(dtype=np.float32)
    data[0, 0, 0] = np.nan
    nib.save(nib.Nifti1Image(data, img.affine, img.header), str(t1_path))
    return t1_path


def test_invalid_subject_stops_the_study_with_subject_file_and_problem(real_spine, tmp_path):
    bad = _broken_copy(real_spine, tmp_path / "bids")
    results = tmp_path / "results"
    proc = snakemake("splits", configfile=REAL, check=False,
                     config={"results_dir": str(results), "bids_dir": str(tmp_path / "bids")})
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert f"sub-unf01: {bad}: 1 non-finite voxel values (NaN or inf)" in out
    assert not (results / "splits" / "splits.tsv").exists()
    assert not (results / "validation" / "sub-unf01" / "anat" / "sub-unf01_desc-validation.json").exists()


def test_invalid_subject_is_skipped_and_listed(real_spine, tmp_path):
    bad = _broken_copy(real_spine, tmp_path / "bids")
    results = tmp_path / "results"
    snakemake("preprocess", configfile=REAL,
              config={"results_dir": str(results), "bids_dir": str(tmp_path / "bids"), "on_invalid_input": "skip",
                      "preprocessing": {"run": ["lemay2021"]}})
    excluded = pd.read_csv(results / "excluded_subjects.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert excluded.to_dict("records") == [
        {"subject": "sub-unf01", "session": "n/a", "file": str(bad), "reason": "1 non-finite voxel values (NaN or inf)"}
    ]
    # The bad subject gets no downstream output at all; the good one is processed.
    downstream = [p for p in results.rglob("*sub-unf01*") if not {"validation", "logs", "benchmarks"} & set(p.parts)]
    assert downstream == []
    assert (results / "preprocessed" / "lemay2021" / "sub-errsm30" / "anat").is_dir()


def test_dry_run_with_sessions_and_per_structure_labels(tmp_path):
    bids = make_bids(tmp_path / "bids", {"01": ["pre", "post"], "02": ["pre"], "03": [None]}, lesions="per_structure")
    results = tmp_path / "results"
    proc = snakemake("-n", "preprocess", config={
        "bids_dir": str(bids), "results_dir": str(results),
        "labels": {"lesions": {"format": "per_structure"}},
        "preprocessing": {"run": ["lemay2021"]},
    })
    out = proc.stdout + proc.stderr
    counts = job_counts(out)
    # 4 units x the published models' chains (lemay2021, also named by preprocessing.run, and stanford2023)
    assert counts["validate_subject"] == 4 and counts["preprocess_subject"] == 4 * 2
    assert f"{results}/registration/sub-01/ses-post/anat/sub-01_ses-post_space-T2w_T1w.nii.gz" in out
    assert f"{results}/preprocessed/lemay2021/sub-03/anat/sub-03_desc-preproc_dseg.nii.gz" in out
    # The per-structure files are the label inputs of a unit.
    assert f"{bids}/derivatives/labels/sub-01/ses-pre/anat/sub-01_ses-pre_T2w_seg-edema.nii.gz" in out


def test_missing_contrast_stops_at_start_naming_subject(tmp_path):
    bids = make_bids(tmp_path / "bids", {"01": [None], "02": [None]})
    (bids / "sub-02" / "anat" / "sub-02_ce-gadolinium_T1w.nii.gz").unlink()
    proc = snakemake("-n", config={"bids_dir": str(bids), "results_dir": str(tmp_path / "results")}, check=False)
    assert proc.returncode != 0
    assert "sub-02: T1w: no file matches the configured BIDS entities in sub-02" in proc.stdout + proc.stderr


def test_bad_model_config_stops_at_start_naming_the_model(tmp_path):
    results = str(tmp_path / "results")
    bad = {"results_dir": results, "models": {"run": ["mine"], "definitions": {"mine": {"preset": "lemay2021",
           "stages": {"lesion": {"network": {"out_channels": 2}}}}}}}
    proc = snakemake("-n", config=bad, check=False)
    assert proc.returncode != 0 and "model 'mine'" in proc.stdout + proc.stderr
    assert "in/out channels must match" in proc.stdout + proc.stderr
    proc = snakemake("-n", config={"results_dir": results, "cord_mask": {"priority": ["model", "manual"]}},
                     check=False)
    assert proc.returncode != 0 and "'model' must come last" in proc.stdout + proc.stderr
    proc = snakemake("-n", config={"results_dir": results, "cord_mask": {"priority": ["manual", "model"],
                                                                         "model": "unet"}}, check=False)
    assert proc.returncode != 0 and "'unet' is a unet, not a cascade" in proc.stdout + proc.stderr
