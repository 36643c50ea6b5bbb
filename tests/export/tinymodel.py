"""A tiny trained cascade, exported as a two-fold model folder, for the export and apply tests."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import torch

from spinetumor import layout
from spinetumor.export.jobs import export_model
from spinetumor.training.jobs import train_stage
from tests.conftest import write_nifti
from tests.modelstudy import STEPS, tiny_cascade, write_study

#: The chain the exported model runs on new scans: any orientation and voxel size to the
#: 32 x 32 x 16 grid its networks were trained on.
EXPORT_STEPS = [
    {"name": "reorient", "axcodes": "SAR"},
    {"name": "resample", "spacing_mm": [2.0, 2.0, 2.0]},
    {"name": "zscore", "nonzero": False},
    {"name": "crop_pad", "shape": [32, 32, 16]},
]
#: A native grid of a test scan: LPS, 0.8 x 0.8 x 2 mm voxels.
NATIVE = np.diag([-0.8, -0.8, 2.0, 1.0])


def train_runs(root: Path) -> list[tuple[int, str, str, str]]:
    """Train the tiny cascade on split 0; fold 1 is fold 0 with its lesion weights perturbed, so that
    the two folds disagree. Returns ``(split, stage, model.pt, summary)`` of both folds."""
    study, model = write_study(root), tiny_cascade()
    runs = []
    for stage in ("cord", "lesion"):
        pt = root / "models" / "split-0" / stage / layout.MODEL_FILE
        train_stage(
            model,
            stage,
            0,
            STEPS,
            study["chain_dir"],
            ["sub-1", "sub-2", "sub-3"],
            ["sub-4"],
            study["splits"],
            pt,
            pt.with_name(layout.TRAINING_SUMMARY),
            cord_model=runs[0][2] if stage == "lesion" else None,
            threads=1,
            device="cpu",
        )
        runs.append((0, stage, str(pt), str(pt.with_name(layout.TRAINING_SUMMARY))))
    generator = torch.Generator().manual_seed(1)
    for _, stage, pt, summary in list(runs):
        ckpt = torch.load(pt, weights_only=True)
        if stage == "lesion":
            ckpt["model"] = {
                k: v + 0.3 * torch.randn(v.shape, generator=generator) if v.is_floating_point() else v
                for k, v in ckpt["model"].items()
            }
        dest = Path(pt.replace("split-0", "split-1"))
        dest.parent.mkdir(parents=True, exist_ok=True)
        torch.save(ckpt, dest)
        summary_1 = {**json.loads(Path(summary).read_text()), "split": 1}
        dest.with_name(layout.TRAINING_SUMMARY).write_text(json.dumps(summary_1))
        runs.append((1, stage, str(dest), str(dest.with_name(layout.TRAINING_SUMMARY))))
    return runs


def exported_model(root: Path) -> dict:
    """The tiny cascade's folder under ``root/export/tiny``, its runs, and a scan on :data:`NATIVE`."""
    runs = train_runs(root)
    folder = root / "export" / "tiny"
    export_model(tiny_cascade(), EXPORT_STEPS, None, {"metric": "mattes"}, runs, folder)
    prefix = write_study(root / "scan")["prefixes"]["sub-5"]
    scan = {
        kind: write_nifti(
            root / "native" / f"sub-5_{kind}.nii.gz",
            nib.load(layout.preprocessed_file(prefix, kind)).get_fdata().astype(np.float32),
            NATIVE,
        )
        for kind in ("T2w", "T1w")
    }
    return {"folder": folder, "runs": runs, "scan": scan}
