"""Which units train and validate a run, and the checks that no test subject reaches it (torch-free).

A split's roles come from ``splits.tsv`` (:func:`split_roles`); a training
job gets its units by id and :func:`check_split_units` holds them against
that table: a unit of a test subject, or of a subject whose role in the
split is not the unit's, stops the job (:class:`LeakageError`). The
cord-source model trains outside the splits; :func:`cord_source_roles`
draws its validation subjects.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from spinetumor.layout import unit_subject

__all__ = ["LeakageError", "split_roles", "check_no_leakage", "check_split_units", "cord_source_roles"]


class LeakageError(ValueError):
    """A test subject of a split was about to reach a training step of that split."""


def split_roles(splits_tsv: str | os.PathLike[str], split: int) -> dict[str, list[str]]:
    """Subjects of one split by role (``train``, ``val``, ``test``).

    Raises:
        ValueError: the split is not in the table.
    """
    table = pd.read_csv(splits_tsv, sep="\t", dtype={"subject": str, "split": int, "role": str})
    part = table[table["split"] == int(split)]
    if part.empty:
        raise ValueError(f"{splits_tsv}: no split {split} (splits {sorted(set(table['split']))})")
    return {role: sorted(part.loc[part["role"] == role, "subject"]) for role in ("train", "val", "test")}


def check_no_leakage(units: Sequence[str], test_subjects: Sequence[str], split: int) -> None:
    """Refuse training units that belong to a test subject of the split.

    Raises:
        LeakageError: naming the units.
    """
    leaked = sorted(u for u in units if unit_subject(u) in set(test_subjects))
    if leaked:
        raise LeakageError(f"split {split}: test subject unit(s) {leaked} given to training")


def check_split_units(
    splits_tsv: str | os.PathLike[str], split: int, train_units: Sequence[str], val_units: Sequence[str]
) -> None:
    """Hold a run's training and validation units against the split table.

    Raises:
        LeakageError: a unit of a test subject, or a unit whose subject has
            another role in the split.
        ValueError: the split is not in the table.
    """
    roles = split_roles(splits_tsv, split)
    check_no_leakage([*train_units, *val_units], roles["test"], split)
    for unit in train_units:
        if unit_subject(unit) not in roles["train"]:
            raise LeakageError(f"split {split}: unit {unit} is not a training subject of the split")
    for unit in val_units:
        if unit_subject(unit) not in roles["val"]:
            raise LeakageError(f"split {split}: unit {unit} is not a validation subject of the split")


def cord_source_roles(units: Sequence[str], val_fraction: float, seed: int) -> dict[str, list[str]]:
    """Training and validation units of the cord-source model, drawn by subject.

    Args:
        units: Unit ids (``sub-01``, ``sub-01_ses-2``) whose cord mask is a label.
        val_fraction: Share of subjects kept for validation (at least one,
            and at least one left for training).
        seed: Seed of the draw.

    Returns:
        ``{"train": [...], "val": [...]}``, sorted; a subject's units stay together.

    Raises:
        ValueError: fewer than two subjects.
    """
    subjects = sorted({unit_subject(u) for u in units})
    if len(subjects) < 2:
        raise ValueError(
            f"the cord-source model needs units of at least 2 subjects with a cord label, got {subjects}"
        )
    n_val = min(len(subjects) - 1, max(1, round(val_fraction * len(subjects))))
    val_subjects = set(np.random.default_rng(seed).choice(subjects, size=n_val, replace=False).tolist())
    return {
        "train": sorted(u for u in units if unit_subject(u) not in val_subjects),
        "val": sorted(u for u in units if unit_subject(u) in val_subjects),
    }
