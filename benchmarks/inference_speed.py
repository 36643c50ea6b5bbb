"""Time end-to-end CPU inference for one subject: cascade vs single stage.

A synthetic sagittal subject (545 x 545 x 20 at 0.6 x 0.6 x 3.7 mm, PSR, T2w and
a registered T1w, like the paper's test images) is written as ``.nii.gz`` and
predicted from disk to disk: load, preprocessing (lemay2021: reorient,
resample, z-score, 512 x 256 x 32), stage 1, crop, stage 2, post-processing,
back to the native grid, save. Both modes run in the same process on the same
files; each figure is the median of ``--repeats`` runs.

Networks: MONAI ``DynUNet`` (3D, 3x3x3 kernels, 4 downsamplings, instance norm,
leaky ReLU; Isensee-style as in the paper) with random seeded weights:

* stage 1: filters 8-16-32-64-128, 1 in / 1 out, the whole 512 x 256 x 32
  volume in one patch;
* stage 2: filters 16-32-64-128-256, 2 in / 4 out, 128 x 128 x 32 patches at
  stride 64 x 64 x 16.

Random weights do not change the cost of a forward pass, but they do not find
a cord either. With ``--fixed-cord-mask`` (the default) stage 1 still runs its
full forward pass, then its output is replaced by a cord-like box: 30 mm (A-P)
x 30 mm (R-L) around the centre of the field of view over the S-I extent of
the native image, as the 30 mm cord masks of the paper. With the 5 mm margin
this gives a crop of about 338 x 40 x 22 voxels, grown to 384 x 128 x 32 (at least
one patch, whole strides): 5 stage-2 windows instead of 21 over the whole volume.
``--no-fixed-cord-mask`` uses the random network's own mask.

Mode ``coarse1`` is the cascade with stage 1 on a grid of its own
(``inference.stage1_chain``: 2 x 2 x 4 mm, 256 x 128 x 16), its cord box
carried to the lesion grid through world coordinates. Mode ``fitted`` also
runs stage 2 in one window fitted to the cord's box (``patch_size: null``,
``window_multiple: [16, 16, 16]``).

What to expect: the convolutions cost about 120 GFLOP for stage 1 and 60 GFLOP
per stage-2 window, so 420 GFLOP for the cascade against 1,260 for the single
stage. The networks alone therefore cap the speed-up near 3x, and a cascade
under 5 s needs some 85 GFLOP/s of sustained 3D convolution.

The last line printed is one JSON object of each mode's median seconds,
e.g. ``{"lemay2021_s": 11.2, "fast_cascade_s": 4.1, "single_stage_s": 18.6}``.

Usage::

    .venv/bin/python benchmarks/inference_speed.py [--repeats 3] [--threads 2] [--shape 545 545 20]
        [--batch-size 1] [--overlap 0.5] [--channels-last] [--no-fixed-cord-mask]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
from monai.networks.nets import DynUNet

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow" / "scripts"))

from spinetumor.inference.predict import predict_cascade, predict_single_stage  # noqa: E402
from spinetumor.inference.result import TIMING_STEPS, Prediction, save_prediction  # noqa: E402

logger = logging.getLogger("inference_speed")

SHAPE = (545, 545, 20)  # A-P, S-I, R-L
ZOOMS = (0.6, 0.6, 3.7)
CORD_DIAMETER_MM = 30.0
PREPROCESSED_ZOOMS = (1.0, 1.0, 2.0)  # lemay2021: S-I, A-P, R-L
# Mode "coarse1": the cascade with stage 1 on a grid of its own (inference.stage1_chain).
COARSE_ZOOMS = (2.0, 2.0, 4.0)
COARSE_CHAIN = [
    {"name": "reorient", "axcodes": "SAR"},
    {"name": "resample", "spacing_mm": list(COARSE_ZOOMS)},
    {"name": "zscore", "nonzero": False},
    {"name": "crop_pad", "shape": [256, 128, 16]},
]
# Mode "fitted": as "coarse1", and stage 2 in one window fitted to the cord's box (a multiple
# of 16, the DynUNet's total stride) instead of 128 x 128 x 32 tiles.
#: Key of each mode in the JSON last line.
JSON_KEYS = {
    "cascade": "lemay2021",
    "coarse1": "coarse_stage1",
    "fitted": "fast_cascade",
    "single": "single_stage",
}
FITTED = {"stage1_chain": COARSE_CHAIN, "patch_size": None, "window_multiple": [16, 16, 16]}
PATCH = (128, 128, 32)  # stage 2, the inference default


def write_phantom(folder: Path, seed: int = 0, shape: tuple[int, int, int] = SHAPE) -> tuple[Path, Path]:
    """Body, cord and lesion ellipsoids plus noise, as native T2w and T1w files."""
    rng = np.random.default_rng(seed)
    affine = np.zeros((4, 4))
    affine[1, 0], affine[2, 1], affine[0, 2], affine[3, 3] = -ZOOMS[0], ZOOMS[1], ZOOMS[2], 1.0
    affine[:3, 3] = [
        -ZOOMS[2] * (shape[2] - 1) / 2,
        ZOOMS[0] * (shape[0] - 1) / 2,
        -ZOOMS[1] * (shape[1] - 1) / 2,
    ]
    ap, si, rl = np.meshgrid(*[np.linspace(-1.0, 1.0, n, dtype=np.float32) for n in shape], indexing="ij")
    body = (ap / 0.8) ** 2 + (rl / 1.2) ** 2 < 1.0
    cord = ((ap / 0.05) ** 2 + (rl / 0.4) ** 2 < 1.0) & (np.abs(si) < 0.95)
    lesion = ((ap / 0.05) ** 2 + (si / 0.1) ** 2 + (rl / 0.3) ** 2) < 1.0
    t2w = 300.0 * body + 200.0 * cord + 400.0 * lesion + rng.normal(0.0, 10.0, shape)
    t1w = 250.0 * body + 50.0 * cord + 600.0 * lesion + rng.normal(0.0, 10.0, shape)
    paths = (folder / "sub-bench_T2w.nii.gz", folder / "sub-bench_space-T2w_ce-gadolinium_T1w.nii.gz")
    for path, data in zip(paths, (t2w, t1w)):
        nib.save(nib.Nifti1Image(data.clip(0).astype(np.float32), affine), str(path))
    return paths


def dynunet(in_channels: int, out_channels: int, base_filters: int) -> DynUNet:
    """Depth-4 3D DynUNet (five levels, filters doubling from ``base_filters``)."""
    return DynUNet(
        spatial_dims=3,
        in_channels=in_channels,
        out_channels=out_channels,
        kernel_size=[3] * 5,
        strides=[1, 2, 2, 2, 2],
        upsample_kernel_size=[2] * 4,
        filters=[base_filters * 2**level for level in range(5)],
        norm_name=("INSTANCE", {"affine": True}),
        act_name=("leakyrelu", {"negative_slope": 0.01, "inplace": True}),
    ).eval()


class FixedCordMask(torch.nn.Module):
    """Runs the real stage-1 network (for its cost), then returns a cord-like box.

    The box is centred in A-P and R-L (the phantom's cord is, and lemay2021
    centres the field of view) and spans the S-I rows that hold native image
    (padding is exactly 0 after the z-score).
    """

    def __init__(self, net: torch.nn.Module, zooms: tuple[float, float, float] = PREPROCESSED_ZOOMS) -> None:
        super().__init__()
        self.net = net
        self.zooms = zooms

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.net(x)
        logits = torch.full_like(x[:, :1], -10.0)
        rows = torch.nonzero((x[0, 0] != 0).any(dim=2).any(dim=1)).flatten()
        half = [round(CORD_DIAMETER_MM / 2 / self.zooms[axis]) for axis in (1, 2)]
        centre = [n // 2 for n in x.shape[3:]]
        logits[
            :,
            :,
            int(rows[0]) : int(rows[-1]) + 1,
            centre[0] - half[0] : centre[0] + half[0],
            centre[1] - half[1] : centre[1] + half[1],
        ] = 10.0
        return logits


def n_windows(shape: tuple[int, ...], patch: tuple[int, ...], overlap: float) -> int:
    """Number of sliding windows MONAI places (the last one aligned on the far edge)."""
    count = 1
    for size, roi in zip(shape, patch):
        stride = max(1, int(roi * (1 - overlap)))
        count *= 1 if size <= roi else math.ceil((size - roi) / stride) + 1
    return count


def run_once(
    predict: Callable[[], Prediction], out_dir: Path, overlap: float, fitted: bool = False
) -> dict[str, float]:
    start, cpu_start = time.perf_counter(), time.process_time()
    result = predict()
    save_prediction(result, out_dir / "dseg.nii.gz")
    timings = dict(result["timings"])
    timings["total"] = time.perf_counter() - start
    # CPU seconds of all threads: less sensitive than wall time to other processes on the machine.
    timings["cpu_total"] = time.process_time() - cpu_start
    crop_shape = tuple(int(n) for n in np.subtract(result["crop_box"][1], result["crop_box"][0]))
    timings["crop_voxels"] = float(np.prod(crop_shape))
    timings["windows"] = 1.0 if fitted else float(n_windows(crop_shape, PATCH, overlap))
    return timings


def medians(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def device_summary(threads: int) -> str:
    cpu = platform.processor() or "unknown CPU"
    with open("/proc/cpuinfo") as handle:
        names = [line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")]
    if names:
        cpu = names[0]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"CPU {cpu} ({os.cpu_count()} cores, load {load:.1f}), torch {torch.__version__} "
        f"with {threads} thread(s)"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--shape", type=int, nargs=3, default=list(SHAPE), help="native A-P, S-I, R-L voxels")
    parser.add_argument("--batch-size", type=int, default=1, help="stage-2 windows per forward pass")
    parser.add_argument("--overlap", type=float, default=0.5, help="0.5 = the paper's stride of half a patch")
    parser.add_argument("--channels-last", action="store_true", help="channels_last_3d weights")
    parser.add_argument(
        "--fixed-cord-mask",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="replace stage 1's random-weight output by a 30 mm cord box (default)",
    )
    parser.add_argument(
        "--modes",
        nargs="+",
        default=["cascade", "coarse1", "fitted", "single"],
        choices=["cascade", "coarse1", "fitted", "single"],
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    logging.getLogger("spinetumor").setLevel(logging.WARNING)
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    stage1: torch.nn.Module = dynunet(1, 1, 8)
    stage2: torch.nn.Module = dynunet(2, 4, 16)
    if args.channels_last:
        stage1 = stage1.to(memory_format=torch.channels_last_3d)
        stage2 = stage2.to(memory_format=torch.channels_last_3d)
    coarse_stage1 = stage1
    if args.fixed_cord_mask:
        stage1 = FixedCordMask(stage1)
        coarse_stage1 = FixedCordMask(coarse_stage1, COARSE_ZOOMS)
    settings = {"threads": args.threads, "batch_size": args.batch_size, "overlap": args.overlap}

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t2w, t1w = write_phantom(folder, shape=tuple(args.shape))
        modes = {
            "cascade": lambda: predict_cascade(t2w, t1w, stage1, stage2, settings),
            "coarse1": lambda: predict_cascade(
                t2w, t1w, coarse_stage1, stage2, {**settings, "stage1_chain": COARSE_CHAIN}
            ),
            "fitted": lambda: predict_cascade(t2w, t1w, coarse_stage1, stage2, {**settings, **FITTED}),
            "single": lambda: predict_single_stage(t2w, t1w, stage2, settings),
        }
        results = {}
        for mode in args.modes:
            runs = []
            for repeat in range(args.repeats):
                runs.append(run_once(modes[mode], folder, args.overlap, fitted=mode == "fitted"))
                logger.info("%s run %d: %.2f s", mode, repeat + 1, runs[-1]["total"])
            results[mode] = medians(runs)

    logger.info("")
    logger.info("device: %s", device_summary(args.threads))
    logger.info(
        "subject %s at %s mm; stage-2 batch %d, overlap %.2f, channels_last %s, fixed cord mask %s; "
        "median of %d runs",
        tuple(args.shape),
        ZOOMS,
        args.batch_size,
        args.overlap,
        args.channels_last,
        args.fixed_cord_mask,
        args.repeats,
    )
    logger.info("%-12s" + "%10s" * len(results), "step (s)", *results)
    for step in (*TIMING_STEPS, "total"):
        logger.info("%-12s" + "%10.2f" * len(results), step, *(r[step] for r in results.values()))
    logger.info("%-12s" + "%10.2f" * len(results), "CPU seconds", *(r["cpu_total"] for r in results.values()))
    for key, label in (("crop_voxels", "crop voxels"), ("windows", "windows")):
        logger.info("%-12s" + "%10d" * len(results), label, *(int(r[key]) for r in results.values()))
    for fast in ("cascade", "fitted"):
        if {fast, "single"} <= set(results):
            ratio = results["single"]["total"] / results[fast]["total"]
            logger.info(
                "single / %s: %.2fx (paper: 48 s / 22 s = 2.2x; target: <= 5 s and >= 3x)", fast, ratio
            )
    # The last line: each configuration's median seconds, for other tools.
    print(json.dumps({f"{JSON_KEYS[mode]}_s": round(r["total"], 3) for mode, r in results.items()}))


if __name__ == "__main__":
    main()
