"""The participants table, and which participants it declares healthy.

A unit without any lesion label file is healthy only when declared so: its
value in a ``participants.tsv`` column is one of the configured healthy
values, or the study has no lesion labels (``labels.lesions.format: none``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["HealthDeclaration", "is_healthy", "read_participants"]


def read_participants(path: str | os.PathLike[str], column: str | None = None):
    """Read ``participants.tsv`` as a DataFrame indexed by ``participant_id``.

    Args:
        path: The TSV file.
        column: A column that must exist (e.g. the stratification column).

    Returns:
        ``pandas.DataFrame`` with string values, ``n/a`` read as missing.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file lacks ``participant_id`` or ``column``.
    """
    import pandas as pd  # not at module level: the workflow imports this module at every start

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: participants table not found")
    table = pd.read_csv(path, sep="\t", dtype=str, na_values=["n/a"], keep_default_na=False)
    if "participant_id" not in table.columns:
        raise ValueError(f"{path}: no 'participant_id' column")
    if column is not None and column not in table.columns:
        raise ValueError(f"{path}: no {column!r} column (columns: {', '.join(table.columns)})")
    table["participant_id"] = [p if p.startswith("sub-") else f"sub-{p}" for p in table["participant_id"]]
    return table.set_index("participant_id")


def is_healthy(value: str | None, healthy_values: Iterable[str]) -> bool:
    """Whether a participants.tsv value declares a subject healthy (case-insensitive, spaces ignored)."""
    if value is None:
        return False
    return str(value).strip().casefold() in {str(v).strip().casefold() for v in healthy_values}


@dataclass(frozen=True)
class HealthDeclaration:
    """Which participants are declared healthy, and how to say why one is not.

    Attributes:
        no_lesion_labels: The study has no lesion labels (everybody is healthy).
        column: The participants column that declares health, or ``None``.
        values: Its healthy values, casefolded.
        table: Participant ID to its value in ``column`` (``None`` when missing).
        source: The table's path, or why it could not be read.
    """

    no_lesion_labels: bool
    column: str | None
    values: frozenset[str]
    table: Mapping[str, str | None]
    source: str

    @classmethod
    def from_config(
        cls,
        labels_cfg: Mapping[str, Any],
        participants_tsv: str | os.PathLike[str] | None,
        column: str | None,
    ) -> HealthDeclaration:
        """Read the declaration; a missing table or column declares nobody (and says so)."""
        lesions = labels_cfg.get("lesions", {})
        values = frozenset(str(v).strip().casefold() for v in lesions.get("healthy", {}).get("values", ()))
        table: dict[str, str | None] = {}
        source = "no participants table"
        if participants_tsv is not None and column is not None:
            source = f"{participants_tsv}"
            try:
                participants = read_participants(participants_tsv, column)
                table = {pid: (None if v != v else str(v)) for pid, v in participants[column].items()}
            except (FileNotFoundError, ValueError) as exc:  # reported with each unit it leaves undeclared
                # "<path>: no 'x' column (columns: ...)", "<path>: participants table not found"
                source = str(exc)
        return cls(lesions.get("format", "dseg") == "none", column, values, table, source)

    def healthy(self, participant_id: str) -> bool:
        """Whether the participant is declared healthy."""
        if self.no_lesion_labels:
            return True
        return is_healthy(self.table.get(participant_id), self.values)

    def why_not(self, participant_id: str) -> str:
        """Why the participant is not declared healthy, for a problem message."""
        value = self.table.get(participant_id)
        if self.column is None:
            where = "no participants.tsv column is configured (labels.lesions.healthy.column)"
        elif value is None:
            where = f"no {self.column!r} value in {self.source}"
        else:
            where = f"{self.column!r} is {value!r} in {self.source}"
        listed = ", ".join(sorted(self.values)) or "none configured"
        return f"{participant_id} is not declared healthy ({where}; healthy values: {listed})"
