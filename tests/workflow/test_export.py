"""The tiny study exports each model as a folder that `spinetumor predict` runs outside the study."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from spinetumor.export.folder import open_model
from spinetumor.provenance import sha256_file

SPINETUMOR = str(Path(sys.executable).with_name("spinetumor"))


def test_each_model_is_exported_with_the_studys_weights(tiny_run):
    splits = sorted(set(pd.read_csv(tiny_run / "splits" / "splits.tsv", sep="\t")["split"]))
    for name, stages in (("cascade", ["cord", "lesion"]), ("multiresunet", ["lesion"])):
        model = open_model(tiny_run / "export" / name)  # checks every file against the manifest
        assert model.folds == splits and model.stages == stages
        for k in splits:
            for stage in stages:
                study_weights = tiny_run / "models" / name / f"split-{k}" / stage / "model.pt"
                assert model.digests[f"models/split-{k}/{stage}.pt"] == sha256_file(study_weights)
        summary = json.loads(
            (
                tiny_run / "models" / name / f"split-{splits[0]}" / stages[-1] / "training_summary.json"
            ).read_text()
        )
        assert model.config["model"]["name"] == name == summary["model"]


def test_the_exported_cascade_predicts_what_the_study_predicted(tiny_run, tmp_path):
    # One fold of the exported cascade on a test subject of that fold, from the raw T2w and T1w (registered
    # again by the command): the same cord and label map as the study's prediction.
    splits = pd.read_csv(tiny_run / "splits" / "splits.tsv", sep="\t")
    row = splits[splits.role == "test"].iloc[0]
    subject, split = row.subject, int(row.split)
    anat = tiny_run / "demo" / "bids" / subject / "anat"
    t2w, t1w = anat / f"{subject}_T2w.nii.gz", next(anat.glob(f"{subject}_*T1w.nii.gz"))
    out = tmp_path / "out"
    cmd = [SPINETUMOR, "predict", "--model", str(tiny_run / "export" / "cascade"), "--t2w", str(t2w)]
    cmd += ["--t1w", str(t1w), "--out", str(out), "--folds", str(split), "--threads", "2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    study = tiny_run / "predictions" / "cascade" / f"split-{split}" / subject / "anat"
    for ours, theirs in (
        (
            out / f"{subject}_space-T2w_desc-cascade_label-SC_mask.nii.gz",
            study / f"{subject}_space-T2w_label-SC_desc-cascade_mask.nii.gz",
        ),
        (
            out / f"{subject}_space-T2w_desc-cascade_dseg.nii.gz",
            study / f"{subject}_space-T2w_desc-cascade_dseg.nii.gz",
        ),
    ):
        a, b = nib.load(ours), nib.load(theirs)
        assert a.shape == b.shape and np.allclose(a.affine, b.affine)
        # The registration runs again here; a difference in its last digits may move a few voxels.
        differ = np.mean(np.asarray(a.dataobj) != np.asarray(b.dataobj))
        assert differ <= 0.001, (ours.name, differ)
    cord = np.asarray(nib.load(out / f"{subject}_space-T2w_desc-cascade_label-SC_mask.nii.gz").dataobj)
    assert cord.any()
