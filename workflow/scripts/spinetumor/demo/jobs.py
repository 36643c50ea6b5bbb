"""Jobs of the demo dataset: what the Snakemake scripts and the command line call.

``generate_demo_subject.py`` calls :func:`write_subject`, ``generate_demo_dataset.py``
:func:`write_dataset_files`; :func:`generate_dataset` writes both for the command line.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from spinetumor.demo import dataset
from spinetumor.demo.acquisition import render_subject
from spinetumor.demo.sampling import subject_parameters
from spinetumor.io import atomic_path, save_nifti, write_json

__all__ = ["write_subject", "write_dataset_files", "generate_dataset"]

log = logging.getLogger(__name__)


def write_subject(bids_dir: str | Path, index: int, seed: int) -> dict[str, Path]:
    """Write the images, sidecars and labels of subject ``index``.

    Args:
        bids_dir: Dataset root (created if needed).
        index: 1-based subject index.
        seed: Dataset seed.

    Returns:
        The written paths (see :func:`~spinetumor.demo.dataset.subject_paths`).

    Raises:
        ValueError: ``index`` or ``seed`` is out of range.
    """
    started = time.perf_counter()
    params = subject_parameters(index, seed)
    arrays = render_subject(params)
    paths = dataset.subject_paths(bids_dir, index)
    t2w_affine, t1w_affine = params.t2w.grid.affine, params.t1w.grid.affine
    save_nifti(arrays["t2w"], t2w_affine, paths["t2w"])
    save_nifti(arrays["t1w"], t1w_affine, paths["t1w"])
    for key in ("dseg", "cord", "centerline"):
        save_nifti(arrays[key], t2w_affine, paths[key], dtype=np.uint8)
    write_json(dataset.sidecar(params, params.t2w, "T2w"), paths["t2w_json"])
    write_json(dataset.sidecar(params, params.t1w, "T1w"), paths["t1w_json"])
    log.info(
        "sub-%s: %s, %d lesion(s), edema=%s, cavity=%s, T2w %s %s, T1w %s, %.1f s",
        params.subject, params.pathology, params.n_lesions, params.has_edema, params.has_cavity,
        params.orientation, params.t2w.grid.shape, params.t1w.grid.shape, time.perf_counter() - started,
    )  # fmt: skip
    return paths


def _write_text(text: str, path: Path) -> None:
    """Write ``text`` to ``path`` atomically (no partial file is ever visible)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_dataset_files(bids_dir: str | Path, n_subjects: int, seed: int) -> None:
    """Write the dataset-level files (description, participants, README, derivative descriptors).

    Args:
        bids_dir: Dataset root (created if needed).
        n_subjects: Number of subjects (1..999).
        seed: Dataset seed.

    Raises:
        ValueError: ``n_subjects`` or ``seed`` is out of range.
    """
    if not 1 <= int(n_subjects) <= 999:
        raise ValueError(f"n_subjects must be in 1..999, got {n_subjects}")
    root = Path(bids_dir)
    write_json(dataset.dataset_description(seed), root / "dataset_description.json")
    _write_text(dataset.participants_tsv(n_subjects, seed), root / "participants.tsv")
    write_json(dataset.PARTICIPANTS_JSON, root / "participants.json")
    _write_text(dataset.readme(n_subjects, seed), root / "README")
    labels = root / "derivatives" / "labels"
    write_json(dataset.labels_description(), labels / "dataset_description.json")
    _write_text(dataset.dseg_tsv(), labels / "dseg.tsv")


def generate_dataset(bids_dir: str | Path, n_subjects: int, seed: int) -> Path:
    """Write a complete dataset: dataset-level files and every subject.

    Args:
        bids_dir: Dataset root.
        n_subjects: Number of subjects (1..999).
        seed: Dataset seed.

    Returns:
        ``bids_dir`` as a path.
    """
    write_dataset_files(bids_dir, n_subjects, seed)
    for index in range(1, int(n_subjects) + 1):
        write_subject(bids_dir, index, seed)
    return Path(bids_dir)
