"""Tests for spinetumor.evaluation.comparison: paired Dice comparisons over patients."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from spinetumor.evaluation.comparison import compare_models
from spinetumor.models.definitions import predicted_labels, resolve_model
from tests.evaluation.evaluation_tables import per_case_table


@pytest.fixture
def per_case() -> pd.DataFrame:
    return per_case_table()


def test_compare_models_pairs_subject_means(per_case):
    table = compare_models(per_case, "A", "B", labels=("whole", "tumor", "edema"), n_boot=500, seed=1)
    assert list(table.columns) == [
        "model_a",
        "model_b",
        "group",
        "label",
        "n",
        "mean_a",
        "mean_b",
        "mean_diff",
        "ci_low",
        "ci_high",
        "wilcoxon_p",
    ]
    assert table["group"].unique().tolist() == ["all", "astrocytoma", "ependymoma"]
    rows = table.set_index(["group", "label"])
    whole = rows.loc[("all", "whole")]
    # Subject means A: s1 .75, s2 .6, s3 .4, s4 .9; B: .55, .5, .25, .85; s5 undefined in B.
    assert whole["n"] == 4
    assert whole["mean_a"] == pytest.approx(0.6625)
    assert whole["mean_b"] == pytest.approx(0.5375)
    assert whole["mean_diff"] == pytest.approx(0.125)
    assert 0.05 <= whole["ci_low"] < 0.125 < whole["ci_high"] <= 0.2
    assert whole["wilcoxon_p"] == pytest.approx(2 / 2**4)  # all 4 differences positive, exact test
    assert rows.loc[("astrocytoma", "whole"), "mean_diff"] == pytest.approx(0.175)  # s1, s3
    assert rows.loc[("ependymoma", "whole"), "mean_diff"] == pytest.approx(0.075)  # s2, s4
    tumour = rows.loc[("all", "tumor")]
    assert (tumour["n"], tumour["mean_diff"], tumour["ci_low"], tumour["ci_high"]) == (4, 0.0, 0.0, 0.0)
    assert math.isnan(tumour["wilcoxon_p"])  # all differences zero
    edema = rows.loc[("all", "edema")]
    assert edema["n"] == 0 and math.isnan(edema["mean_diff"]) and math.isnan(edema["ci_low"])


def test_compare_models_counts_a_patient_with_two_sessions_once(per_case):
    # s4 becomes two sessions of one patient: their Dice are averaged into one pair.
    sessions = per_case[per_case["subject"] == "s4"].copy()
    sessions["subject"] = "s4_ses-2"
    offset = sessions["label"].eq("whole") & sessions["metric"].eq("dice")
    sessions.loc[offset & sessions["model"].eq("A"), "value"] = 0.5  # s4 A: (.9 + .5) / 2 = .7
    table = compare_models(pd.concat([per_case, sessions]), "A", "B", labels=("whole",), n_boot=50)
    whole = table.set_index(["group", "label"]).loc[("all", "whole")]
    assert whole["n"] == 4  # 4 patients, not 5 units
    assert whole["mean_a"] == pytest.approx((0.75 + 0.6 + 0.4 + 0.7) / 4)
    assert whole["mean_b"] == pytest.approx(0.5375)


def test_compare_models_pairs_only_labels_both_models_predict(per_case):
    # A predicts tumour, edema, cavity and whole (a cascade), B tumour only (the stanford2023 preset).
    predicted = {
        "A": predicted_labels(resolve_model("lemay2021")),
        "B": predicted_labels(resolve_model("stanford2023")),
    }
    assert predicted == {"A": ("whole", "tumor", "edema", "cavity"), "B": ("tumor",)}
    table = compare_models(per_case, "A", "B", n_boot=200, seed=0, predicted=predicted)
    # Only tumour is paired: B's "whole" is its tumour, not a whole-lesion prediction.
    # Subject means of A's tumour Dice: s1 (0.8 + 0.6) / 2, s2 0.1, s4 0.4, s5 0.5 (s3 undefined).
    assert table["label"].tolist() == ["tumor"] * 3
    assert table["group"].tolist() == ["all", "astrocytoma", "ependymoma"]
    tumour = table.set_index("group").loc["all"]
    assert (tumour["n"], tumour["mean_a"], tumour["mean_diff"]) == (4, pytest.approx(0.425), 0.0)
    # Two cascades compare every label.
    both = compare_models(
        per_case,
        "A",
        "B",
        labels=("whole", "tumor"),
        n_boot=200,
        seed=0,
        predicted={"A": predicted["A"], "B": predicted["A"]},
    )
    assert both["label"].tolist() == ["whole", "tumor"] * 3
    with pytest.raises(ValueError, match="model B: its predicted labels are not given"):
        compare_models(per_case, "A", "B", predicted={"A": predicted["A"]})


def test_compare_models_is_seeded_and_antisymmetric(per_case):
    ab = compare_models(per_case, "A", "B", labels=("whole",), n_boot=300, seed=3)
    again = compare_models(per_case, "A", "B", labels=("whole",), n_boot=300, seed=3)
    ba = compare_models(per_case, "B", "A", labels=("whole",), n_boot=300, seed=3)
    pd.testing.assert_frame_equal(ab, again)
    assert ba.loc[0, "mean_diff"] == pytest.approx(-ab.loc[0, "mean_diff"])
    assert ba.loc[0, "ci_high"] == pytest.approx(-ab.loc[0, "ci_low"])
    assert ba.loc[0, "wilcoxon_p"] == pytest.approx(ab.loc[0, "wilcoxon_p"])


def test_compare_models_rejects_bad_models(per_case):
    with pytest.raises(ValueError, match="model A: cannot be compared with itself"):
        compare_models(per_case, "A", "A")
    with pytest.raises(ValueError, match="model C: not in the per-case table"):
        compare_models(per_case, "A", "C")


def test_compare_models_default_labels_are_whole_then_the_project_labels(per_case):
    table = compare_models(per_case, "A", "B", n_boot=10)
    assert table["label"].tolist()[:4] == ["whole", "tumor", "edema", "cavity"]
