"""BIDS-derivative metadata of the study's output folders (torch-free).

Each folder that holds per-subject outputs (``registration``, ``cordmask``,
``labels``, ``preprocessed/CHAIN``, ``predictions/MODEL``) is a BIDS
derivative dataset of its own: a ``dataset_description.json`` with
``DatasetType: derivative`` and ``GeneratedBy``, and, where it holds ``dseg``
maps, a ``dseg.tsv`` lookup table that every map in it inherits.

The workflow imports this module while it builds its DAG, so it leaves
nibabel and numpy (through :mod:`spinetumor.io`) to the writers.
"""

from __future__ import annotations

import os
from typing import Any

from spinetumor import LABELS
from spinetumor.provenance import code_version

__all__ = ["BIDS_VERSION", "code_version", "dataset_description", "write_description", "write_dseg_tsv"]

BIDS_VERSION = "1.9.0"


def dataset_description(folder: str, version: str, description: str) -> dict[str, Any]:
    """The ``dataset_description.json`` content of one derivative folder.

    Args:
        folder: The folder relative to the results (e.g. ``preprocessed/lemay2021``).
        version: The code's version (:func:`code_version`).
        description: What the folder holds, in a sentence.
    """
    return {
        "Name": f"spinetumor {folder}",
        "BIDSVersion": BIDS_VERSION,
        "DatasetType": "derivative",
        "GeneratedBy": [{"Name": "spinetumor", "Version": version, "Description": description}],
    }


def write_description(path: str | os.PathLike[str], folder: str, version: str, description: str) -> None:
    """Write a derivative folder's ``dataset_description.json`` (atomically)."""
    from spinetumor.io import write_json

    write_json(dataset_description(folder, version, description), path)


def write_dseg_tsv(path: str | os.PathLike[str]) -> None:
    """Write the ``dseg.tsv`` lookup table of the study's label maps (0 background, then :data:`LABELS`)."""
    from spinetumor.io import atomic_path

    rows = ["index\tname", "0\tbackground", *(f"{value}\t{name}" for name, value in LABELS.items())]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(rows) + "\n")
