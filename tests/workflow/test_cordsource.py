"""The cord mask source `model`: a unit without a cord label gets the cord that a cascade's cord stage predicts.

A real Snakemake run on three demo subjects, one of them stripped of its cord
and centreline labels: the cord-source model trains on the other two only,
predicts the third's cord on its native grid, and that becomes its cord mask.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import yaml

from spinetumor.demo.jobs import generate_dataset
from spinetumor.models.definitions import deep_merge
from spinetumor.study import demo_study
from tests.conftest import TINY, run_snakemake

pytestmark = pytest.mark.workflow

# A copy of demo data is a dataset of its own: the demo cascade, as tiny.yaml shrinks it, is named in full.
TINY_CASCADE = {
    "run": ["cascade"],
    "definitions": {
        "cascade": deep_merge(
            demo_study()["models"]["definitions"]["cascade"],
            yaml.safe_load(TINY.read_text())["models"]["definitions"]["cascade"],
        )
    },
}


def strip_cord_labels(bids: Path, subject: str) -> None:
    """Delete the subject's manual cord mask and centreline: only the cord source `model` is left to it."""
    labels = bids / "derivatives" / "labels" / subject / "anat"
    for name in (f"{subject}_T2w_seg-manual.nii.gz", f"{subject}_T2w_centerline-manual.nii.gz"):
        (labels / name).unlink()


def test_a_unit_without_cord_label_gets_the_cord_source_models_prediction(tmp_path):
    bids = generate_dataset(tmp_path / "bids", 3, seed=0)
    strip_cord_labels(bids, "sub-003")
    results = tmp_path / "results"
    config = {
        "bids_dir": str(bids),
        "results_dir": str(results),
        "preprocessing": {"run": []},
        "models": TINY_CASCADE,
        "cord_mask": {"priority": ["manual", "centerline", "model"]},
        # Registration is not what this test is about: one short rigid level.
        "registration": {
            "stages": ["rigid"],
            "iterations": 20,
            "shrink_factors": [4],
            "smoothing_sigmas_mm": [2.0],
        },
    }
    anat = results / "cordmask" / "sub-003" / "anat"
    target = anat / "sub-003_space-T2w_label-SC_mask.nii.gz"
    run_snakemake(str(target), configfiles=[TINY], config=config)

    summary = json.loads(
        (results / "models" / "cascade" / "cordsource" / "cord" / "training_summary.json").read_text()
    )
    assert summary["purpose"] == "cord_source" and summary["stage"] == "cord"
    assert sorted(summary["train_units"] + summary["val_units"]) == ["sub-001", "sub-002"]  # never sub-003

    info = json.loads((anat / "sub-003_space-T2w_label-SC_mask.json").read_text())
    predicted = anat / "sub-003_space-T2w_label-SC_desc-cascade_mask.nii.gz"
    assert info["source"] == "model" and info["source_file"] == str(predicted)
    sidecar = json.loads((anat / "sub-003_space-T2w_label-SC_desc-cascade_mask.json").read_text())
    assert sidecar["model"] == "cascade" and sidecar["checkpoint"].endswith("cordsource/cord/model.pt")
    t2w, mask = nib.load(str(bids / "sub-003" / "anat" / "sub-003_T2w.nii.gz")), nib.load(str(target))
    assert mask.shape == t2w.shape and np.allclose(mask.affine, t2w.affine)
    assert set(np.unique(np.asarray(mask.dataobj))) <= {0, 1}
    assert info["voxels"] == sidecar["voxels"]
    # The labelled units keep their manual masks.
    other = json.loads(
        (results / "cordmask" / "sub-001" / "anat" / "sub-001_space-T2w_label-SC_mask.json").read_text()
    )
    assert other["source"] == "manual"


def test_a_split_whose_validation_units_all_have_predicted_cords_stops_with_a_clear_error(tmp_path):
    bids = generate_dataset(tmp_path / "bids", 4, seed=0)
    config = {
        "bids_dir": str(bids),
        "preprocessing": {"run": []},
        "models": TINY_CASCADE,
        "cord_mask": {"priority": ["manual", "centerline", "model"]},
    }
    # Which subject validates split 0 (the splits do not depend on the cord labels) ...
    first = tmp_path / "first"
    run_snakemake(
        str(first / "splits" / "splits.tsv"), configfiles=[TINY], config={**config, "results_dir": str(first)}
    )
    table = pd.read_csv(first / "splits" / "splits.tsv", sep="\t", dtype={"subject": str})
    val = table.loc[(table["split"] == 0) & (table["role"] == "val"), "subject"].tolist()
    assert len(val) == 1  # 4 subjects, 2 folds: 2 test, 1 validation, 1 training subject per split
    # ... loses its cord labels: a fresh study stops once the splits exist, naming the split and the unit.
    strip_cord_labels(bids, val[0])
    results = tmp_path / "results"
    target = results / "models" / "cascade" / "split-0" / "cord" / "model.pt"
    proc = run_snakemake(
        str(target), configfiles=[TINY], config={**config, "results_dir": str(results)}, check=False
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"split 0: every val unit ({val[0]}) has a predicted cord mask" in output, output[-3000:]
    assert "give one of them a cord label" in output
    assert (results / "splits" / "splits.tsv").read_bytes() == (first / "splits" / "splits.tsv").read_bytes()
    assert not target.exists()
