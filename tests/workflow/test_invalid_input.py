"""Invalid input found while indexing, through the real workflow: it stops the run or is skipped.

A unit without a lesion label that is not declared healthy, and a subject
folder whose label is not a BIDS label, stop the run at start with
`on_invalid_input: error`; with `skip` they are listed in
`excluded_subjects.tsv` and get no downstream job.
"""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from tests.conftest import make_bids, run_snakemake

pytestmark = pytest.mark.workflow


def test_missing_lesion_label_and_bad_folder_stop_the_run_or_are_skipped(tmp_path):
    bids = make_bids(tmp_path / "bids", {"01": [None], "02": [None], "03": [None]})
    (bids / "participants.tsv").write_text(
        "participant_id\tpathology\nsub-01\tastrocytoma\nsub-02\tependymoma\nsub-03\tHealthy\n"
    )
    for sub in ("02", "03"):  # sub-03 is declared healthy, sub-02 is not
        (bids / f"derivatives/labels/sub-{sub}/anat/sub-{sub}_T2w_dseg.nii.gz").unlink()
    shutil.copytree(bids / "sub-01", bids / "sub-0-1")  # pybids would read its files as sub-0's
    expected = bids / "derivatives/labels/sub-02/anat/sub-02_T2w_dseg.nii.gz"
    results = tmp_path / "results"
    config = {"bids_dir": str(bids), "results_dir": str(results), "preprocessing": {"run": ["lemay2021"]}}

    proc = run_snakemake("-n", config=config, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert (
        f"sub-02: lesions: no lesion label file (expected {expected}), and sub-02 is not declared healthy"
        in out
    )
    assert f"{bids / 'sub-0-1'}: folder label '0-1' is not a BIDS label" in out
    assert "sub-03:" not in out and "sub-01:" not in out

    skip = {**config, "on_invalid_input": "skip"}
    run_snakemake(str(results / "excluded_subjects.tsv"), config=skip)
    excluded = pd.read_csv(results / "excluded_subjects.tsv", sep="\t", dtype=str, keep_default_na=False)
    assert excluded[["subject", "session", "file"]].to_dict("records") == [
        {"subject": "sub-02", "session": "n/a", "file": "n/a"},
        {"subject": "sub-0-1", "session": "n/a", "file": str(bids / "sub-0-1")},
    ]
    assert excluded["reason"][0].startswith(f"lesions: no lesion label file (expected {expected})")
    # The healthy unit goes on (with an empty lesion map); the invalid ones get no downstream job.
    out = run_snakemake("-n", "preprocess", config=skip).stdout
    assert f"{results}/labels/sub-03/anat/sub-03_space-T2w_dseg.nii.gz" in out
    assert f"{results}/preprocessed/lemay2021/sub-01/anat/" in out
    assert "sub-02_" not in out and "sub-0_" not in out and "sub-0-1" not in out
