"""Which source a unit's spinal cord mask comes from (no numeric imports).

Kept apart from :mod:`spinetumor.data.cordmask` because the Snakefile calls it for
every unit while the DAG is built, where importing numpy and scipy would cost
about a second of every Snakemake start.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["SOURCES", "choose_source"]

SOURCES: tuple[str, ...] = ("manual", "centerline", "model")
_LABEL_KEY = {"manual": "cord", "centerline": "centerline"}


def choose_source(priority: Sequence[str], available: Mapping[str, str]) -> tuple[str, str | None]:
    """Pick the first source in ``priority`` that the unit has.

    Args:
        priority: Source names, best first.
        available: The unit's label files (keys ``cord`` and ``centerline``).

    Returns:
        The source name and its file (``None`` for ``model``).

    Raises:
        ValueError: unknown source name, or no listed source is available.
    """
    for source in priority:
        if source not in SOURCES:
            raise ValueError(f"cord_mask.priority: unknown source {source!r} (known: {', '.join(SOURCES)})")
        if source == "model":
            return source, None
        path = available.get(_LABEL_KEY[source])
        if path:
            return source, path
    raise ValueError(f"no cord mask source among {list(priority)} is available")
