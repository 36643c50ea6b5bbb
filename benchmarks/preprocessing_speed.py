"""Time the preprocessing chains on a clinical-size sagittal volume, single-threaded.

A synthetic 512 x 512 x 16 volume at 0.6 x 0.6 x 3.7 mm (PSR, like a sagittal
spine acquisition) with T1w, dseg and cord mask goes through the lemay2021
chain; N4 (shrink factor 4) is timed separately on the T2w image. Each figure
is the median of ``--repeats`` runs.

Usage::

    .venv/bin/python benchmarks/preprocessing_speed.py [--repeats 3] [--threads 1] [--n4-shrink 4]
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import SimpleITK as sitk
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow" / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import median_seconds  # noqa: E402

from spinetumor.preprocessing.chains import preset  # noqa: E402
from spinetumor.preprocessing.native import to_native  # noqa: E402
from spinetumor.preprocessing.preprocessing import preprocess_volumes  # noqa: E402
from spinetumor.preprocessing.volumes import SubjectVolumes  # noqa: E402

logger = logging.getLogger("preprocessing_speed")

SHAPE = (512, 512, 16)
ZOOMS = (0.6, 0.6, 3.7)


def phantom(seed: int = 0) -> SubjectVolumes:
    """Body, cord and lesion ellipsoids under a smooth multiplicative bias, plus noise."""
    rng = np.random.default_rng(seed)
    affine = np.array(
        [
            [0.0, 0.0, ZOOMS[2], -29.6],
            [-ZOOMS[0], 0.0, 0.0, 153.3],
            [0.0, ZOOMS[1], 0.0, -153.3],
            [0.0, 0.0, 0.0, 1.0],
        ]
    )
    ap, si, rl = np.meshgrid(*[np.linspace(-1.0, 1.0, n) for n in SHAPE], indexing="ij")
    body = (ap / 0.8) ** 2 + (rl / 1.2) ** 2 < 1.0
    cord = ((ap / 0.05) ** 2 + (rl / 0.4) ** 2 < 1.0) & (np.abs(si) < 0.95)
    lesion = ((ap / 0.05) ** 2 + (si / 0.1) ** 2 + (rl / 0.3) ** 2) < 1.0
    bias = np.exp(0.3 * ap - 0.2 * si**2 + 0.1 * rl)
    t2w = (bias * (300.0 * body + 200.0 * cord + 400.0 * lesion) + rng.normal(0.0, 10.0, SHAPE)).clip(0)
    dseg = np.where(lesion, 1, 0).astype(np.uint8)
    return SubjectVolumes(
        t2w=nib.Nifti1Image(t2w.astype(np.float32), affine),
        t1w=nib.Nifti1Image((0.7 * t2w).astype(np.float32), affine),
        dseg=nib.Nifti1Image(dseg, affine),
        cord=nib.Nifti1Image(cord.astype(np.uint8), affine),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--n4-shrink", type=int, default=None, help="override the stanford2023 preset's N4 shrink factor (4)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    logging.getLogger("spinetumor").setLevel(logging.WARNING)
    torch.set_num_threads(args.threads)
    sitk.ProcessObject_SetGlobalDefaultNumberOfThreads(args.threads)

    vols = phantom()
    n4_step = next(s for s in preset("stanford2023")["steps"] if s["name"] == "n4")
    if args.n4_shrink is not None:
        n4_step["shrink_factor"] = args.n4_shrink
    lemay = preset("lemay2021")
    n4_key = f"n4 on T2w (shrink {n4_step['shrink_factor']})"
    results = {
        "lemay2021 chain (T2w, T1w, dseg, cord)": median_seconds(
            lambda: preprocess_volumes(vols, lemay, threads=args.threads), args.repeats
        ),
        "reorient + resample only (4 volumes)": median_seconds(
            lambda: preprocess_volumes(vols, lemay["steps"][:2], threads=args.threads), args.repeats
        ),
        n4_key: median_seconds(
            lambda: preprocess_volumes(SubjectVolumes(vols.t2w), [n4_step], threads=args.threads),
            args.repeats,
        ),
    }
    prepared = preprocess_volumes(vols, lemay, threads=args.threads)
    results["to_native dseg (order 0)"] = median_seconds(
        lambda: to_native(prepared["dseg"], vols.t2w, order=0), args.repeats
    )
    logger.info(
        "volume %s at %s mm, %d thread(s), median of %d runs", SHAPE, ZOOMS, args.threads, args.repeats
    )
    for name, seconds in results.items():
        logger.info("%-42s %7.2f s", name, seconds)
    total = results["lemay2021 chain (T2w, T1w, dseg, cord)"] + results[n4_key]
    logger.info("%-42s %7.2f s", "lemay2021 chain + n4", total)


if __name__ == "__main__":
    main()
