"""A tiny trained cascade, exported as a two-fold model folder, for the export and apply tests."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from spinetumor import layout
from spinetumor.export.jobs import export_model
from tests.modelstudy import native_scan, tiny_cascade, train_split0, write_study

#: The chain the exported model runs on new scans: any orientation and voxel size to the
#: 32 x 32 x 16 grid its networks were trained on.
EXPORT_STEPS = [
    {"name": "reorient", "axcodes": "SAR"},
    {"name": "resample", "spacing_mm": [2.0, 2.0, 2.0]},
    {"name": "zscore", "nonzero": False},
    {"name": "crop_pad", "shape": [32, 32, 16]},
]


def train_runs(root: Path) -> list[tuple[int, str, str, str]]:
    """Train the tiny cascade on split 0; fold 1 is fold 0 with its lesion weights perturbed, so that
    the two folds disagree. Returns ``(split, stage, model.pt, summary)`` of both folds."""
    study = write_study(root)
    stages = train_split0(study, tiny_cascade(), root / "models" / "split-0")
    runs = [(0, stage, str(pt), str(pt.with_name(layout.TRAINING_SUMMARY))) for stage, pt in stages.items()]
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
    """The tiny cascade's folder under ``root/export/tiny``, its runs, and a scan on :data:`tests.modelstudy.NATIVE`."""
    runs = train_runs(root)
    folder = root / "export" / "tiny"
    export_model(tiny_cascade(), EXPORT_STEPS, None, {"metric": "mattes"}, runs, folder)
    scan = native_scan(write_study(root / "scan"), root / "native")
    return {"folder": folder, "runs": runs, "scan": scan}
