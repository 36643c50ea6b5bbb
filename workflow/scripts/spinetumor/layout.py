"""File names of the study's derivatives that several stages share (torch-free).

A preprocessed unit's files share a *file prefix*, the path up to
``_desc-preproc`` (``.../sub-01_ses-2_desc-preproc``); each kind adds its
suffix, with the entities in the BIDS specification's order (``label``
before ``desc``): ``sub-01_label-SC_desc-preproc_mask.nii.gz``.
"""

from __future__ import annotations

import os

__all__ = ["PREPROC_DESC", "PREPROC_KINDS", "PREPROC_IMAGE_KINDS", "preprocessed_file"]

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
PREPROC_IMAGE_KINDS: tuple[str, ...] = ("T2w", "T1w", "dseg", "cord")


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
