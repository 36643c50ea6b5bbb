"""The documented command line of the demo dataset (spinetumor.demo.cli, ``python -m spinetumor.demo``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spinetumor.demo.cli import main
from spinetumor.demo.dataset import subject_paths
from tests.demo import demo_fixtures
from tests.demo.demo_fixtures import N_CLI

# Fixtures shared by the demo test modules (one dataset per session).
cli_dataset = demo_fixtures.cli_dataset


def test_cli_writes_the_expected_files(cli_dataset: Path):
    for name in ("dataset_description.json", "participants.tsv", "participants.json", "README"):
        assert (cli_dataset / name).is_file(), name
    description = json.loads((cli_dataset / "dataset_description.json").read_text())
    assert description["DatasetType"] == "raw" and description["BIDSVersion"] and description["Name"]
    labels = cli_dataset / "derivatives" / "labels"
    derived = json.loads((labels / "dataset_description.json").read_text())
    assert derived["DatasetType"] == "derivative" and derived["GeneratedBy"][0]["Name"]
    dseg_rows = (labels / "dseg.tsv").read_text().splitlines()
    assert dseg_rows == ["index\tname", "1\ttumor", "2\tedema", "3\tcavity"]
    for index in range(1, N_CLI + 1):
        sub = f"sub-{index:03d}"
        expected = [
            f"{sub}/anat/{sub}_T2w.nii.gz",
            f"{sub}/anat/{sub}_T2w.json",
            f"{sub}/anat/{sub}_ce-gadolinium_T1w.nii.gz",
            f"{sub}/anat/{sub}_ce-gadolinium_T1w.json",
            f"derivatives/labels/{sub}/anat/{sub}_T2w_dseg.nii.gz",
            f"derivatives/labels/{sub}/anat/{sub}_T2w_seg-manual.nii.gz",
            f"derivatives/labels/{sub}/anat/{sub}_T2w_centerline-manual.nii.gz",
        ]
        for rel in expected:
            assert (cli_dataset / rel).is_file(), rel
        written = subject_paths(cli_dataset, index).values()
        assert {p.relative_to(cli_dataset).as_posix() for p in written} == set(expected)
    assert not list(cli_dataset.rglob(".*")), "temporary files left behind"


def test_the_generator_is_recorded_as_spinetumor_demo(cli_dataset: Path):
    raw = json.loads((cli_dataset / "dataset_description.json").read_text())
    derived = json.loads((cli_dataset / "derivatives" / "labels" / "dataset_description.json").read_text())
    assert raw["GeneratedBy"][0]["Name"] == "spinetumor.demo"
    assert derived["GeneratedBy"][0]["Name"] == "spinetumor.demo"
    assert "python -m spinetumor.demo" in (cli_dataset / "README").read_text()


def test_cli_rejects_bad_arguments(tmp_path: Path):
    for bad in (["--n-subjects", "0"], ["--n-subjects", "1000"], ["--seed", "-1"]):
        with pytest.raises(SystemExit) as stop:
            main([str(tmp_path / "x"), *bad])
        assert stop.value.code == 2, bad
    assert not (tmp_path / "x").exists()


def test_cli_help_says_what_it_writes(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "synthetic BIDS dataset" in capsys.readouterr().out


def test_pybids_indexes_the_dataset(cli_dataset: Path):
    bids = pytest.importorskip("bids")
    layout = bids.BIDSLayout(str(cli_dataset), validate=False)
    assert layout.get_subjects() == ["001", "002", "003"]
    assert len(layout.get(suffix="T2w", extension=".nii.gz")) == N_CLI
    t1w = layout.get(suffix="T1w", ceagent="gadolinium", extension=".nii.gz")
    assert sorted(f.entities["subject"] for f in t1w) == ["001", "002", "003"]
    meta = layout.get_metadata(t1w[0].path)
    assert meta["ContrastBolusIngredient"] == "GADOLINIUM"
