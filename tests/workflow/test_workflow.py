"""Snakemake runs for real: the DAG, the data stages on demo and real data, bad input, and the
tiny study's files recomputed from the files they were made from.

Each test runs the repository's Snakefile from the repository root with its
outputs in a temporary results folder.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch

from tests.conftest import REPO, TINY, make_bids, run_snakemake

pytestmark = pytest.mark.workflow

REAL = REPO / "tests" / "config" / "real_spine.yaml"


def snakemake(
    *args: str,
    configfile: Path | None = None,
    config: dict | None = None,
    check: bool = True,
    timeout: int = 900,
) -> subprocess.CompletedProcess:
    """Run Snakemake from the repository root (see `conftest.run_snakemake`)."""
    return run_snakemake(
        *args, configfiles=[configfile] if configfile else None, config=config, check=check, timeout=timeout
    )


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
    assert counts["demo_subject"] == 15 and counts["demo_dataset"] == 1
    assert counts["validate_subject"] == 15 and counts["register_t1w"] == 15
    assert counts["cord_mask"] == 15 and counts["standardize_labels"] == 15
    # 15 subjects, each job running the demo models' 3 chains (lemaydemo, demofine, stanforddemo)
    assert counts["preprocess_subject"] == 15
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
        from spinetumor.preprocessing.native import to_native

        native = nib.load(str(tiny_run / "labels" / sub / "anat" / f"{sub}_space-T2w_dseg.nii.gz"))
        back = np.asarray(to_native(nib.load(f"{base}_dseg.nii.gz"), native, order=0).dataobj)
        truth = np.asarray(native.dataobj)
        whole_truth, whole_back = truth > 0, back > 0
        if whole_truth.sum():
            dice = 2 * (whole_truth & whole_back).sum() / (whole_truth.sum() + whole_back.sum())
            assert dice > 0.8, f"{sub}: round-trip Dice {dice:.3f}"
        # The models' own chain is run too, on a grid of its own.
        demo = nib.load(
            str(tiny_run / "preprocessed" / "lemaydemo" / sub / "anat" / f"{sub}_desc-preproc_T2w.nii.gz")
        )
        assert demo.shape == (128, 96, 24)


def test_tiny_study_predicts_every_test_unit_of_every_split_with_every_model(tiny_run):
    splits = pd.read_csv(tiny_run / "splits" / "splits.tsv", sep="\t")
    tests = splits[splits.role == "test"]
    for model in ("cascade", "multiresunet"):
        found = sorted((tiny_run / "predictions" / model).glob("split-*/sub-*/anat/*_dseg.nii.gz"))
        expected = sorted(
            tiny_run
            / "predictions"
            / model
            / f"split-{row.split}"
            / row.subject
            / "anat"
            / f"{row.subject}_space-T2w_desc-{model}_dseg.nii.gz"
            for row in tests.itertuples()
        )
        assert found == expected
        for path in expected:
            native = nib.load(
                str(tiny_run / "demo" / "bids" / path.parts[-3] / "anat" / f"{path.parts[-3]}_T2w.nii.gz")
            )
            pred = nib.load(str(path))
            assert pred.shape == native.shape and np.allclose(pred.affine, native.affine, atol=1e-5)
            assert set(np.unique(np.asarray(pred.dataobj))) <= {0, 1, 2, 3}
            sidecar = json.loads(path.with_suffix("").with_suffix(".json").read_text())
            assert sidecar["model"] == model and sidecar["split"] == int(
                path.parts[-4].removeprefix("split-")
            )
    cords = sorted(
        (tiny_run / "predictions" / "cascade").glob("split-*/sub-*/anat/*_label-SC_desc-cascade_mask.nii.gz")
    )
    assert len(cords) == len(tests)


def test_no_test_subject_reaches_any_training_step_of_its_split(tiny_run):
    splits = pd.read_csv(tiny_run / "splits" / "splits.tsv", sep="\t")
    runs = sorted((tiny_run / "models").glob("*/split-*/*/model.pt"))
    assert len(runs) == 2 * (2 + 1)  # 2 splits x (cascade: cord + lesion; multiresunet)
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
        assert (
            tiny_run / "logs" / "models" / run.parts[-4] / run.parts[-3] / f"{run.parts[-2]}.log"
        ).exists()


def test_tiny_study_evaluation_tables_and_figures(tiny_run):
    tables, figures = tiny_run / "tables", tiny_run / "figures"
    per_case = pd.read_csv(tables / "per_case_metrics.tsv", sep="\t", na_values=["n/a"])
    assert list(per_case.columns) == [
        "model",
        "split",
        "subject",
        "participant",
        "pathology",
        "label",
        "metric",
        "value",
    ]
    splits = pd.read_csv(tiny_run / "splits" / "splits.tsv", sep="\t")
    tests = {(row.split, row.subject) for row in splits[splits.role == "test"].itertuples()}
    for model in ("cascade", "multiresunet"):
        rows = per_case[per_case.model == model]
        assert set(zip(rows.split, rows.subject)) == tests
        assert set(rows.label) == {"tumor", "edema", "cavity", "whole"}
        lemay = pd.read_csv(tables / model / "lemay_table3.tsv", sep="\t")
        assert list(lemay.columns[1:]) == ["whole", "tumour", "cavity", "edema"] and len(lemay) == 7
        assert (tables / model / "lemay_table3.tex").read_text().count("\\toprule") == 1
        assert (tables / model / "stanford_table.md").read_text().startswith("|")
        for name in ("overlays", "training_curves"):
            assert (figures / f"{model}_{name}.png").stat().st_size > 0 and (
                figures / f"{model}_{name}.pdf"
            ).exists()
    # Every metric row of a test case comes from the prediction and the reference of that case.
    whole = per_case[(per_case.label == "whole") & (per_case.metric == "dice")]
    assert whole.value.between(0, 1).all() and len(whole) == 2 * len(tests)
    participants = pd.read_csv(tiny_run / "demo" / "bids" / "participants.tsv", sep="\t").set_index(
        "participant_id"
    )
    for row in whole.itertuples():
        assert row.pathology == participants.at[row.subject, "pathology"]
    comparison = pd.read_csv(tables / "model_comparison.tsv", sep="\t")
    assert {("cascade", "multiresunet")} == set(zip(comparison.model_a, comparison.model_b))
    assert "all" in set(comparison.group)
    cord = pd.read_csv(tables / "cord_localisation.tsv", sep="\t", na_values=["n/a"])
    assert set(zip(cord.split, cord.subject)) == tests and cord.cord_dice.between(0, 1).all()
    assert (tables / "cord_localisation_summary.tsv").exists()
    for name in ("dice_per_label", "detection_rates", "volume_agreement", "registration_qc_mosaic"):
        assert (figures / f"{name}.png").stat().st_size > 0 and (figures / f"{name}.pdf").exists()


def test_tiny_study_calibration_of_the_test_probabilities(tiny_run):
    # Every test prediction's probabilities are a tracked output on its native grid, and the
    # calibration table's ECE over all voxels is what those files and the references give.
    splits = pd.read_csv(tiny_run / "splits" / "splits.tsv", sep="\t")
    tests = splits[splits.role == "test"]
    table = pd.read_csv(tiny_run / "tables" / "calibration.tsv", sep="\t", na_values=["n/a"])
    assert set(zip(table.model, table.region)) == {
        (m, r) for m in ("cascade", "multiresunet") for r in ("all", "lesion")
    }
    gaps, total = np.zeros(10), np.zeros(10)
    positives = np.zeros(10)
    for row in tests.itertuples():
        pred = tiny_run / "predictions" / "cascade" / f"split-{row.split}" / row.subject / "anat"
        probs = nib.load(pred / f"{row.subject}_space-T2w_desc-cascade_probseg.nii.gz")
        channels = json.loads((pred / f"{row.subject}_space-T2w_desc-cascade_dseg.json").read_text())[
            "channels"
        ]
        dseg = np.asarray(
            nib.load(
                tiny_run / "labels" / row.subject / "anat" / f"{row.subject}_space-T2w_dseg.nii.gz"
            ).dataobj
        )
        assert probs.shape == (*dseg.shape, len(channels))
        p = np.asarray(probs.dataobj)[..., channels.index("whole")].ravel().astype(np.float64)
        index = np.minimum((p * 10).astype(int), 9)
        total += np.bincount(index, minlength=10)
        gaps += np.bincount(index, weights=p, minlength=10)
        positives += np.bincount(index, weights=(dseg.ravel() > 0), minlength=10)
    filled = total > 0
    ece = (np.abs(gaps[filled] - positives[filled]) / total.sum()).sum()
    row = table[(table.model == "cascade") & (table.label == "whole") & (table.region == "all")].iloc[0]
    assert row.ece == pytest.approx(ece, rel=1e-4) and row.n_voxels == total.sum()
    assert (tiny_run / "tables" / "calibration_bins.tsv").exists()
    assert (tiny_run / "figures" / "reliability.png").stat().st_size > 0


def test_tiny_study_classifies_test_units_from_their_predicted_lesions(tiny_run):
    from spinetumor.classification.features import FEATURES, lesion_features

    splits = pd.read_csv(tiny_run / "splits" / "splits.tsv", sep="\t")
    for split in sorted(set(splits.split)):
        features = pd.read_csv(
            tiny_run / "classification" / f"split-{split}" / "features.tsv", sep="\t", na_values=["n/a"]
        )
        tests = set(splits[(splits.split == split) & (splits.role == "test")].subject)
        assert set(features[features.role == "test"].unit) == tests
        assert (features[features.role == "test"].source == "cascade").all()
        assert (features[features.role != "test"].source == "reference").all()
        row = features[features.role == "test"].iloc[0]
        pred = tiny_run / "predictions" / "cascade" / f"split-{split}" / row.unit / "anat"
        images = {
            "dseg": nib.load(pred / f"{row.unit}_space-T2w_desc-cascade_dseg.nii.gz"),
            "cord": nib.load(pred / f"{row.unit}_space-T2w_label-SC_desc-cascade_mask.nii.gz"),
            "T2w": nib.load(tiny_run / "demo" / "bids" / row.unit / "anat" / f"{row.unit}_T2w.nii.gz"),
            "T1w": nib.load(
                tiny_run / "registration" / row.unit / "anat" / f"{row.unit}_space-T2w_T1w.nii.gz"
            ),
        }
        expected = lesion_features(images)
        for name in FEATURES:
            assert row[name] == pytest.approx(expected[name], rel=1e-5, nan_ok=True), name
    metrics = pd.read_csv(tiny_run / "tables" / "classification_metrics.tsv", sep="\t")
    assert list(metrics.columns) == ["task", "model", "split", "metric", "value", "ci_low", "ci_high"]
    paper = pd.read_csv(tiny_run / "tables" / "classification_table.tsv", sep="\t")
    tasks = ["tumour_type", "astrocytoma_ependymoma"]
    assert list(paper.task.str.split(" ").str[0]) == [t for t in tasks for _ in range(2)]
    assert list(paper.model) == ["features", "zhuo2022"] * 2
    assert (paper.subjects + paper["left out"] == 4).all()
    assert (tiny_run / "figures" / "classification_roc.png").stat().st_size > 0
    comparison = pd.read_csv(tiny_run / "tables" / "classification_comparison.tsv", sep="\t")
    assert list(comparison.task) == tasks and list(comparison.method.str.split(" ").str[0]) == [
        "paired",
        "delong",
    ]
    assert (comparison.model_a == "features").all() and (comparison.model_b == "zhuo2022").all()
    # The DenseNet learns from training units only (the validation units choose its epoch), and no split of
    # the tiny study has a training unit of every class of a task: it predicts nothing, and the pairs are
    # empty (tests/classification/test_comparison.py checks the numbers).
    assert (comparison.n == 0).all() and comparison.difference.isna().all()


def test_tiny_study_crops_the_deep_classifiers_test_units_from_their_predicted_lesions(tiny_run):
    splits = pd.read_csv(tiny_run / "splits" / "splits.tsv", sep="\t")
    for split in sorted(set(splits.split)):
        out = tiny_run / "classification" / f"split-{split}" / "zhuo2022"
        crops = pd.read_csv(out / "crops.tsv", sep="\t").set_index("unit")
        roles = splits[splits.split == split].set_index("subject").role
        assert crops.role.to_dict() == roles.to_dict()
        for unit, row in crops.iterrows():
            if row.role == "test":  # the cascade's prediction for this split, never the labels
                assert row.source == "cascade"
                assert row.dseg.endswith(
                    f"predictions/cascade/split-{split}/{unit}/anat/{unit}_space-T2w_desc-cascade_dseg.nii.gz"
                )
            else:
                assert row.source == "reference" and row.dseg.endswith(
                    f"labels/{unit}/anat/{unit}_space-T2w_dseg.nii.gz"
                )
        assert pd.read_csv(out / "predictions.tsv", sep="\t").empty  # one training unit per split: see above
        log = (tiny_run / "logs" / "classification" / f"split-{split}" / "zhuo2022.log").read_text()
        assert "task astrocytoma_ependymoma: no training unit of class" in log
        assert (out / "model.pt").stat().st_size > 0 and (out / "training_log.tsv").exists()


def test_report_of_the_tiny_study(tiny_run, tmp_path):
    report = tmp_path / "report.html"
    snakemake("--report", str(report), configfile=TINY, config={"results_dir": str(tiny_run)})
    html = report.read_text(errors="replace")
    assert report.stat().st_size > 100_000
    for text in (
        "per_case_metrics.tsv",
        "provenance.tsv",
        "lemay_table3.tsv",
        "dice_per_label.png",
        "Evaluation",
        "Registration",
    ):
        assert text in html, text


def test_tiny_study_registration_and_cord_outputs(tiny_run):
    sub = "sub-002"
    reg = tiny_run / "registration" / sub
    t1 = nib.load(str(reg / "anat" / f"{sub}_space-T2w_T1w.nii.gz"))
    t2 = nib.load(str(tiny_run / "demo" / "bids" / sub / "anat" / f"{sub}_T2w.nii.gz"))
    assert t1.shape == t2.shape and np.allclose(t1.affine, t2.affine, atol=1e-4)
    assert (reg / "anat" / f"{sub}_from-T1w_to-T2w_mode-image_xfm.tfm").stat().st_size > 0
    assert (reg / "figures" / f"{sub}_desc-registration_qc.png").stat().st_size > 0
    cord = json.loads(
        (tiny_run / "cordmask" / sub / "anat" / f"{sub}_space-T2w_label-SC_mask.json").read_text()
    )
    assert cord["source"] == "manual" and cord["voxels"] > 0
    # Logs and benchmarks mirror the outputs under the results folder.
    assert (tiny_run / "logs" / "registration" / sub / f"{sub}.log").exists()
    assert (tiny_run / "benchmarks" / "registration" / sub / f"{sub}.tsv").exists()


def test_real_spine_orientations_grids_and_round_trip(real_spine, tmp_path):
    results = tmp_path / "results"
    snakemake(
        "preprocess",
        "splits",
        configfile=REAL,
        config={
            "results_dir": str(results),
            "bids_dir": str(real_spine),
            "preprocessing": {"run": ["lemay2021"]},
        },
    )
    for sub, native_codes in (("sub-errsm30", ("P", "S", "R")), ("sub-unf01", ("R", "A", "S"))):
        t2_native = nib.load(str(real_spine / sub / "anat" / f"{sub}_T2w.nii.gz"))
        assert nib.aff2axcodes(t2_native.affine) == native_codes
        # Registered T1w on the native T2w grid, whatever the T1w's own grid was.
        t1 = nib.load(str(results / "registration" / sub / "anat" / f"{sub}_space-T2w_T1w.nii.gz"))
        assert t1.shape == t2_native.shape[:3] and np.allclose(t1.affine, t2_native.affine, atol=1e-4)
        base = results / "preprocessed" / "lemay2021" / sub / "anat" / f"{sub}_desc-preproc"
        pre = nib.load(str(base.parent / f"{sub}_label-SC_desc-preproc_mask.nii.gz"))
        assert pre.shape == (512, 256, 32) and nib.aff2axcodes(pre.affine) == ("S", "A", "R")
        from spinetumor.preprocessing.native import to_native

        cord_native = (
            np.asarray(
                nib.load(
                    str(real_spine / "derivatives" / "labels" / sub / "anat" / f"{sub}_T2w_seg-manual.nii.gz")
                ).dataobj
            )
            > 0
        )
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
    proc = snakemake(
        "splits",
        configfile=REAL,
        check=False,
        config={"results_dir": str(results), "bids_dir": str(tmp_path / "bids")},
    )
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert f"sub-unf01: {bad}: 1 non-finite voxel values (NaN or inf)" in out
    assert not (results / "splits" / "splits.tsv").exists()
    assert not (results / "validation" / "sub-unf01" / "anat" / "sub-unf01_desc-validation.json").exists()


def test_invalid_subject_is_skipped_and_listed(real_spine, tmp_path):
    bad = _broken_copy(real_spine, tmp_path / "bids")
    results = tmp_path / "results"
    snakemake(
        "preprocess",
        configfile=REAL,
        config={
            "results_dir": str(results),
            "bids_dir": str(tmp_path / "bids"),
            "on_invalid_input": "skip",
            "preprocessing": {"run": ["lemay2021"]},
        },
    )
    excluded = pd.read_csv(results / "excluded_subjects.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert excluded.to_dict("records") == [
        {
            "subject": "sub-unf01",
            "session": "n/a",
            "file": str(bad),
            "reason": "1 non-finite voxel values (NaN or inf)",
        }
    ]
    # The bad subject gets no downstream output at all; the good one is processed.
    downstream = [
        p for p in results.rglob("*sub-unf01*") if not {"validation", "logs", "benchmarks"} & set(p.parts)
    ]
    assert downstream == []
    assert (results / "preprocessed" / "lemay2021" / "sub-errsm30" / "anat").is_dir()


def test_dry_run_with_sessions_and_per_structure_labels(tmp_path):
    bids = make_bids(
        tmp_path / "bids", {"01": ["pre", "post"], "02": ["pre"], "03": [None]}, lesions="per_structure"
    )
    results = tmp_path / "results"
    proc = snakemake(
        "-n",
        "preprocess",
        config={
            "bids_dir": str(bids),
            "results_dir": str(results),
            "labels": {"lesions": {"format": "per_structure"}},
            "preprocessing": {"run": ["lemay2021"]},
        },
    )
    out = proc.stdout + proc.stderr
    counts = job_counts(out)
    # 4 units, each job running the published models' chains (lemay2021, also named by preprocessing.run,
    # stanford2023 and zhuo2022)
    assert counts["validate_subject"] == 4 and counts["preprocess_subject"] == 4
    for chain in ("lemay2021", "stanford2023", "zhuo2022"):
        assert f"{results}/preprocessed/{chain}/sub-03/anat/sub-03_desc-preproc_T2w.nii.gz" in out
    assert f"{results}/registration/sub-01/ses-post/anat/sub-01_ses-post_space-T2w_T1w.nii.gz" in out
    assert f"{results}/preprocessed/lemay2021/sub-03/anat/sub-03_desc-preproc_dseg.nii.gz" in out
    # The per-structure files are the label inputs of a unit.
    assert f"{bids}/derivatives/labels/sub-01/ses-pre/anat/sub-01_ses-pre_T2w_seg-edema.nii.gz" in out


def test_missing_contrast_stops_at_start_naming_subject(tmp_path):
    bids = make_bids(tmp_path / "bids", {"01": [None], "02": [None]})
    (bids / "sub-02" / "anat" / "sub-02_ce-gadolinium_T1w.nii.gz").unlink()
    proc = snakemake(
        "-n", config={"bids_dir": str(bids), "results_dir": str(tmp_path / "results")}, check=False
    )
    assert proc.returncode != 0
    assert "sub-02: T1w: no file matches the configured BIDS entities in sub-02" in proc.stdout + proc.stderr


def test_bad_model_config_stops_at_start_naming_the_model(tmp_path):
    results = str(tmp_path / "results")
    bad = {
        "results_dir": results,
        "models": {
            "run": ["mine"],
            "definitions": {
                "mine": {"preset": "lemay2021", "stages": {"lesion": {"network": {"out_channels": 2}}}}
            },
        },
    }
    proc = snakemake("-n", config=bad, check=False)
    assert proc.returncode != 0 and "model 'mine'" in proc.stdout + proc.stderr
    assert "in/out channels must match" in proc.stdout + proc.stderr
    # Every stage's training settings are checked at start too, not when its training job runs.
    bad["models"]["definitions"]["mine"] = {
        "preset": "lemay2021",
        "stages": {"lesion": {"training": {"batch_size": 0}}},
    }
    proc = snakemake("-n", config=bad, check=False)
    assert proc.returncode != 0
    assert "model 'mine': stage 'lesion': training settings: batch_size" in proc.stdout + proc.stderr
    # And its inference settings, with its chain, not when its first prediction job runs.
    bad["models"]["definitions"]["mine"] = {"preset": "lemay2021", "inference": {"overlap": 1.5}}
    proc = snakemake("-n", config=bad, check=False)
    assert proc.returncode != 0
    assert "model 'mine': inference settings: inference.overlap" in proc.stdout + proc.stderr
    proc = snakemake(
        "-n", config={"results_dir": results, "cord_mask": {"priority": ["model", "manual"]}}, check=False
    )
    assert proc.returncode != 0 and "'model' must come last" in proc.stdout + proc.stderr
    proc = snakemake(
        "-n",
        config={"results_dir": results, "cord_mask": {"priority": ["manual", "model"], "model": "unet"}},
        check=False,
    )
    assert proc.returncode != 0 and "'unet' is a unet, not a cascade" in proc.stdout + proc.stderr


# --------------------------------------------------------------------------- values, not layout
# The files of the tiny study are recomputed from the files they were made from, through the
# package, and compared with what the workflow wrote. Which job read which file comes from
# Snakemake's own account of the rules (`--detailed-summary`), not from file names written here.

PREDICT_RULES = ("predict", "predict_cascade")


@pytest.fixture(scope="module")
def tiny_jobs(tiny_run) -> pd.DataFrame:
    """One row per output file of the tiny study: ``output_file, rule, inputs`` (the job's input files)."""
    proc = snakemake("--detailed-summary", "--nolock", configfile=TINY, config={"results_dir": str(tiny_run)})
    table = pd.read_csv(io.StringIO(proc.stdout), sep="\t", dtype=str, keep_default_na=False)
    return table.assign(inputs=[sorted(filter(None, s.split(","))) for s in table["input-file(s)"]])[
        ["output_file", "rule", "inputs"]
    ]


def study_setting(section: str, key: str):
    """A setting of the tiny study: the tiny config, else the default study's, else the schema default."""
    import yaml

    for source in (TINY, REPO / "config.yaml"):
        value = (yaml.safe_load(source.read_text()) or {}).get(section, {}).get(key)
        if value is not None:
            return value
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    return schema["properties"][section]["properties"][key]["default"]


def outputs_of(jobs: pd.DataFrame, rules: tuple[str, ...] | str) -> list[str]:
    return sorted(jobs.loc[jobs.rule.isin([rules] if isinstance(rules, str) else rules), "output_file"])


def inputs_of(jobs: pd.DataFrame, output: str) -> list[str]:
    return jobs.set_index("output_file").at[output, "inputs"]


def same_job(jobs: pd.DataFrame, output: str) -> list[str]:
    """Every output of the job that wrote `output` (the rows with its rule and inputs)."""
    rule, inputs = jobs.set_index("output_file").loc[output, ["rule", "inputs"]]
    return sorted(jobs.loc[(jobs.rule == rule) & (jobs.inputs.map(lambda i: i == inputs)), "output_file"])


def read_per_case(jobs: pd.DataFrame) -> tuple[str, pd.DataFrame]:
    """The per-case table the workflow wrote (path and contents)."""
    (path,) = outputs_of(jobs, "per_case_metrics")
    return path, pd.read_csv(path, sep="\t", keep_default_na=False, na_values=["n/a"])


def predicted_cases(jobs: pd.DataFrame) -> dict[tuple[str, int, str], tuple[str, str]]:
    """(model, split, unit) -> (predicted dseg, reference dseg) of every case the per-case table scores.

    The per-case job reads each test prediction (a prediction job's output) and the unit's
    reference; the model and split of a prediction are those of the checkpoints its job read.
    """
    per_case_path, per_case = read_per_case(jobs)
    read = set(inputs_of(jobs, per_case_path))
    predictions = set(outputs_of(jobs, PREDICT_RULES)) & read
    references = read - predictions
    cases = {}
    for pred in sorted(predictions):
        checkpoints = [f for f in inputs_of(jobs, pred) if f.endswith(".pt")]
        extras = [torch.load(f, weights_only=True)["extra"] for f in checkpoints]
        assert extras and len({(e["model_name"], e["split"]) for e in extras}) == 1, pred
        units = [u for u in set(per_case.subject) if Path(pred).name.startswith(f"{u}_")]
        assert len(units) == 1, f"{pred}: units {units}"
        (truth,) = [
            f for f in references if Path(f).name.startswith(f"{units[0]}_") and f.endswith(".nii.gz")
        ]
        cases[(extras[0]["model_name"], int(extras[0]["split"]), units[0])] = (pred, truth)
    return cases


def test_per_case_metrics_are_those_of_the_written_prediction_and_reference(tiny_jobs):
    from spinetumor.evaluation.metrics import evaluate_files

    _, per_case = read_per_case(tiny_jobs)
    cases = predicted_cases(tiny_jobs)
    assert set(cases) == set(zip(per_case.model, per_case.split, per_case.subject))
    min_overlap = study_setting("evaluation", "min_overlap_mm3")
    # The first case of each model (every metric of every label).
    for model in sorted(set(per_case.model)):
        key = min(k for k in cases if k[0] == model)
        pred, truth = cases[key]
        expected = evaluate_files(pred, truth, min_overlap)
        written = per_case[
            (per_case.model == model) & (per_case.split == key[1]) & (per_case.subject == key[2])
        ]
        merged = expected.merge(
            written,
            on=["label", "metric"],
            how="outer",
            suffixes=("_expected", "_written"),
            validate="one_to_one",
            indicator=True,
        )
        assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"]
        # The same computation on the same files: the written value is the recomputed one to the
        # 6 significant digits that the table keeps.
        rounded = [float(f"{value:.6g}") for value in merged.value_expected]
        np.testing.assert_array_equal(merged.value_written, rounded, err_msg=str(key))
        assert merged.value_expected.notna().any()


def mean_sd_cell(text: str) -> tuple[float, float]:
    """``"m ± s"`` -> (m, s); ``"m"`` -> (m, NaN); ``"n/a"`` -> (NaN, NaN)."""
    if text == "n/a":
        return math.nan, math.nan
    mean, _, sd = text.partition("±")
    return float(mean), float(sd) if sd.strip() else math.nan


def printed_as(value: float, decimals: int) -> set[float]:
    """What `value` prints as with `decimals` decimals: one number, or both at a rounding tie
    (the tables' own arithmetic may put a tie like 70231.15 a rounding error either side)."""
    eps = 1e-9 * max(1.0, abs(value))
    return {float(f"{v:.{decimals}f}") for v in (value - eps, value, value + eps)}


def assert_printed(cell: str, mean: float, sd: float, decimals: int, what: str) -> None:
    """The printed ``mean ± sd`` is the recomputed one, rounded to the printed decimals."""
    for shown, value in zip(mean_sd_cell(cell), (mean, sd)):
        ok = math.isnan(shown) if math.isnan(value) else shown in printed_as(value, decimals)
        assert ok, f"{what}: {cell!r}, recomputed {mean} ± {sd}"


def test_lemay_and_stanford_tables_are_recomputed_from_the_per_case_table(tiny_jobs):
    from spinetumor.evaluation.lemay import LABEL_DISPLAY, LEMAY_METRICS

    _, per_case = read_per_case(tiny_jobs)
    for model in sorted(set(per_case.model)):
        rows = per_case[per_case.model == model]
        (lemay_path,) = [
            f
            for f in outputs_of(tiny_jobs, "model_tables")
            if Path(f).name == "lemay_table3.tsv" and Path(f).parent.name == model
        ]
        lemay = pd.read_csv(lemay_path, sep="\t", index_col=0, dtype=str, keep_default_na=False)
        # Lemay Table 3, whole-tumour column: per split, the mean over its test subjects
        # (undefined values skipped); then mean and sample sd of those split means, in percent.
        for metric, printed in LEMAY_METRICS.items():
            values = rows[(rows.label == "whole") & (rows.metric == metric)]
            split_means = [
                100 * np.nanmean(v) for _, v in values.groupby("split")["value"] if v.notna().any()
            ]
            mean = float(np.mean(split_means)) if split_means else math.nan
            sd = float(np.std(split_means, ddof=1)) if len(split_means) > 1 else math.nan
            assert_printed(lemay.at[printed, LABEL_DISPLAY["whole"]], mean, sd, 1, f"{model} Lemay {metric}")

        # Stanford, one row per split: the split's test patients that have the label, those with
        # a detected lesion, mean Dice with missed patients at 0, and Dice of the detected ones.
        label = study_setting("evaluation", "stanford_label")
        (stanford_path,) = [
            f
            for f in outputs_of(tiny_jobs, "model_tables")
            if Path(f).name == "stanford_table.tsv" and Path(f).parent.name == model
        ]
        stanford = pd.read_csv(stanford_path, sep="\t", dtype=str, keep_default_na=False).set_index("split")
        wide = rows[rows.label == label].pivot(
            index=["split", "subject", "participant"], columns="metric", values="value"
        )
        for split, cases in wide.reset_index().groupby("split"):
            # The table counts patients; without sessions (the tiny study) each unit is one.
            assert cases.participant.is_unique
            cases = cases[cases.detection_tpr.notna()]
            detected = cases.detection_tpr > 0
            n, k = len(cases), int(detected.sum())
            row = stanford.loc[str(split)]
            assert int(row.n_cases) == n, f"{model} split {split}"
            assert row.sensitivity == f"{k} out of {n} ({100 * k / n:.1f} %)", f"{model} split {split}"
            dice_all = np.where(detected, cases.dice, 0.0)
            sd_all = float(np.std(dice_all, ddof=1)) if n > 1 else math.nan
            assert_printed(
                row.mean_dice, float(np.mean(dice_all)), sd_all, 2, f"{model} Stanford split {split}"
            )
            tp = cases.dice[detected].dropna()
            tp_mean = float(tp.mean()) if len(tp) else math.nan
            tp_sd = float(tp.std(ddof=1)) if len(tp) > 1 else math.nan
            assert_printed(row.tp_mean_dice, tp_mean, tp_sd, 2, f"{model} Stanford TP split {split}")


def test_a_written_prediction_is_what_its_checkpoints_predict_from_the_units_inputs(tiny_jobs, tmp_path):
    from spinetumor.inference.jobs import predict_subject

    cases = predicted_cases(tiny_jobs)
    # The first test unit of the first split, with every model (one inference each).
    for key in sorted(k for k in cases if (k[1], k[2]) == min((k[1], k[2]) for k in cases)):
        model_name, split, unit = key
        pred = cases[key][0]
        inputs = inputs_of(tiny_jobs, pred)
        checkpoints = {}
        for path in (f for f in inputs if f.endswith(".pt")):
            extra = torch.load(path, weights_only=True)["extra"]
            checkpoints[extra["stage"]] = (path, extra)
        # The model and chains as the prediction job got them (recorded by its training jobs):
        # the lesion stage's chain, and the cord stage's when it has one of its own.
        settings = {json.dumps(e["model_config"], sort_keys=True) for _, e in checkpoints.values()}
        assert len(settings) == 1, f"{pred}: the stages were trained with different settings"
        model, chain = checkpoints["lesion"][1]["model_config"], checkpoints["lesion"][1]["chain"]
        stage1_chain = checkpoints["cord"][1]["chain"] if "cord" in checkpoints else None
        if model_name == "cascade":  # tiny.yaml gives its cord stage a coarse chain of its own
            assert stage1_chain != chain
        stage1_chain = None if stage1_chain == chain else stage1_chain
        # The job's other outputs: its sidecar, its probabilities and, for a cascade, the stage-1 cord mask.
        siblings = [f for f in same_job(tiny_jobs, pred) if f != pred]
        (sidecar_path,) = [f for f in siblings if f.endswith(".json")]
        (probs,) = [f for f in siblings if f.endswith("_probseg.nii.gz")]
        cords = [f for f in siblings if f.endswith("_mask.nii.gz")]
        # The images the job read, in the roles its sidecar records (native T2w, then T1w on it).
        sidecar = json.loads(Path(sidecar_path).read_text())
        images = [f for f in inputs if not f.endswith(".pt")]
        assert sorted(sidecar["Sources"]) == sorted(images), pred
        assert sidecar["checkpoints"] == {stage: path for stage, (path, _) in checkpoints.items()}, pred
        t2w, t1w = sidecar["Sources"]
        out = tmp_path / model_name
        recomputed = predict_subject(
            model,
            split,
            chain,
            t2w,
            t1w,
            {stage: path for stage, (path, _) in checkpoints.items()},
            out / Path(pred).name,
            out / "sidecar.json",
            out_cord=out / "cord.nii.gz" if cords else None,
            out_probs=out / "probs.nii.gz",
            stage1_chain_steps=stage1_chain,
            subject=unit,
            device="cpu",
        )
        written, again = nib.load(pred), nib.load(str(out / Path(pred).name))
        assert np.allclose(written.affine, again.affine, atol=1e-5) and written.shape == again.shape, pred
        # CPU inference is deterministic: the label maps must be identical.
        np.testing.assert_array_equal(np.asarray(written.dataobj), np.asarray(again.dataobj), err_msg=pred)
        assert recomputed["crop_box_preprocessed"] == sidecar["crop_box_preprocessed"]
        np.testing.assert_allclose(
            nib.load(probs).get_fdata(), nib.load(out / "probs.nii.gz").get_fdata(), atol=1e-5, err_msg=probs
        )
        for cord in cords:
            again_cord = nib.load(str(out / "cord.nii.gz"))
            np.testing.assert_array_equal(
                np.asarray(nib.load(cord).dataobj), np.asarray(again_cord.dataobj), err_msg=cord
            )


def sha256_of(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_provenance_names_every_run_and_every_metric_joins_to_its_weights(tiny_jobs):
    from spinetumor.provenance import library_versions

    (table_path,) = outputs_of(tiny_jobs, "provenance_table")
    results = Path(table_path).parents[1]
    # As text (a version such as "1.10" is not a number), with the split as the other tables have it.
    provenance = pd.read_csv(table_path, sep="\t", dtype=str, keep_default_na=False)
    provenance["split"] = provenance.split.astype(int)
    # The fixed columns, then the libraries in library_versions()' order (the study ran in this environment).
    fixed = ["model", "split", "stage", "checkpoint", "checkpoint_sha256", "config_sha256", "seed"]
    assert list(provenance.columns) == [*fixed, "epochs", "best_epoch", "code_version", *library_versions()]
    # One row per model x split x stage, and the job read exactly those runs' weights and summaries.
    splits = sorted(set(pd.read_csv(results / "splits" / "splits.tsv", sep="\t").split))
    runs = [("cascade", "cord"), ("cascade", "lesion"), ("multiresunet", "lesion")]
    keys = list(zip(provenance.model, provenance.split, provenance.stage))
    assert sorted(keys) == sorted((model, k, stage) for k in splits for model, stage in runs)
    read = [results / row.checkpoint for row in provenance.itertuples()]
    read += [p.with_name("training_summary.json") for p in read]
    assert sorted(inputs_of(tiny_jobs, table_path)) == sorted(str(p) for p in read)
    for row in provenance.to_dict("records"):
        checkpoint = results / row["checkpoint"]
        assert row["checkpoint_sha256"] == sha256_of(checkpoint), row["checkpoint"]
        ckpt = torch.load(checkpoint, weights_only=True)
        extra = ckpt["extra"]
        assert (extra["model_name"], extra["split"], extra["stage"]) == (
            row["model"],
            row["split"],
            row["stage"],
        )
        canonical = json.dumps(extra["model_config"], sort_keys=True, separators=(",", ":"))
        assert row["config_sha256"] == hashlib.sha256(canonical.encode()).hexdigest()
        summary = json.loads(checkpoint.with_name("training_summary.json").read_text())
        assert [row["seed"], row["epochs"], row["best_epoch"]] == [
            str(ckpt["seed"]),
            str(summary["last_epoch"]),
            str(ckpt["epoch"]),
        ]
        assert row["code_version"] == summary["code_version"]
        assert {name: row[name] for name in summary["libraries"]} == summary["libraries"]
    assert (provenance.groupby("model").config_sha256.nunique() == 1).all()
    # Every scored prediction: its sidecar's digests are the provenance rows of its model and split,
    # and those of the checkpoints its job read.
    _, per_case = read_per_case(tiny_jobs)
    cases = predicted_cases(tiny_jobs)
    assert set(cases) == set(zip(per_case.model, per_case.split, per_case.subject))
    for (model, split, unit), (pred, _) in cases.items():
        (sidecar,) = [f for f in same_job(tiny_jobs, pred) if f.endswith(".json")]
        digests = json.loads(Path(sidecar).read_text())["checkpoint_sha256"]
        rows = provenance[(provenance.model == model) & (provenance.split == split)]
        assert len(rows) and digests == dict(zip(rows.stage, rows.checkpoint_sha256)), (model, split, unit)
        loaded = {sha256_of(f) for f in inputs_of(tiny_jobs, pred) if f.endswith(".pt")}
        assert set(digests.values()) == loaded, pred
