"""Tests for spinetumor.evaluation.lemay: Lemay Table 3 from a hand-made per-case table."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from spinetumor.evaluation.lemay import LABEL_DISPLAY, LEMAY_LABELS, lemay_table, lemay_table_numeric
from spinetumor.evaluation.masks import LABEL_NAMES
from tests.evaluation.evaluation_tables import per_case_table


@pytest.fixture
def per_case() -> pd.DataFrame:
    return per_case_table()


def test_lemay_numeric_is_mean_and_std_of_split_means(per_case):
    numeric = lemay_table_numeric(per_case, "A").set_index(["metric", "label"])
    # whole Dice: split means 60 and 70 %.
    assert numeric.loc[("dice", "whole"), "mean"] == pytest.approx(65.0)
    assert numeric.loc[("dice", "whole"), "std"] == pytest.approx(math.sqrt(50.0))
    # tumour Dice: split 0 skips s3 (NaN): (80 + 10) / 2 = 45; split 1: 50.
    assert numeric.loc[("dice", "tumor"), "mean"] == pytest.approx(47.5)
    # edema: split 1 has no defined value, so one split remains and std is undefined.
    assert numeric.loc[("dice", "edema"), "mean"] == pytest.approx(40.0)
    assert numeric.loc[("dice", "edema"), "n_splits"] == 1
    assert math.isnan(numeric.loc[("dice", "edema"), "std"])
    assert numeric.loc[("detection_tpr", "tumor"), "mean"] == pytest.approx((50.0 + 250.0 / 3) / 2)
    assert math.isnan(numeric.loc[("recall", "whole"), "mean"])  # not in the table


def test_lemay_table_layout_and_strings(per_case):
    table = lemay_table(per_case, "A")
    assert list(table.index) == [
        "Dice",
        "detection TPR",
        "detection FDR",
        "precision",
        "recall",
        "AVD",
        "RVD",
    ]
    assert list(table.columns) == ["whole", "tumour", "cavity", "edema"]
    assert table.loc["Dice", "whole"] == "65.0 ± 7.1"
    assert table.loc["Dice", "tumour"] == "47.5 ± 3.5"
    assert table.loc["Dice", "edema"] == "40.0"
    assert table.loc["Dice", "cavity"] == "n/a"


def test_lemay_unknown_model_is_named(per_case):
    with pytest.raises(ValueError, match=r"model C: not in the per-case table \(models: A, B\)"):
        lemay_table(per_case, "C")


def test_lemay_columns_and_printed_names_cover_every_label():
    assert sorted(LEMAY_LABELS) == sorted(LABEL_NAMES)
    assert sorted(LABEL_DISPLAY) == sorted(LABEL_NAMES)
