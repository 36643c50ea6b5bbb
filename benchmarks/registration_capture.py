"""Capture range and speed of the T1w-to-T2w registration on the real pairs.

The real T1w header is moved rigidly about the T1w's centre (the motions of
``tests/registration/test_search.py``, and some more); the truth is that motion after
the registration of the unmoved pair. The residual is the largest distance
between the found and true transforms at the T2w cord-mask voxels ("start":
the headers alone). "block" rows cut the T1w to a small block first (a T2w
field of view 3-6 times the T1w's), their truth starting from the unmoved
block's registration. Seconds: median optimisation time of the unmoved pair
over ``--repeats`` runs, single-threaded. ``ok`` is whether the result passed
its checks ("error": the old guard raised instead), ``flags`` the start of each reason it failed.

Usage::

    .venv/bin/python benchmarks/registration_capture.py [--repeats 5] [--seeds 1]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import SimpleITK as sitk

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow" / "scripts"))
sys.path.insert(0, str(REPO / "tests" / "registration"))

from phantoms import moved_t1w  # noqa: E402

from spinetumor.registration.register import register_t1w_to_t2w  # noqa: E402
from spinetumor.registration.settings import RegistrationSettings  # noqa: E402
from spinetumor.registration.transforms import transform_error  # noqa: E402

logger = logging.getLogger("registration_capture")
LPS = np.diag([-1.0, -1.0, 1.0])
# (rotation deg, translation mm) in RAS, about the T1w's centre.
OFFSETS = [
    ((4, -3, 2), (3, -4, 5)),
    ((8, 5, -4), (6, 6, -8)),
    ((10, -10, 10), (15, -15, 10)),
    ((-10, 8, -6), (-12, 10, 15)),
    ((2, -2, 10), (15, -15, 3)),
]
# T1w blocks: a sixth and a quarter of sub-errsm30's T2w field of view (the larger one, moved,
# can match a vertebral level off), 4.5 times smaller than sub-unf01's.
BLOCKS = {"errsm30": [(30, 30, 30), (42, 40, 32)], "unf01": [(64, 64, 16)]}
BLOCK_OFFSETS = [((4, -3, 2), (3, -4, 5)), ((8, 5, -4), (6, 6, -8)), ((1, -1, 8), (5, -6, 2))]


def _cord_lps(real: Path, subject: str) -> np.ndarray:
    labels = real / "derivatives" / "labels" / f"sub-{subject}" / "anat"
    cord = nib.load(labels / f"sub-{subject}_T2w_seg-manual.nii.gz")
    ras = np.argwhere(np.asarray(cord.dataobj) > 0) @ cord.affine[:3, :3].T + cord.affine[:3, 3]
    return ras @ LPS


def _row(subject, case, t2w, t1w, motion, reference, cord, settings) -> dict:
    truth = sitk.CompositeTransform([motion, reference])
    start, _ = transform_error(sitk.Euler3DTransform(), truth, cord)
    row = {"subject": subject, "case": case, "seed": settings.seed, "start_mm": start}
    try:
        result = register_t1w_to_t2w(t2w, t1w, settings, subject=subject)
    except ValueError as exc:  # before the checks, a large motion was an error
        logger.info("%s %s: %s", subject, case, exc)
        return {**row, "residual_mm": float("nan"), "ok": "error", "seconds": float("nan")}
    residual, _ = transform_error(result.transform, truth, cord)
    flags = "; ".join(" ".join(reason.split()[:3]) for reason in getattr(result, "failures", []))
    return {
        **row,
        "residual_mm": residual,
        "ok": getattr(result, "ok", True),
        "seconds": result.seconds,
        "flags": flags,
    }


def subject_rows(real: Path, subject: str, work: Path, settings: RegistrationSettings) -> list[dict]:
    anat = real / f"sub-{subject}" / "anat"
    t2w, t1w = anat / f"sub-{subject}_T2w.nii.gz", anat / f"sub-{subject}_T1w.nii.gz"
    cord = _cord_lps(real, subject)
    reference = register_t1w_to_t2w(t2w, t1w, settings, subject=subject).transform
    rows = []
    for rotation, translation in OFFSETS:
        motion = moved_t1w(t1w, work / "moved.nii.gz", rotation, translation)
        rows.append(
            _row(
                subject,
                f"{rotation} deg {translation} mm",
                t2w,
                work / "moved.nii.gz",
                motion,
                reference,
                cord,
                settings,
            )
        )
    for block in BLOCKS[subject]:
        rows += _block_rows(subject, t2w, t1w, block, cord, work, settings)
    return rows


def _block_rows(subject, t2w, t1w, block, cord, work: Path, settings: RegistrationSettings) -> list[dict]:
    """The T1w cut to ``block`` (mm), moved by each of BLOCK_OFFSETS; truth from the unmoved block."""
    moved_t1w(t1w, work / "block.nii.gz", (0, 0, 0), (0, 0, 0), block)
    reference = register_t1w_to_t2w(t2w, work / "block.nii.gz", settings, subject=subject).transform
    rows = []
    for rotation, translation in BLOCK_OFFSETS:
        motion = moved_t1w(t1w, work / "moved.nii.gz", rotation, translation, block)
        case = f"block {block}: {rotation} deg {translation} mm"
        rows.append(_row(subject, case, t2w, work / "moved.nii.gz", motion, reference, cord, settings))
    return rows


def seconds_row(real: Path, subject: str, settings: RegistrationSettings, repeats: int) -> dict:
    anat = real / f"sub-{subject}" / "anat"
    times = [
        register_t1w_to_t2w(
            anat / f"sub-{subject}_T2w.nii.gz", anat / f"sub-{subject}_T1w.nii.gz", settings
        ).seconds
        for _ in range(repeats)
    ]
    return {
        "subject": subject,
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real-dir", type=Path, default=REPO.parent / "shared" / "data" / "real-spine")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each unmoved pair")
    parser.add_argument("--seeds", type=int, default=1, help="sampling seeds of the capture-range runs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    logging.getLogger("spinetumor").setLevel(logging.ERROR)
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    settings = RegistrationSettings()
    rows, times = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for subject in ("errsm30", "unf01"):
            times.append(seconds_row(args.real_dir, subject, RegistrationSettings(), args.repeats))
            for seed in range(args.seeds):
                rows += subject_rows(args.real_dir, subject, Path(tmp), replace(settings, seed=seed))
    pd.set_option("display.width", 200)
    pd.set_option("display.max_colwidth", 80)
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print(pd.DataFrame(times).to_string(index=False, float_format=lambda v: f"{v:.2f}"))


if __name__ == "__main__":
    main()
