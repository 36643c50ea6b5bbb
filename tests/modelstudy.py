"""A tiny preprocessed study for the model jobs' tests: five units, one split, a cascade of seconds."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from spinetumor import layout
from spinetumor.layout import preprocessed_file, preprocessed_prefix
from spinetumor.models.definitions import resolve_model
from tests.conftest import write_nifti

SHAPE = (32, 32, 16)
STEPS = [{"name": "reorient", "axcodes": "SAR"}, {"name": "zscore", "nonzero": False}]
#: A native grid of the test unit's own (LPS, anisotropic voxels).
NATIVE = np.diag([-0.8, -0.8, 2.0, 1.0])
#: Split 0: sub-1..3 train, sub-4 val, sub-5 test.
ROLES = {"sub-1": "train", "sub-2": "train", "sub-3": "train", "sub-4": "val", "sub-5": "test"}


def tiny_cascade() -> dict:
    """The lemay2021 cascade, shrunk to a few seconds on 32 x 32 x 16 volumes."""
    small = {
        "patch_size": [32, 32, 16],
        "max_epochs": 2,
        "patience": 5,
        "augmentation": None,
        "lr": 0.01,
        "loss": "dice_bce",
        "batch_size": 2,
        "patches_per_volume": 2,
    }
    return resolve_model(
        "tiny",
        {
            "tiny": {
                "preset": "lemay2021",
                "chain": "tiny",
                "stages": {
                    "cord": {"network": {"depth": 2, "base_filters": 4}, "training": small},
                    "lesion": {"network": {"depth": 2, "base_filters": 4}, "training": small},
                },
                "inference": {"patch_size": [32, 32, 16], "overlap": 0.5, "crop_margin_mm": [2.0, 2.0, 2.0]},
                "postprocessing": {"min_size_mm3": {"tumor": 0.0, "edema": 0.0, "cavity": 0.0}},
            }
        },
    )


def write_unit(chain_dir: Path, unit: str, seed: int) -> str:
    """Preprocessed files of one unit: a cord box with a bright 'tumour' inside; returns the file prefix."""
    rng = np.random.default_rng(seed)
    cord = np.zeros(SHAPE, np.uint8)
    cord[:, 12:20, 5:11] = 1
    dseg = np.zeros(SHAPE, np.uint8)
    dseg[10 + seed % 5 : 16 + seed % 5, 13:19, 6:10] = 1
    prefix = preprocessed_prefix(chain_dir, unit)
    volumes = {
        "T2w": (rng.normal(0, 0.2, SHAPE) + cord + 2.0 * (dseg > 0)).astype(np.float32),
        "T1w": (rng.normal(0, 0.2, SHAPE) + 1.5 * (dseg > 0)).astype(np.float32),
        "dseg": dseg,
        "cord": cord,
    }
    for kind, data in volumes.items():
        write_nifti(Path(preprocessed_file(prefix, kind)), data)
    return prefix


def write_study(root: Path) -> dict:
    """The units of :data:`ROLES` under ``root/prep`` and their split table ``root/splits.tsv``."""
    chain_dir = root / "prep"
    prefixes = {unit: write_unit(chain_dir, unit, i) for i, unit in enumerate(ROLES)}
    splits = root / "splits.tsv"
    pd.DataFrame({"subject": list(ROLES), "split": 0, "role": list(ROLES.values())}).to_csv(
        splits, sep="\t", index=False
    )
    return {"chain_dir": chain_dir, "prefixes": prefixes, "splits": splits, "root": root}


def train_split0(study: dict, model: dict, run_dir: Path) -> dict[str, Path]:
    """Both stages of ``model`` trained on split 0 (sub-1..3 train, sub-4 val), each in ``run_dir/STAGE``;
    returns each stage's ``model.pt``."""
    from spinetumor.training.jobs import train_stage  # torch, only here

    stages: dict[str, Path] = {}
    for stage in ("cord", "lesion"):
        stages[stage] = run_dir / stage / layout.MODEL_FILE
        train_stage(
            model,
            stage,
            0,
            STEPS,
            study["chain_dir"],
            ["sub-1", "sub-2", "sub-3"],
            ["sub-4"],
            study["splits"],
            stages[stage],
            stages[stage].with_name(layout.TRAINING_SUMMARY),
            cord_model=stages.get("cord") if stage == "lesion" else None,
            threads=1,
            device="cpu",
        )
    return stages


def native_scan(study: dict, dest: Path) -> dict[str, Path]:
    """The test unit sub-5's T2w and T1w written on :data:`NATIVE` under ``dest``."""
    prefix = study["prefixes"]["sub-5"]
    return {
        kind: write_nifti(
            dest / f"sub-5_{kind}.nii.gz",
            nib.load(preprocessed_file(prefix, kind)).get_fdata().astype(np.float32),
            NATIVE,
        )
        for kind in ("T2w", "T1w")
    }
