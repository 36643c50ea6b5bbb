"""Tiny synthetic training subjects and a tiny network, shared by the training tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from spinetumor.layout import preprocessed_file
from spinetumor.training.data import SubjectRecord, record_from_prefix
from tests.conftest import write_nifti

SHAPE = (32, 32, 16)
#: A tiny network: 2 downsamplings, so patches must be multiples of 4.
TINY_UNET = {
    "architecture": "unet",
    "in_channels": 2,
    "out_channels": 1,
    "channels": [8, 16, 32],
    "strides": [2, 2],
}
TINY_CONFIG = {
    "inputs": ["T2w", "T1w"],
    "targets": ["whole"],
    "patch_size": [32, 32, 16],
    "batch_size": 2,
    "patches_per_volume": 4,
    "augmentation": None,
    "lr": 0.01,
    "scheduler": "none",
    "val_every": 1,
}


def ellipsoid(shape=SHAPE, centre=(16, 16, 8), radii=(6, 5, 3)) -> np.ndarray:
    grid = np.meshgrid(*[np.arange(s) for s in shape], indexing="ij")
    return sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre, radii)) <= 1


def write_subject(
    root: Path, subject: str, seed: int = 0, centre=(16, 16, 8), lesion: bool = True
) -> SubjectRecord:
    """A bright ellipsoid 'tumour' (label 1) in noisy T2w and T1w, and a box-shaped cord.

    With ``lesion=False``: the same noise and cord, no tumour (a healthy subject).
    """
    rng = np.random.default_rng(seed)
    tumour = ellipsoid(centre=centre) & lesion
    prefix = root / subject / "anat" / f"{subject}_desc-preproc"
    cord = np.zeros(SHAPE, np.uint8)
    cord[8:24, 10:22, :] = 1
    volumes = {
        "T2w": (rng.normal(0, 0.3, SHAPE) + 2.0 * tumour).astype(np.float32),
        "T1w": (rng.normal(0, 0.3, SHAPE) + 1.0 * tumour).astype(np.float32),
        "dseg": tumour.astype(np.uint8),
        "cord": cord,
    }
    for name, data in volumes.items():
        write_nifti(Path(preprocessed_file(prefix, name)), data)
    return record_from_prefix(subject, prefix)


def read_log(out_dir: Path) -> pd.DataFrame:
    return pd.read_csv(out_dir / "training_log.tsv", sep="\t")
