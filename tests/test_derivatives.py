"""BIDS-derivative metadata: what other tools read from each output folder."""

from __future__ import annotations

import json
import re
import subprocess

import pandas as pd

from spinetumor import LABELS, __version__
from spinetumor.derivatives import code_version, write_description, write_dseg_tsv
from tests.conftest import REPO


def test_description_is_a_bids_derivative_generated_by_this_code(tmp_path):
    path = tmp_path / "preprocessed" / "lemay2021" / "dataset_description.json"
    write_description(path, "preprocessed/lemay2021", "0.1.0+gabc", "volumes after the chain lemay2021")
    assert json.loads(path.read_text()) == {
        "Name": "spinetumor preprocessed/lemay2021",
        "BIDSVersion": "1.9.0",
        "DatasetType": "derivative",
        "GeneratedBy": [
            {
                "Name": "spinetumor",
                "Version": "0.1.0+gabc",
                "Description": "volumes after the chain lemay2021",
            }
        ],
    }


def test_dseg_tsv_maps_every_label_value_of_the_maps(tmp_path):
    write_dseg_tsv(tmp_path / "dseg.tsv")
    table = pd.read_csv(tmp_path / "dseg.tsv", sep="\t")
    assert list(table.columns) == ["index", "name"]
    assert dict(zip(table["name"], table["index"])) == {"background": 0, **LABELS}
    assert LABELS == {"tumor": 1, "edema": 2, "cavity": 3}


def test_code_version_names_the_checkout_commit():
    head = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short=12", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert re.fullmatch(rf"{re.escape(__version__)}\+g{head}(\.dirty)?", code_version(REPO))


def test_code_version_outside_a_checkout_is_the_package_version(tmp_path):
    assert code_version(tmp_path) == __version__
