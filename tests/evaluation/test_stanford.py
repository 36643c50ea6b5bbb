"""Tests for spinetumor.evaluation.stanford: the Stanford per-split table, patients counted once."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from spinetumor.evaluation.per_case import PER_CASE_COLUMNS
from spinetumor.evaluation.stanford import stanford_table, stanford_table_numeric
from tests.evaluation.evaluation_tables import NAN, per_case_table


@pytest.fixture
def per_case() -> pd.DataFrame:
    return per_case_table()


def test_stanford_numeric_counts_missed_cases_as_zero(per_case):
    numeric = stanford_table_numeric(per_case, "A").set_index("split")
    split0, split1, average = numeric.loc[0], numeric.loc[1], numeric.loc["average"]
    # split 0: s3 has no tumour (left out); s2 missed -> Dice counted 0, not 0.1.
    assert (split0["n_cases"], split0["n_detected"], split0["sensitivity_pct"]) == (2, 1, 50.0)
    assert split0["mean_dice"] == pytest.approx(0.4)
    assert split0["sd_dice"] == pytest.approx(math.sqrt(0.32))
    assert split0["tp_mean_dice"] == pytest.approx(0.8)
    assert math.isnan(split0["tp_sd_dice"])
    assert (split1["n_cases"], split1["n_detected"], split1["sensitivity_pct"]) == (3, 3, 100.0)
    assert split1["mean_dice"] == pytest.approx(0.5)
    assert split1["sd_dice"] == pytest.approx(0.1)
    assert (average["n_cases"], average["n_detected"]) == (5, 4)
    assert average["sensitivity_pct"] == pytest.approx(75.0)
    assert average["mean_dice"] == pytest.approx(0.45)
    assert average["sd_dice"] == pytest.approx((math.sqrt(0.32) + 0.1) / 2)
    assert average["tp_mean_dice"] == pytest.approx(0.65)
    assert average["tp_sd_dice"] == pytest.approx(0.1)  # the undefined sd of split 0 is skipped


def test_stanford_table_strings(per_case):
    table = stanford_table(per_case, "A", label="tumor")
    assert list(table.columns) == ["split", "n_cases", "sensitivity", "mean_dice", "tp_mean_dice"]
    assert table["split"].tolist() == ["0", "1", "average"]
    assert table["n_cases"].tolist() == [2, 3, 5]
    assert table["sensitivity"].tolist() == ["1 out of 2 (50.0 %)", "3 out of 3 (100.0 %)", "75.0 %"]
    assert table["mean_dice"].tolist() == ["0.40 ± 0.57", "0.50 ± 0.10", "0.45 ± 0.33"]
    assert table["tp_mean_dice"].tolist() == ["0.80", "0.50 ± 0.10", "0.65 ± 0.10"]


def sessions_table() -> pd.DataFrame:
    """Tumour rows of one model, one split: units (sessions) of three participants.

    participant  unit            dice  detection_tpr
    sub-1        sub-1_ses-1     0.8   1.0            detected
    sub-1        sub-1_ses-2     0.2   0.0            missed -> Dice 0
    sub-2        sub-2_ses-1     0.1   0.0            missed -> Dice 0
    sub-2        sub-2_ses-2     n/a   n/a            no tumour in the truth: not counted
    sub-3        sub-3           0.6   1.0            detected (no sessions)
    """
    units = [
        ("sub-1", "sub-1_ses-1", 0.8, 1.0),
        ("sub-1", "sub-1_ses-2", 0.2, 0.0),
        ("sub-2", "sub-2_ses-1", 0.1, 0.0),
        ("sub-2", "sub-2_ses-2", NAN, NAN),
        ("sub-3", "sub-3", 0.6, 1.0),
    ]
    rows = [
        {
            "model": "M",
            "split": 0,
            "subject": unit,
            "participant": participant,
            "pathology": "n/a",
            "label": "tumor",
            "metric": metric,
            "value": value,
        }
        for participant, unit, dice, tpr in units
        for metric, value in (("dice", dice), ("detection_tpr", tpr))
    ]
    return pd.DataFrame(rows, columns=list(PER_CASE_COLUMNS))


def test_stanford_table_counts_each_patient_once():
    numeric = stanford_table_numeric(sessions_table(), "M").set_index("split").loc[0]
    # Patients, not units: sub-1 detected (in ses-1), its Dice (0.8 + 0) / 2 = 0.4; sub-2 missed
    # (its only counted unit, ses-1, is missed), Dice 0; sub-3 detected, Dice 0.6.
    assert (numeric["n_cases"], numeric["n_detected"]) == (3, 2)
    assert numeric["sensitivity_pct"] == pytest.approx(200 / 3)
    assert numeric["mean_dice"] == pytest.approx((0.4 + 0.0 + 0.6) / 3)
    assert numeric["sd_dice"] == pytest.approx(np.std([0.4, 0.0, 0.6], ddof=1))
    assert numeric["tp_mean_dice"] == pytest.approx(0.5)
    assert numeric["tp_sd_dice"] == pytest.approx(np.std([0.4, 0.6], ddof=1))
    assert stanford_table(sessions_table(), "M")["sensitivity"].tolist()[0] == "2 out of 3 (66.7 %)"


def test_stanford_unknown_label(per_case):
    with pytest.raises(ValueError, match="model A: no rows for label necrosis"):
        stanford_table(per_case, "A", label="necrosis")
