"""Splits: subject-level, seeded, stratified, and never leaking a subject across roles."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest

from spinetumor.data.splits import (
    check_splits,
    holdout_splits,
    kfold_splits,
    make_splits,
    stratified_order,
)

SUBJECTS = [f"sub-{i:02d}" for i in range(1, 25)]
STRATA = ["astrocytoma"] * 8 + ["ependymoma"] * 10 + ["hemangioblastoma"] * 6


def test_stratified_order_interleaves_in_proportion():
    order = stratified_order(SUBJECTS, STRATA, np.random.default_rng(0))
    stratum = dict(zip(SUBJECTS, STRATA))
    assert sorted(order) == sorted(SUBJECTS)
    # Any prefix of 12 (half) holds 4 +- 1 astrocytomas, 5 +- 1 ependymomas, 3 +- 1 hemangioblastomas.
    head = Counter(stratum[s] for s in order[:12])
    assert (
        abs(head["astrocytoma"] - 4) <= 1
        and abs(head["ependymoma"] - 5) <= 1
        and abs(head["hemangioblastoma"] - 3) <= 1
    )


def test_kfold_each_subject_tested_once_and_folds_stratified():
    table = kfold_splits(SUBJECTS, STRATA, n_folds=4, val_fraction=0.2, seed=3)
    check_splits(table)
    tests = table[table.role == "test"]
    assert sorted(tests.subject) == sorted(SUBJECTS)  # each subject in exactly one test fold
    assert tests.groupby("split").size().tolist() == [6, 6, 6, 6]
    stratum = dict(zip(SUBJECTS, STRATA))
    for _, part in tests.groupby("split"):
        counts = Counter(stratum[s] for s in part.subject)
        # 8/4 = 2 astrocytomas, 10/4 = 2.5 ependymomas, 6/4 = 1.5 hemangioblastomas per fold.
        assert (
            counts["astrocytoma"] == 2
            and counts["ependymoma"] in (2, 3)
            and counts["hemangioblastoma"] in (1, 2)
        )
    # Validation: 20 % of the 18 non-test subjects -> round(3.6) = 4, carved from training.
    assert table[table.role == "val"].groupby("split").size().tolist() == [4, 4, 4, 4]


def test_no_leakage_between_roles_within_a_split():
    table = kfold_splits(SUBJECTS, STRATA, n_folds=4, seed=0)
    for _, part in table.groupby("split"):
        roles = part.groupby("subject").role.nunique()
        assert (roles == 1).all()
        train, val, test = (set(part.subject[part.role == r]) for r in ("train", "val", "test"))
        assert not (train & val) and not (train & test) and not (val & test)
        assert train | val | test == set(SUBJECTS)


def test_seeded_and_reproducible():
    a = kfold_splits(SUBJECTS, STRATA, seed=1)
    pd.testing.assert_frame_equal(a, kfold_splits(SUBJECTS, STRATA, seed=1))
    assert not a.equals(kfold_splits(SUBJECTS, STRATA, seed=2))


def test_tiny_strata_work():
    # One subject per stratum, 2 folds: scikit-learn's stratified splitters refuse this.
    table = kfold_splits(["a", "b", "c", "d"], ["x", "y", "z", "z"], n_folds=2, val_fraction=0.2)
    check_splits(table)
    assert table[table.role == "test"].groupby("split").size().tolist() == [2, 2]
    assert table[table.role == "val"].groupby("split").size().tolist() == [1, 1]


def test_holdout_60_20_20_repeated():
    table = holdout_splits(SUBJECTS, STRATA, n_repeats=12, seed=0)
    check_splits(table)
    assert table.split.nunique() == 12
    sizes = table.groupby(["split", "role"]).size().unstack()
    # 20 % of 24 = 4.8 -> 5 test and 5 validation subjects; 14 train.
    assert (sizes["test"] == 5).all() and (sizes["val"] == 5).all() and (sizes["train"] == 14).all()
    # Repeats differ.
    test_sets = {frozenset(p.subject[p.role == "test"]) for _, p in table.groupby("split")}
    assert len(test_sets) > 1
    with pytest.raises(ValueError, match="summing to 1"):
        holdout_splits(SUBJECTS, STRATA, fractions={"train": 0.5, "val": 0.2, "test": 0.2})


def test_make_splits_forces_training_and_stratifies_by_column():
    participants = pd.DataFrame({"pathology": STRATA}, index=pd.Index(SUBJECTS, name="participant_id"))
    settings = {
        "scheme": "kfold",
        "n_folds": 3,
        "val_fraction": 0.2,
        "stratify_by": "pathology",
        "seed": 0,
        "force_train": ["sub-01", "sub-99"],
    }
    table = make_splits(participants, SUBJECTS, settings)
    check_splits(table)
    assert (table[table.subject == "sub-01"].role == "train").all()
    assert "sub-99" not in set(table.subject)  # not a study subject


def test_check_splits_catches_a_subject_listed_twice():
    table = pd.DataFrame({"subject": ["a", "a", "b"], "split": [0, 0, 0], "role": ["train", "test", "test"]})
    with pytest.raises(ValueError, match="listed twice"):
        check_splits(table)
