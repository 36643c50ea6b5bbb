"""Which units train a run: the split's roles, no test subject, the cord-source model's draw."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest

from spinetumor.training.roles import (
    LeakageError,
    check_no_leakage,
    check_split_units,
    cord_source_roles,
    split_roles,
)
from tests.conftest import REPO


@pytest.fixture
def splits(tmp_path):
    """Split 0: sub-1..3 train, sub-4 val, sub-5 test."""
    roles = {"sub-1": "train", "sub-2": "train", "sub-3": "train", "sub-4": "val", "sub-5": "test"}
    path = tmp_path / "splits.tsv"
    pd.DataFrame({"subject": list(roles), "split": 0, "role": list(roles.values())}).to_csv(
        path, sep="\t", index=False
    )
    return path


def test_split_roles(splits):
    assert split_roles(splits, 0) == {
        "train": ["sub-1", "sub-2", "sub-3"],
        "val": ["sub-4"],
        "test": ["sub-5"],
    }
    with pytest.raises(ValueError, match="no split 3"):
        split_roles(splits, 3)


def test_check_no_leakage_names_the_units():
    check_no_leakage(["sub-1", "sub-2_ses-1"], ["sub-3"], 0)
    with pytest.raises(LeakageError, match=r"split 2: test subject unit\(s\) \['sub-3_ses-1'\]"):
        check_no_leakage(["sub-1", "sub-3_ses-1"], ["sub-3"], 2)


def test_check_split_units_holds_each_unit_to_its_subjects_role(splits):
    check_split_units(splits, 0, ["sub-1", "sub-2_ses-1"], ["sub-4"])
    with pytest.raises(LeakageError, match=r"test subject unit\(s\) \['sub-5_ses-2'\]"):
        check_split_units(splits, 0, ["sub-1"], ["sub-5_ses-2"])
    with pytest.raises(LeakageError, match="unit sub-4 is not a training subject"):
        check_split_units(splits, 0, ["sub-4"], [])
    with pytest.raises(LeakageError, match="unit sub-1 is not a validation subject"):
        check_split_units(splits, 0, ["sub-2"], ["sub-1"])
    with pytest.raises(LeakageError, match="unit sub-9 is not a training subject"):
        check_split_units(splits, 0, ["sub-9"], [])
    with pytest.raises(ValueError, match="not a unit id"):
        check_split_units(splits, 0, ["sub-1/anat/sub-1_desc-preproc"], [])


def test_cord_source_roles_keep_subjects_together():
    units = ["sub-1", "sub-2_ses-1", "sub-2_ses-2", "sub-3", "sub-4", "sub-5"]
    roles = cord_source_roles(units, 0.2, seed=0)
    assert roles == cord_source_roles(units, 0.2, seed=0)
    assert sorted(roles["train"] + roles["val"]) == units and len({u[:5] for u in roles["val"]}) == 1
    assert ("sub-2_ses-1" in roles["val"]) == ("sub-2_ses-2" in roles["val"])
    assert len(cord_source_roles(units, 0.0, seed=0)["val"]) >= 1  # at least one validation subject
    assert len(cord_source_roles(["sub-1", "sub-2"], 0.9, seed=0)["train"]) == 1  # and one training subject
    with pytest.raises(ValueError, match="at least 2 subjects"):
        cord_source_roles(["sub-1_ses-1", "sub-1_ses-2"], 0.2, seed=0)


def test_roles_import_without_torch():
    code = "import sys, spinetumor.training.roles; assert 'torch' not in sys.modules"
    env = {**os.environ, "PYTHONPATH": str(REPO / "workflow" / "scripts")}
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, env=env)
