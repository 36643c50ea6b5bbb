"""`snakemake apply`: an exported model segments every unit of a dataset into a BIDS derivative of its own."""

from __future__ import annotations

import json
import shutil

import nibabel as nib
import numpy as np
import pytest

from tests.conftest import REPO, run_snakemake
from tests.workflow.test_own_dataset import _fingerprint

pytestmark = pytest.mark.workflow

REAL = REPO / "tests" / "config" / "real_spine.yaml"


def test_apply_segments_every_unit_and_leaves_the_dataset_alone(real_spine, exported, tmp_path):
    bids = shutil.copytree(real_spine, tmp_path / "bids")
    before = _fingerprint(bids)
    results = tmp_path / "results"
    config = {"results_dir": str(results), "bids_dir": str(bids), "apply_model": str(exported["folder"])}
    run_snakemake("apply", configfiles=[REAL], config=config)
    assert _fingerprint(bids) == before
    out = results / "apply" / "tiny"
    description = json.loads((out / "dataset_description.json").read_text())
    assert (
        description["DatasetType"] == "derivative" and description["GeneratedBy"][0]["Name"] == "spinetumor"
    )
    assert str(exported["folder"]) in description["GeneratedBy"][0]["Description"]
    assert (out / "dseg.tsv").read_text().splitlines()[1:] == [
        "0\tbackground",
        "1\ttumor",
        "2\tedema",
        "3\tcavity",
    ]
    for subject in ("sub-errsm30", "sub-unf01"):
        t2w = nib.load(bids / subject / "anat" / f"{subject}_T2w.nii.gz")
        base = out / subject / "anat" / f"{subject}_space-T2w_desc-tiny"
        for suffix in ("dseg", "uncertainty", "label-SC_mask", "label-tumor_probseg", "label-whole_probseg"):
            img = nib.load(f"{base}_{suffix}.nii.gz")
            assert img.shape == t2w.shape and np.allclose(img.affine, t2w.affine), (subject, suffix)
        sidecar = json.loads(open(f"{base}_dseg.json").read())
        assert sidecar["Sources"][0] == str(bids / subject / "anat" / f"{subject}_T2w.nii.gz")
        assert sidecar["Folds"] == [0, 1] and "Registration" in sidecar
    assert not list(out.rglob(".spinetumor-*"))  # no work folder left


def test_apply_needs_a_valid_model_folder(real_spine, exported, tmp_path):
    config = {"results_dir": str(tmp_path / "results"), "bids_dir": str(real_spine)}
    proc = run_snakemake("apply", "-n", configfiles=[REAL], config=config, check=False)
    assert proc.returncode != 0 and "the target `apply` needs `apply_model`" in proc.stdout + proc.stderr
    broken = shutil.copytree(exported["folder"], tmp_path / "model")
    (broken / "configs" / "metadata.json").write_text("{}")
    proc = run_snakemake(
        "apply", "-n", configfiles=[REAL], config={**config, "apply_model": str(broken)}, check=False
    )
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert "apply_model: " in output and "changed since export: configs/metadata.json" in output
