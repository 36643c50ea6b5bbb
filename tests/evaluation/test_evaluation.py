"""Tests for spinetumor.evaluation.evaluation: hand-made per-case tables with hand-computed summaries."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import write_nifti

from spinetumor.evaluation.evaluation import (
    PER_CASE_COLUMNS,
    compare_models,
    cord_localisation,
    cord_localisation_summary,
    lemay_table,
    lemay_table_numeric,
    per_case_metrics,
    read_tsv,
    stanford_table,
    stanford_table_numeric,
    to_latex_booktabs,
    to_markdown,
    to_tsv,
    write_tsv,
)
from spinetumor.evaluation.metrics import LABEL_NAMES, METRIC_NAMES
from spinetumor.models.definitions import predicted_labels, resolve_model

NAN = math.nan

# (model, split, subject, pathology) -> {(label, metric): value}; a missing
# (label, metric) is NaN. Model B's tumour values equal model A's.
TUMOUR_A = {
    (0, "s1"): (0.8, 1.0),  # (dice, detection_tpr)
    (0, "s2"): (0.1, 0.0),  # missed: some overlap, below the detection threshold
    (0, "s3"): (NAN, NAN),  # no tumour in the truth
    (1, "s1"): (0.6, 0.5),
    (1, "s4"): (0.4, 1.0),
    (1, "s5"): (0.5, 1.0),
}
WHOLE = {
    "A": {(0, "s1"): 0.8, (0, "s2"): 0.6, (0, "s3"): 0.4, (1, "s1"): 0.7, (1, "s4"): 0.9, (1, "s5"): 0.5},
    "B": {(0, "s1"): 0.6, (0, "s2"): 0.5, (0, "s3"): 0.25, (1, "s1"): 0.5, (1, "s4"): 0.85, (1, "s5"): NAN},
}
EDEMA_A = {(0, "s1"): 0.5, (0, "s3"): 0.3}
PATHOLOGY = {
    "s1": "astrocytoma",
    "s2": "ependymoma",
    "s3": "astrocytoma",
    "s4": "ependymoma",
    "s5": "astrocytoma",
}


def per_case_table() -> pd.DataFrame:
    """Two models x two splits x three subjects (s1 is tested in both splits)."""
    rows = []
    for model in ("A", "B"):
        for (split, subject), whole in WHOLE[model].items():
            dice, tpr = TUMOUR_A[(split, subject)]
            edema = EDEMA_A.get((split, subject), NAN) if model == "A" else NAN
            values = {
                ("whole", "dice"): whole,
                ("tumor", "dice"): dice,
                ("tumor", "detection_tpr"): tpr,
                ("edema", "dice"): edema,
                ("cavity", "dice"): NAN,
            }
            rows += [
                {
                    "model": model,
                    "split": split,
                    "subject": subject,
                    "participant": subject,
                    "pathology": PATHOLOGY[subject],
                    "label": label,
                    "metric": metric,
                    "value": value,
                }
                for (label, metric), value in values.items()
            ]
    return pd.DataFrame(rows, columns=list(PER_CASE_COLUMNS))


@pytest.fixture
def per_case() -> pd.DataFrame:
    return per_case_table()


# --------------------------------------------------------------------------- per-case metrics


def dseg_pair(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """Truth: 4 tumour voxels; prediction: 2 of them -> Dice 2*2/(2+4) = 2/3."""
    truth = np.zeros((6, 6, 6), np.uint8)
    truth[1:3, 1:3, 1] = 1
    pred = np.zeros_like(truth)
    pred[1:3, 1, 1] = 1
    return write_nifti(tmp_path / f"{name}_pred.nii.gz", pred), write_nifti(
        tmp_path / f"{name}_truth.nii.gz", truth
    )


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


# --------------------------------------------------------------------------- Lemay


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


# --------------------------------------------------------------------------- Stanford


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


# --------------------------------------------------------------------------- comparison


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


# --------------------------------------------------------------------------- cord localisation


def cord_case(tmp_path: Path, subject: str, lesion: list[tuple[int, int, int]], box) -> dict:
    """Reference cord: 4 voxels; prediction: 2 of them plus 2 others -> Dice 0.5."""
    ref = np.zeros((4, 4, 4), np.uint8)
    ref[1, 1, 0:4] = 1
    pred = np.zeros_like(ref)
    pred[1, 1, 0:2] = 1
    pred[2, 2, 0:2] = 1
    dseg = np.zeros((4, 4, 4), np.uint8)
    for voxel in lesion:
        dseg[voxel] = 2
    return {
        "model": "cascade",
        "split": 0,
        "subject": subject,
        "pathology": "ependymoma",
        "pred_cord": write_nifti(tmp_path / f"{subject}_pred.nii.gz", pred),
        "ref_cord": write_nifti(tmp_path / f"{subject}_ref.nii.gz", ref),
        "crop_box": box,
        "preproc_dseg": write_nifti(tmp_path / f"{subject}_dseg.nii.gz", dseg),
    }


def test_cord_localisation_dice_and_crop(tmp_path):
    lesion = [(1, 1, 1), (2, 2, 2)]
    cases = [
        cord_case(tmp_path, "01", lesion, ((0, 0, 0), (3, 3, 3))),
        cord_case(tmp_path, "02", lesion, ((0, 0, 0), (2, 3, 3))),  # stop is exclusive: (2, 2, 2) is out
        cord_case(tmp_path, "03", [], ((0, 0, 0), (4, 4, 4))),
    ]
    table = cord_localisation(cases)
    assert list(table.columns) == [
        "model",
        "split",
        "subject",
        "pathology",
        "cord_dice",
        "tumour_inside_crop",
    ]
    assert table["cord_dice"].tolist() == pytest.approx([0.5, 0.5, 0.5])
    assert table["tumour_inside_crop"].tolist()[:2] == [True, False]
    assert table["tumour_inside_crop"].isna().tolist() == [False, False, True]
    summary = cord_localisation_summary(table)
    assert summary.loc[0, "model"] == "cascade"
    assert summary.loc[0, "n_cases"] == 3
    assert summary.loc[0, "n_with_lesion"] == 2
    assert summary.loc[0, "cord_dice_pct"] == pytest.approx(50.0)
    assert summary.loc[0, "tumour_inside_crop_pct"] == pytest.approx(50.0)


def test_cord_localisation_rejects_bad_box_and_grid(tmp_path):
    case = cord_case(tmp_path, "01", [(1, 1, 1)], ((0, 0), (3, 3)))
    with pytest.raises(ValueError, match="subject 01: crop_box must be two 3-tuples"):
        cord_localisation([case])
    other = write_nifti(tmp_path / "other.nii.gz", np.zeros((4, 4, 5), np.uint8))
    with pytest.raises(ValueError, match="subject 01: cord mask .* is not on the grid"):
        cord_localisation([{**case, "ref_cord": other, "crop_box": ((0, 0, 0), (3, 3, 3))}])


# --------------------------------------------------------------------------- writers


def test_writers_tsv_latex_markdown(tmp_path, per_case):
    table = lemay_table(per_case, "A")
    tsv = to_tsv(table, tmp_path / "t.tsv").read_text().splitlines()
    assert tsv[0] == "metric (%)\twhole\ttumour\tcavity\tedema"
    assert tsv[1] == "Dice\t65.0 ± 7.1\t47.5 ± 3.5\tn/a\t40.0"

    latex = to_latex_booktabs(table, tmp_path / "t.tex", caption="Dice in % (mean ± std)", label="tab:lemay")
    text = latex.read_text()
    assert r"\toprule" in text and r"\midrule" in text and r"\bottomrule" in text
    assert r"metric (\%) & whole & tumour & cavity & edema \\" in text
    assert r"Dice & 65.0 $\pm$ 7.1 & 47.5 $\pm$ 3.5 & n/a & 40.0 \\" in text
    assert r"\caption{Dice in \% (mean $\pm$ std)}" in text
    assert "±" not in text

    numeric = to_tsv(stanford_table_numeric(per_case, "A"), tmp_path / "n.tsv").read_text().splitlines()
    assert numeric[1] == "0\t2\t1\t50\t0.4\t0.565685\t0.8\tn/a"  # floats to 6 significant digits

    stanford = stanford_table(per_case, "A")
    markdown = to_markdown(stanford, tmp_path / "s.md").read_text().splitlines()
    assert markdown[0] == "| split | n_cases | sensitivity | mean_dice | tp_mean_dice |"
    assert markdown[1] == "|---|---|---|---|---|"
    assert markdown[-1] == "| average | 5 | 75.0 % | 0.45 ± 0.33 | 0.65 ± 0.10 |"
    assert len(markdown) == 5
