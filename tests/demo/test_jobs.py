"""Writing the demo dataset (spinetumor.demo.jobs): subjects, dataset-level files, determinism."""

from __future__ import annotations

import json
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from spinetumor.demo.dataset import subject_paths
from spinetumor.demo.jobs import generate_dataset, write_dataset_files
from spinetumor.demo.params import PATHOLOGIES
from tests.demo import demo_fixtures
from tests.demo.demo_fixtures import IMAGE_KEYS, SEED

# Fixtures shared by the demo test modules (one dataset per session).
cli_dataset = demo_fixtures.cli_dataset


def test_same_seed_same_bytes_whatever_the_number_of_subjects(cli_dataset: Path, tmp_path: Path):
    started = time.perf_counter()
    generate_dataset(tmp_path, 1, SEED)  # one subject, in this process; the CLI wrote three
    elapsed = time.perf_counter() - started
    print(f"one subject (plus dataset files) in {elapsed:.2f} s")
    assert elapsed < 10.0
    again = subject_paths(tmp_path, 1)
    first = subject_paths(cli_dataset, 1)
    for key in IMAGE_KEYS:
        a, b = nib.load(str(first[key])), nib.load(str(again[key]))
        assert a.get_data_dtype() == b.get_data_dtype(), key
        np.testing.assert_array_equal(np.asarray(a.dataobj), np.asarray(b.dataobj), err_msg=key)
        np.testing.assert_array_equal(a.affine, b.affine, err_msg=key)
    assert json.loads(first["t1w_json"].read_text()) == json.loads(again["t1w_json"].read_text())


def test_participants_cover_the_three_pathologies(tmp_path: Path):
    write_dataset_files(tmp_path, 6, SEED)
    table = pd.read_csv(tmp_path / "participants.tsv", sep="\t")
    assert list(table.columns) == ["participant_id", "pathology", "age", "sex"]
    assert list(table["participant_id"]) == [f"sub-{i:03d}" for i in range(1, 7)]
    assert set(table["pathology"]) == set(PATHOLOGIES)
    assert table["sex"].isin(["M", "F"]).all()
    assert table["age"].between(1, 100).all()
    described = json.loads((tmp_path / "participants.json").read_text())
    assert set(described) == set(table.columns)
    assert set(described["pathology"]["Levels"]) == set(PATHOLOGIES)


def test_dataset_files_refuse_a_bad_number_of_subjects(tmp_path: Path):
    for bad in (0, 1000):
        with pytest.raises(ValueError, match="1..999"):
            write_dataset_files(tmp_path, bad, SEED)
    assert not list(tmp_path.iterdir())
