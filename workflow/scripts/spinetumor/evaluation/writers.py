"""Wide tables as text: TSV, LaTeX (booktabs) and Markdown; undefined values are ``n/a`` everywhere."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from spinetumor.evaluation.metrics import NA
from spinetumor.io import atomic_path

__all__ = ["PLUS_MINUS", "is_missing", "mean_sd", "to_tsv", "to_latex_booktabs", "to_markdown"]

PLUS_MINUS = "±"


def is_missing(value: Any) -> bool:
    """True for ``None``, ``NaN`` (any float type) and ``pd.NA``."""
    return pd.api.types.is_scalar(value) and bool(pd.isna(value))


def mean_sd(mean: float, sd: float, digits: int) -> str:
    """``"mean ± sd"``; just the mean when the sd is undefined, ``n/a`` without a mean."""
    if is_missing(mean):
        return NA
    if is_missing(sd):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} {PLUS_MINUS} {sd:.{digits}f}"


def _cell_text(value: Any) -> str:
    """A cell as text: ``n/a`` when missing, floats to 6 significant digits."""
    if is_missing(value):
        return NA
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.6g}"
    return str(value)


def _flat(table: pd.DataFrame) -> pd.DataFrame:
    """The table with a named index turned into its first column, every cell a string."""
    if table.index.name is not None or not isinstance(table.index, pd.RangeIndex):
        table = table.reset_index()
    return table.astype(object).map(_cell_text)


def to_tsv(table: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a (wide) table as TSV, a named index as first column, atomically.

    Args:
        table: e.g. :func:`~spinetumor.evaluation.lemay.lemay_table` or
            :func:`~spinetumor.evaluation.stanford.stanford_table`.
        path: Destination.

    Returns:
        The destination path.
    """
    with atomic_path(path) as tmp:
        _flat(table).to_csv(tmp, sep="\t", index=False)
    return Path(path)


_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    PLUS_MINUS: r"$\pm$",
}


def _latex_escape(text: str) -> str:
    """Escape LaTeX specials; ``±`` becomes ``$\\pm$`` so any TeX engine prints it."""
    return "".join(_LATEX_SPECIALS.get(char, char) for char in text)


def to_latex_booktabs(
    table: pd.DataFrame,
    path: str | os.PathLike[str],
    caption: str | None = None,
    label: str | None = None,
) -> Path:
    """Write a (wide) table as a LaTeX ``booktabs`` tabular, atomically.

    Cells and headers are escaped (``%``, ``_``, ``&`` ...) and ``±`` becomes
    ``$\\pm$``; the document needs ``\\usepackage{booktabs}``.

    Args:
        table: e.g. :func:`~spinetumor.evaluation.lemay.lemay_table` or
            :func:`~spinetumor.evaluation.stanford.stanford_table`.
        path: Destination ``.tex`` file.
        caption: Optional caption (escaped); with it or ``label`` the tabular
            is wrapped in a ``table`` environment.
        label: Optional ``\\label`` key (not escaped).

    Returns:
        The destination path.
    """
    flat = _flat(table)
    flat = flat.map(_latex_escape)
    flat.columns = [_latex_escape(str(column)) for column in flat.columns]
    text = flat.to_latex(
        index=False,
        escape=False,
        column_format="l" * flat.shape[1],
        caption=None if caption is None else _latex_escape(caption),
        label=label,
    )
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def _markdown_cell(text: str) -> str:
    """Escape what would break a Markdown table cell."""
    return text.replace("|", r"\|").replace("\n", " ")


def to_markdown(table: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a (wide) table as a GitHub-flavoured Markdown table, atomically.

    Written by hand so that it needs no optional dependency (``tabulate``).

    Args:
        table: e.g. :func:`~spinetumor.evaluation.lemay.lemay_table` or
            :func:`~spinetumor.evaluation.stanford.stanford_table`.
        path: Destination ``.md`` file.

    Returns:
        The destination path.
    """
    flat = _flat(table)
    header = [_markdown_cell(str(column)) for column in flat.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    lines += [
        "| " + " | ".join(_markdown_cell(cell) for cell in row) + " |" for row in flat.itertuples(index=False)
    ]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Path(path)
