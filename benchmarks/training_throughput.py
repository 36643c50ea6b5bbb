"""Training throughput (patches/s) and the share of step time spent waiting for data.

Synthetic preprocessed subjects (T2w, T1w, dseg, cord mask; a bright lesion in
a cord-like tube) are written once; then :func:`spinetumor.training.loop.train`
runs a few epochs of one stage of a model (default: the demo cascade's lesion
stage from ``spinetumor/demo_study.yaml``; ``--preset lemay2021`` for the paper's sizes) on
the device Torch sees (CPU, or the GPU with bf16 autocast). Each epoch's
``seconds`` and ``data_seconds`` come from ``training_log.tsv``; the first
epoch (warm-up, cache filling) is left out of the medians.

Usage::

    .venv/bin/python benchmarks/training_throughput.py [--preset cascade|lemay2021] [--stage lesion]
        [--epochs 4] [--subjects 6] [--threads 2] [--workers 0]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow" / "scripts"))

from spinetumor.layout import preprocessed_file  # noqa: E402
from spinetumor.models.definitions import network_config, resolve_model, training_config  # noqa: E402
from spinetumor.study import demo_study  # noqa: E402
from spinetumor.training.data import record_from_prefix  # noqa: E402
from spinetumor.training.loop import train  # noqa: E402
from spinetumor.training.settings import TrainingSettings  # noqa: E402


def write_subject(root: Path, name: str, shape: tuple[int, int, int], seed: int) -> Path:
    rng = np.random.default_rng(seed)
    x, y, z = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    cord = (np.abs(y - shape[1] // 2) < max(2, shape[1] // 20)) & (
        np.abs(z - shape[2] // 2) < max(2, shape[2] // 5)
    )
    centre = rng.integers(shape[0] // 4, 3 * shape[0] // 4)
    dseg = (cord & (np.abs(x - centre) < shape[0] // 10)).astype(np.uint8)
    affine = np.diag([1.0, 1.0, 2.0, 1.0])
    prefix = root / name / f"{name}_desc-preproc"
    prefix.parent.mkdir(parents=True)
    for kind, data in {
        "T2w": rng.normal(0, 1, shape) + cord + dseg,
        "T1w": rng.normal(0, 1, shape) + 2 * dseg,
        "dseg": dseg,
        "cord": cord.astype(np.uint8),
    }.items():
        nib.save(
            nib.Nifti1Image(np.asarray(data, np.float32 if kind[0] == "T" else np.uint8), affine),
            preprocessed_file(prefix, kind),
        )
    return prefix


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="cascade", help="a model of the demo study or a preset")
    parser.add_argument("--stage", default="lesion")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--subjects", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = resolve_model(args.preset, demo_study()["models"]["definitions"])
    cfg = training_config(model, args.stage)
    cfg.update(max_epochs=args.epochs, patience=args.epochs, num_workers=args.workers)
    settings = TrainingSettings.from_config(cfg)
    shape = tuple(2 * p for p in settings.patch_size)  # volumes twice the patch per axis
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        records = [
            record_from_prefix(f"s{i}", write_subject(root, f"s{i}", shape, i)) for i in range(args.subjects)
        ]
        train(
            records[1:], records[:1], network_config(model, args.stage), settings, root / "run", resume=False
        )
        log = pd.read_csv(root / "run" / "training_log.tsv", sep="\t", na_values=["n/a"]).iloc[1:]
    steps = (args.subjects - 1) * settings.patches_per_volume / settings.batch_size
    patches = steps * settings.batch_size
    train_s = log["seconds"]
    print(
        f"device {device} ({torch.cuda.get_device_name() if device == 'cuda' else f'{args.threads} CPU threads'}),"
        f" amp {settings.amp if device == 'cuda' else 'none (float32)'}; model {args.preset} stage {args.stage},"
        f" patch {list(settings.patch_size)} x batch {settings.batch_size}, volumes {list(shape)}"
    )
    print(
        f"median epoch {statistics.median(train_s):.2f} s for {patches:.0f} patches (+ validation):"
        f" {patches / statistics.median(train_s):.2f} patches/s;"
        f" waiting for data {100 * statistics.median(log['data_seconds'] / train_s):.1f} % of the epoch"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
