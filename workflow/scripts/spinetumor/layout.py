"""The study's file layout, shared by the rules, the job code and the tests (torch-free).

Units
    A unit is one T2w acquisition; its id is its BIDS file prefix,
    ``sub-01`` or ``sub-01_ses-2``. Its folder (*subpath*) is ``sub-01`` or
    ``sub-01/ses-2`` and its subject ``sub-01`` (:func:`unit_subpath`,
    :func:`unit_subject`).

Preprocessed files
    A chain's folder is ``RESULTS/preprocessed/CHAIN`` (:func:`preprocessed_dir`).
    A unit's files there share a *file prefix*, the path up to
    ``_desc-preproc`` (``.../sub-01/ses-2/anat/sub-01_ses-2_desc-preproc``,
    :func:`preprocessed_prefix`); each kind adds its suffix
    (:data:`PREPROC_KINDS`), with the entities in the BIDS specification's
    order (``label`` before ``desc``): ``sub-01_label-SC_desc-preproc_mask.nii.gz``.

Model runs
    One folder per model, split and stage, ``RESULTS/models/MODEL/split-K/STAGE``
    (:func:`model_run_dir`), and one for the cord-source model,
    ``RESULTS/models/MODEL/cordsource/cord`` (:func:`cord_source_run_dir`).
    A run folder holds :data:`MODEL_FILE` and :data:`TRAINING_SUMMARY` (the
    job's outputs), :data:`CHECKPOINT_LAST`, :data:`CHECKPOINT_BEST` and
    :data:`TRAINING_LOG` (the resume state), and a cascade's lesion stage
    also :data:`CROP_BOXES`.

Every function takes plain strings, so a Snakemake pattern (``"{model}"``)
goes through it as well as a value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

__all__ = [
    "PREPROC_DESC",
    "CONTRASTS",
    "PREPROC_KINDS",
    "PREPROC_IMAGE_KINDS",
    "UNIT_PREPROC",
    "MODEL_FILE",
    "TRAINING_SUMMARY",
    "CHECKPOINT_LAST",
    "CHECKPOINT_BEST",
    "TRAINING_LOG",
    "CROP_BOXES",
    "unit_subject",
    "unit_subpath",
    "preprocessed_dir",
    "preprocessed_prefix",
    "preprocessed_file",
    "prefix_files",
    "unit_files",
    "model_run_dir",
    "cord_source_run_dir",
]

#: A unit's images: the T2w (the reference grid) and the T1w registered onto it, in channel order.
CONTRASTS: tuple[str, ...] = ("T2w", "T1w")

PREPROC_DESC = "_desc-preproc"
#: Kind -> file name after the unit's BIDS prefix (``sub-01`` or ``sub-01_ses-2``).
PREPROC_KINDS: dict[str, str] = {
    "T2w": "desc-preproc_T2w.nii.gz",
    "T1w": "desc-preproc_T1w.nii.gz",
    "dseg": "desc-preproc_dseg.nii.gz",
    "cord": "label-SC_desc-preproc_mask.nii.gz",
    "geometry": "desc-preproc_geometry.json",
}
#: The NIfTI kinds a training run reads, T2w first.
PREPROC_IMAGE_KINDS: tuple[str, ...] = (*CONTRASTS, "dseg", "cord")
#: A unit's file prefix under a chain's folder, with the rules' wildcards.
UNIT_PREPROC = "{subpath}/anat/{prefix}" + PREPROC_DESC

#: The trained model of a run (its best checkpoint), the job's declared output.
MODEL_FILE = "model.pt"
#: The run's summary (JSON), the job's other declared output.
TRAINING_SUMMARY = "training_summary.json"
#: State after the last finished epoch (the resume point).
CHECKPOINT_LAST = "checkpoint_last.pt"
#: State at the best validation score so far.
CHECKPOINT_BEST = "checkpoint_best.pt"
#: One row per epoch.
TRAINING_LOG = "training_log.tsv"
#: A cascade's lesion-stage crop box of each unit, and where it came from.
CROP_BOXES = "crop_boxes.tsv"

_UNIT = re.compile(r"(sub-[A-Za-z0-9]+)(?:_(ses-[A-Za-z0-9]+))?")


def _unit_parts(unit: str) -> tuple[str, str | None]:
    match = _UNIT.fullmatch(unit)
    if match is None:
        raise ValueError(f"{unit!r}: not a unit id (sub-LABEL or sub-LABEL_ses-LABEL)")
    return match.group(1), match.group(2)


def unit_subject(unit: str) -> str:
    """The subject of a unit: ``sub-01_ses-2`` gives ``sub-01``.

    Raises:
        ValueError: not a unit id.
    """
    return _unit_parts(unit)[0]


def unit_subpath(unit: str) -> str:
    """The folder of a unit: ``sub-01_ses-2`` gives ``sub-01/ses-2``.

    Raises:
        ValueError: not a unit id.
    """
    subject, session = _unit_parts(unit)
    return subject if session is None else f"{subject}/{session}"


def preprocessed_dir(results_dir: str | os.PathLike[str], chain: str) -> str:
    """The folder of one preprocessing chain's files."""
    return f"{results_dir}/preprocessed/{chain}"


def preprocessed_prefix(chain_dir: str | os.PathLike[str], unit: str) -> str:
    """The file prefix of a unit's preprocessed files in a chain's folder.

    Raises:
        ValueError: not a unit id.
    """
    return f"{chain_dir}/" + UNIT_PREPROC.format(subpath=unit_subpath(unit), prefix=unit)


def preprocessed_file(file_prefix: str | os.PathLike[str], kind: str) -> str:
    """The preprocessed file of one kind.

    Args:
        file_prefix: Path (or Snakemake pattern) up to ``_desc-preproc``.
        kind: A key of :data:`PREPROC_KINDS`.

    Raises:
        ValueError: the prefix does not end with ``_desc-preproc``, or the kind is unknown.
    """
    prefix = str(file_prefix)
    if not prefix.endswith(PREPROC_DESC):
        raise ValueError(f"{prefix}: a preprocessed file prefix ends with {PREPROC_DESC}")
    if kind not in PREPROC_KINDS:
        raise ValueError(f"unknown preprocessed kind {kind!r}; expected one of {list(PREPROC_KINDS)}")
    return f"{prefix[: -len(PREPROC_DESC)]}_{PREPROC_KINDS[kind]}"


def prefix_files(prefix: str, kinds: Sequence[str] = PREPROC_IMAGE_KINDS) -> list[str]:
    """The preprocessed files of ``kinds`` of one unit, from its file prefix."""
    return [preprocessed_file(prefix, kind) for kind in kinds]


def unit_files(
    chain_dir: str | os.PathLike[str], units: Sequence[str], kinds: Sequence[str] = PREPROC_IMAGE_KINDS
) -> list[str]:
    """The preprocessed files of ``kinds`` of each unit, unit by unit."""
    return [f for u in units for f in prefix_files(preprocessed_prefix(chain_dir, u), kinds)]


def model_run_dir(results_dir: str | os.PathLike[str], model: str, split: int | str, stage: str) -> str:
    """The run folder of one stage of one model on one split."""
    return f"{results_dir}/models/{model}/split-{split}/{stage}"


def cord_source_run_dir(results_dir: str | os.PathLike[str], model: str) -> str:
    """The run folder of the cord-source model (a cascade's cord stage, outside the splits)."""
    return f"{results_dir}/models/{model}/cordsource/cord"
