"""Tests for spinetumor.evaluation.per_case: the long per-case table and its TSV file."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from spinetumor.evaluation.masks import LABEL_NAMES
from spinetumor.evaluation.metrics import METRIC_NAMES
from spinetumor.evaluation.per_case import PER_CASE_COLUMNS, per_case_metrics, read_tsv, write_tsv
from tests.conftest import write_nifti
from tests.evaluation.evaluation_tables import dseg_pair, per_case_table


@pytest.fixture
def per_case() -> pd.DataFrame:
    return per_case_table()


def test_per_case_metrics_long_format_with_case_columns(tmp_path):
    pred, truth = dseg_pair(tmp_path, "a")
    cases = [
        {
            "model": "cascade",
            "split": 0,
            "subject": "sub-01_ses-01",
            "participant": "sub-01",
            "pathology": "ependymoma",
            "pred": pred,
            "truth": truth,
        },
        {
            "model": "cascade",
            "split": 1,
            "subject": "sub-01_ses-01",
            "participant": "sub-01",
            "pathology": "ependymoma",
            "pred": truth,
            "truth": truth,
        },
    ]
    table = per_case_metrics(cases)
    assert list(table.columns) == list(PER_CASE_COLUMNS)
    assert len(table) == 2 * len(LABEL_NAMES) * len(METRIC_NAMES)
    assert table["value"].dtype == float
    values = table.set_index(["split", "label", "metric"])["value"]
    assert values[(0, "tumor", "dice")] == pytest.approx(2 / 3)
    assert values[(0, "whole", "vol_truth_mm3")] == pytest.approx(4.0)
    assert values[(1, "tumor", "dice")] == pytest.approx(1.0)
    assert math.isnan(values[(0, "edema", "dice")])  # both empty: undefined
    assert set(table["pathology"]) == {"ependymoma"}
    assert set(table["participant"]) == {"sub-01"} and set(table["subject"]) == {"sub-01_ses-01"}


def test_per_case_metrics_errors_name_the_case(tmp_path):
    pred, truth = dseg_pair(tmp_path, "a")
    other_grid = write_nifti(tmp_path / "b_truth.nii.gz", np.zeros((5, 6, 6), np.uint8))
    base = {
        "model": "cascade",
        "split": 0,
        "subject": "07",
        "participant": "07",
        "pathology": "astrocytoma",
        "pred": pred,
    }
    with pytest.raises(ValueError, match=r"subject 07.*lacks truth"):
        per_case_metrics([base])
    with pytest.raises(ValueError, match=r"model cascade, split 0, subject 07: .*grid differs"):
        per_case_metrics([{**base, "truth": other_grid}])
    with pytest.raises(ValueError, match="listed twice"):
        per_case_metrics([{**base, "truth": truth}, {**base, "truth": truth}])
    with pytest.raises(FileNotFoundError, match="subject 07"):
        per_case_metrics([{**base, "truth": tmp_path / "missing.nii.gz"}])


def test_write_tsv_writes_na_and_reads_back(tmp_path, per_case):
    path = write_tsv(per_case, tmp_path / "out" / "metrics.tsv")
    lines = path.read_text().splitlines()
    assert lines[0] == "\t".join(PER_CASE_COLUMNS)
    assert "A\t0\ts3\ts3\tastrocytoma\ttumor\tdice\tn/a" in lines
    back = read_tsv(path)
    pd.testing.assert_frame_equal(back, per_case, check_dtype=False)
    assert not list(path.parent.glob(".*"))  # no temporary file left
