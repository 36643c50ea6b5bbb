"""Subject-level, seeded, stratified cross-validation splits.

Splits are computed once and saved as a long TSV (``subject``, ``split``,
``role``), so every later stage reads the same assignment. All sessions of a
subject share its role because the table lists subjects, not scans.

K-fold deals each stratum's shuffled subjects over the folds, so that every
fold holds each stratum's share to within one subject. Hold-out and
validation parts use systematic sampling: within each stratum the subjects
are shuffled and spread evenly over ``[0, 1)``; sorting everybody by that key
interleaves the strata in proportion to their sizes, and the head of that
order is a stratified sample. Unlike scikit-learn's ``StratifiedKFold`` and
``train_test_split``, this works for any stratum size, including strata
smaller than the number of folds or a single subject, which small studies
and the tiny test study have.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "ROLES",
    "stratified_order",
    "assign_folds",
    "kfold_splits",
    "holdout_splits",
    "make_splits",
    "check_splits",
    "write_splits",
]

ROLES: tuple[str, ...] = ("train", "val", "test")


def stratified_order(subjects: Sequence[str], strata: Sequence[str], rng: np.random.Generator) -> list[str]:
    """Order subjects so that every prefix is (nearly) proportionally stratified.

    Args:
        subjects: Subject IDs (unique).
        strata: Stratum of each subject (same length).
        rng: Random generator (the only source of randomness).

    Returns:
        The subjects in stratified order.
    """
    if len(subjects) != len(strata):
        raise ValueError("subjects and strata differ in length")
    if len(set(subjects)) != len(subjects):
        raise ValueError("subject IDs are not unique")
    keyed: list[tuple[float, str]] = []
    by_stratum: dict[str, list[str]] = {}
    for subject, stratum in zip(subjects, strata):
        by_stratum.setdefault(str(stratum), []).append(subject)
    for stratum in sorted(by_stratum):
        members = sorted(by_stratum[stratum])
        order = rng.permutation(len(members))
        offset = rng.uniform()
        n = len(members)
        keyed += [((rank + offset) / n, members[i]) for rank, i in enumerate(order)]
    return [subject for _, subject in sorted(keyed)]


def assign_folds(
    subjects: Sequence[str], strata: Sequence[str], n_folds: int, rng: np.random.Generator
) -> dict[str, int]:
    """Deal each stratum's shuffled subjects over the folds, smallest folds first.

    Every stratum's count differs by at most one between folds, and so do the
    fold sizes.

    Args:
        subjects: Subject IDs.
        strata: Stratum of each subject.
        n_folds: Number of folds.
        rng: Random generator.

    Returns:
        Subject to fold index.
    """
    by_stratum: dict[str, list[str]] = {}
    for subject, stratum in zip(subjects, strata):
        by_stratum.setdefault(str(stratum), []).append(subject)
    sizes = np.zeros(n_folds, dtype=int)
    fold_of: dict[str, int] = {}
    for stratum in sorted(by_stratum, key=lambda s: (-len(by_stratum[s]), s)):
        members = sorted(by_stratum[stratum])
        members = [members[i] for i in rng.permutation(len(members))]
        # Folds ordered by current size, ties in random order: the extras of this
        # stratum go to the folds that are smallest so far.
        ties = rng.permutation(n_folds)
        fold_order = sorted(range(n_folds), key=lambda k: (sizes[k], ties[k]))
        for rank, subject in enumerate(members):
            fold = fold_order[rank % n_folds]
            fold_of[subject] = fold
            sizes[fold] += 1
    return fold_of


def _n_of(fraction: float, n: int) -> int:
    """Number of subjects for a fraction: at least one when the fraction is > 0 and n allows it."""
    if fraction <= 0:
        return 0
    return int(min(max(1, round(fraction * n)), n))


def kfold_splits(
    subjects: Sequence[str],
    strata: Sequence[str],
    *,
    n_folds: int = 4,
    val_fraction: float = 0.2,
    seed: int = 0,
) -> pd.DataFrame:
    """K-fold splits with a stratified validation part carved from training.

    Args:
        subjects: Subject IDs.
        strata: Stratum of each subject.
        n_folds: Number of folds K (split ``k`` tests fold ``k``).
        val_fraction: Fraction of each split's non-test subjects used for
            validation (at least one subject when > 0).
        seed: Random seed.

    Returns:
        Long table with columns ``subject``, ``split``, ``role``.

    Raises:
        ValueError: fewer subjects than folds, or a bad parameter.
    """
    if n_folds < 2:
        raise ValueError(f"n_folds must be at least 2, got {n_folds}")
    if len(subjects) < n_folds:
        raise ValueError(f"{len(subjects)} subjects cannot fill {n_folds} folds")
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    stratum_of = dict(zip(subjects, strata))
    fold_of = assign_folds(subjects, strata, n_folds, np.random.default_rng([seed, 0]))
    rows = []
    for k in range(n_folds):
        rest = [s for s in sorted(subjects) if fold_of[s] != k]
        rng = np.random.default_rng([seed, 1, k])
        rest_order = stratified_order(rest, [stratum_of[s] for s in rest], rng)
        n_val = min(_n_of(val_fraction, len(rest)), len(rest) - 1)
        val = set(rest_order[:n_val])
        for subject in subjects:
            role = "test" if fold_of[subject] == k else ("val" if subject in val else "train")
            rows.append((subject, k, role))
    return pd.DataFrame(rows, columns=["subject", "split", "role"])


def holdout_splits(
    subjects: Sequence[str],
    strata: Sequence[str],
    *,
    fractions: Mapping[str, float] | None = None,
    n_repeats: int = 12,
    seed: int = 0,
) -> pd.DataFrame:
    """Repeated stratified hold-out splits (Lemay et al.: 60/20/20, 12 times).

    Args:
        subjects: Subject IDs.
        strata: Stratum of each subject.
        fractions: ``train``, ``val`` and ``test`` fractions summing to 1.
        n_repeats: Number of independent splits.
        seed: Random seed; repeat ``r`` uses ``(seed, 2, r)``.

    Returns:
        Long table with columns ``subject``, ``split``, ``role``.

    Raises:
        ValueError: fractions do not sum to 1, or too few subjects.
    """
    fractions = dict(fractions or {"train": 0.6, "val": 0.2, "test": 0.2})
    if set(fractions) != set(ROLES) or abs(sum(fractions.values()) - 1) > 1e-6:
        raise ValueError(f"hold-out fractions must give train, val and test summing to 1, got {fractions}")
    if n_repeats < 1:
        raise ValueError(f"n_repeats must be at least 1, got {n_repeats}")
    n = len(subjects)
    n_test = _n_of(fractions["test"], n)
    n_val = _n_of(fractions["val"], n)
    if n_test + n_val >= n:
        raise ValueError(f"{n} subjects are too few for {fractions} (no training subject left)")
    rows = []
    for r in range(n_repeats):
        order = stratified_order(subjects, strata, np.random.default_rng([seed, 2, r]))
        test, val = set(order[:n_test]), set(order[n_test : n_test + n_val])
        for subject in subjects:
            role = "test" if subject in test else ("val" if subject in val else "train")
            rows.append((subject, r, role))
    return pd.DataFrame(rows, columns=["subject", "split", "role"])


def make_splits(
    participants: pd.DataFrame,
    subjects: Sequence[str],
    settings: Mapping,
) -> pd.DataFrame:
    """Splits of the study's valid subjects from the ``splits`` config section.

    Args:
        participants: ``participants.tsv`` indexed by ``participant_id``.
        subjects: Subjects of the study (``sub-`` IDs) that passed validation.
        settings: ``scheme`` (``kfold`` or ``holdout``), ``n_folds``,
            ``val_fraction``, ``holdout`` (fractions and ``n_repeats``),
            ``stratify_by`` (a participants column, or null), ``seed`` and
            ``force_train`` (subjects kept in training in every split).

    Returns:
        Long table ``subject, split, role`` sorted by split and subject.
    """
    subjects = sorted(set(subjects))
    force = sorted(set(settings.get("force_train", [])) & set(subjects))
    pool = [s for s in subjects if s not in force]
    strata = _strata(participants, pool, settings.get("stratify_by"))
    seed = int(settings.get("seed", 0))
    scheme = settings.get("scheme", "kfold")
    if scheme == "kfold":
        table = kfold_splits(
            pool,
            strata,
            n_folds=int(settings.get("n_folds", 4)),
            val_fraction=float(settings.get("val_fraction", 0.2)),
            seed=seed,
        )
        n_splits = int(settings.get("n_folds", 4))
    elif scheme == "holdout":
        holdout = settings.get("holdout", {})
        fractions = {role: float(holdout.get(role, d)) for role, d in zip(ROLES, (0.6, 0.2, 0.2))}
        n_splits = int(holdout.get("n_repeats", 12))
        table = holdout_splits(pool, strata, fractions=fractions, n_repeats=n_splits, seed=seed)
    else:
        raise ValueError(f"splits.scheme: unknown value {scheme!r} (kfold or holdout)")
    forced = pd.DataFrame([(s, k, "train") for k in range(n_splits) for s in force], columns=table.columns)
    table = pd.concat([table, forced], ignore_index=True)
    return table.sort_values(["split", "subject"], kind="stable").reset_index(drop=True)


def _strata(participants: pd.DataFrame, subjects: Sequence[str], column: str | None) -> list[str]:
    """Each subject's value in the stratification column (``n/a`` when missing), or ``all``."""
    if not column:
        return ["all"] * len(subjects)
    return [
        str(participants.at[s, column])
        if s in participants.index and pd.notna(participants.at[s, column])
        else "n/a"
        for s in subjects
    ]


def check_splits(table: pd.DataFrame) -> None:
    """Assert the invariants every split table must hold.

    Every subject appears exactly once per split with a known role, and
    every split lists every subject and has training and test subjects.

    Raises:
        ValueError: an invariant is broken.
    """
    if list(table.columns[:3]) != ["subject", "split", "role"]:
        raise ValueError(f"split table columns are {list(table.columns)}, expected subject, split, role")
    if not set(table["role"]) <= set(ROLES):
        raise ValueError(f"unknown roles {sorted(set(table['role']) - set(ROLES))}")
    dup = table.duplicated(["subject", "split"])
    if dup.any():
        raise ValueError(f"subjects listed twice in a split: {table[dup].to_dict('records')[:3]}")
    subjects = set(table["subject"])
    for split, part in table.groupby("split"):
        if set(part["subject"]) != subjects:
            raise ValueError(f"split {split} does not list every subject")
        if not {"train", "test"} <= set(part["role"]):
            raise ValueError(f"split {split} lacks training or test subjects")


def write_splits(table: pd.DataFrame, path: str | Path) -> Path:
    """Check and write a split table as TSV, atomically."""
    from spinetumor.io import atomic_path

    check_splits(table)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False)
    return Path(path)
