"""Compare the T1w-to-T2w registration metrics on phantoms, demo subjects and real pairs.

For each metric (mattes, correlation, ants_cc) and stage list:

* the analytic phantom of ``tests/registration/phantoms.py`` (3 deg about two
  axes and 3.2 mm, anti-correlated CSF): recovery error (max mm over the
  structures, residual rotation in deg);
* demo subjects (``spinetumor.demo``, when present): the same error around the
  cord, against the ``SyntheticMisalignment`` of the T1w sidecar;
* the two real healthy pairs of ``../shared/data/real-spine``: Dice of the
  T1w cord mask brought onto the T2w grid (nearest neighbour) with the T2w
  cord mask, after registration vs with the header alignment only, over
  ``--seeds`` sampling seeds (mean and worst);
* seconds of optimisation, single-threaded.

Then the default settings are timed on a 512 x 512 x 16 pair at
0.6 x 0.6 x 3.7 mm. The displacement check is switched off here so that
failures are measured instead of flagged; the ``guard`` column says whether
the result moves a corner of the T2w by more than the default limit.

Usage::

    .venv/bin/python benchmarks/registration_metrics.py [--seeds 3] [--skip-large] [--csv out.csv]
"""

from __future__ import annotations

import argparse
import itertools
import json
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

from phantoms import TRUTH, make_phantom_pair, rigid_lps  # noqa: E402

from spinetumor.registration.images import resample_to_t2w  # noqa: E402
from spinetumor.registration.register import register_t1w_to_t2w  # noqa: E402
from spinetumor.registration.settings import RegistrationSettings  # noqa: E402
from spinetumor.registration.transforms import transform_error  # noqa: E402

logger = logging.getLogger("registration_metrics")

LPS = np.diag([-1.0, -1.0, 1.0])
DEFAULT_GUARD_MM = RegistrationSettings().max_displacement_mm
VARIANTS = [
    (metric, stages)
    for metric, stages in itertools.product(
        ("mattes", "correlation", "ants_cc"), (("rigid", "affine"), ("rigid",))
    )
]


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 0.5, b > 0.5
    return 2.0 * float((a & b).sum()) / float(a.sum() + b.sum())


def _corners_lps(path: Path) -> np.ndarray:
    image = nib.load(path)
    shape = np.asarray(image.shape[:3]) - 1
    ijk = np.array(list(itertools.product(*[(0, n) for n in shape])), dtype=float)
    return (ijk @ image.affine[:3, :3].T + image.affine[:3, 3]) @ LPS


def _guard_fires(transform: sitk.Transform, t2w: Path) -> bool:
    moved, _ = transform_error(transform, sitk.Euler3DTransform(), _corners_lps(t2w))
    return moved > DEFAULT_GUARD_MM


def _subsample(points: np.ndarray, n: int = 5000) -> np.ndarray:
    return points[:: max(1, len(points) // n)]


def known_misalignment_rows(
    case: str, t2w: Path, t1w: Path, truth: sitk.Transform, points: np.ndarray, settings: RegistrationSettings
) -> dict:
    """Recovery error of one registration whose true transform is known."""
    result = register_t1w_to_t2w(t2w, t1w, settings, subject=case)
    error_mm, error_deg = transform_error(result.transform, truth, _subsample(points))
    return {
        "case": case,
        "metric": settings.metric,
        "stages": "+".join(settings.stages),
        "error_mm": error_mm,
        "error_deg": error_deg,
        "seconds": result.seconds,
        "guard": _guard_fires(result.transform, t2w),
    }


def phantom_cases(work: Path) -> list[tuple[str, Path, Path, sitk.Transform, np.ndarray]]:
    pair = make_phantom_pair(work / "phantom", rigid_lps(*TRUTH))
    return [("phantom", pair.t2w, pair.t1w, pair.truth, pair.object_points_lps)]


def demo_cases(work: Path, indices: list[int]) -> list[tuple[str, Path, Path, sitk.Transform, np.ndarray]]:
    try:
        from spinetumor.demo import jobs as demo
    except ImportError:
        logger.warning("spinetumor.demo not found: no demo subjects")
        return []
    flip = np.diag([-1.0, -1.0, 1.0, 1.0])
    cases = []
    for index in indices:
        paths = demo.write_subject(work / "demo", index, 0)
        matrix = (
            flip
            @ np.asarray(
                json.loads(Path(paths["t1w_json"]).read_text())["SyntheticMisalignment"]["matrix_ras"]
            )
            @ flip
        )
        truth = sitk.AffineTransform(3)
        truth.SetMatrix(matrix[:3, :3].ravel().tolist())
        truth.SetTranslation(matrix[:3, 3].tolist())
        t2w = nib.load(paths["t2w"])
        cord = np.argwhere(np.asarray(nib.load(paths["cord"]).dataobj) > 0)
        points = (cord @ t2w.affine[:3, :3].T + t2w.affine[:3, 3]) @ LPS
        cases.append((f"demo-{index}", Path(paths["t2w"]), Path(paths["t1w"]), truth, points))
    return cases


def real_pair_row(real_dir: Path, subject: str, settings: RegistrationSettings, seeds: int) -> dict:
    """Cord-mask Dice after registration (mean and worst over seeds) vs header alignment."""
    anat = real_dir / f"sub-{subject}" / "anat"
    labels = real_dir / "derivatives" / "labels" / f"sub-{subject}" / "anat"
    t2w, t1w = anat / f"sub-{subject}_T2w.nii.gz", anat / f"sub-{subject}_T1w.nii.gz"
    t1w_cord = labels / f"sub-{subject}_T1w_seg-manual.nii.gz"
    t2w_cord = np.asarray(nib.load(labels / f"sub-{subject}_T2w_seg-manual.nii.gz").dataobj)
    headers = resample_to_t2w(t1w_cord, t2w, sitk.Euler3DTransform(), "nearest", subject)
    dice, seconds, guards = [], [], 0
    for seed in range(seeds):
        result = register_t1w_to_t2w(t2w, t1w, replace(settings, seed=seed), subject=subject)
        moved = resample_to_t2w(t1w_cord, t2w, result.transform, "nearest", subject)
        dice.append(_dice(np.asarray(moved.dataobj), t2w_cord))
        seconds.append(result.seconds)
        guards += _guard_fires(result.transform, t2w)
    return {
        "case": f"sub-{subject}",
        "metric": settings.metric,
        "stages": "+".join(settings.stages),
        "dice_headers": _dice(np.asarray(headers.dataobj), t2w_cord),
        "dice_mean": statistics.mean(dice),
        "dice_min": min(dice),
        "seconds": statistics.mean(seconds),
        "guard": f"{guards}/{seeds}",
    }


def large_pair_row(work: Path) -> dict:
    """Default settings on a clinical-size sagittal pair (512 x 512 x 16, 0.6 x 0.6 x 3.7 mm)."""
    truth = rigid_lps((2.0, 0.0, 2.0), (1.0, -1.5, 2.0))
    pair = make_phantom_pair(
        work / "large",
        truth,
        t2w_shape=(512, 512, 16),
        t2w_spacing=(0.6, 0.6, 3.7),
        t1w_shape=(512, 512, 16),
        t1w_spacing=(0.6, 0.6, 3.7),
    )
    settings = RegistrationSettings()
    return known_misalignment_rows("512x512x16", pair.t2w, pair.t1w, truth, pair.object_points_lps, settings)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real-dir", type=Path, default=REPO.parent / "shared" / "data" / "real-spine")
    parser.add_argument("--seeds", type=int, default=3, help="sampling seeds per real pair")
    parser.add_argument("--demo", type=int, nargs="*", default=[1, 2, 3], help="demo subject indices")
    parser.add_argument("--skip-large", action="store_true", help="skip the 512x512x16 timing")
    parser.add_argument("--csv", type=Path, help="also write every row to this CSV")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    logging.getLogger("spinetumor").setLevel(logging.ERROR)
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)

    known, real = [], []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cases = phantom_cases(work) + demo_cases(work, args.demo)
        for metric, stages in VARIANTS:
            settings = RegistrationSettings(metric=metric, stages=stages, max_displacement_mm=1e6)
            logger.info("%s %s", metric, "+".join(stages))
            known += [known_misalignment_rows(*case, settings) for case in cases]
            if args.real_dir.is_dir():
                real += [real_pair_row(args.real_dir, s, settings, args.seeds) for s in ("unf01", "errsm30")]
        if not args.real_dir.is_dir():
            logger.warning("real pairs not found at %s", args.real_dir)
        large = None if args.skip_large else large_pair_row(work)

    pd.set_option("display.width", 160)
    print("\nKnown misalignment recovered (error over the structures / the cord):")
    print(pd.DataFrame(known).to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    if real:
        print(f"\nReal pairs: T1w cord mask on the T2w grid vs T2w cord mask ({args.seeds} seeds):")
        print(pd.DataFrame(real).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if large is not None:
        print("\nClinical size, default settings, 1 thread:")
        print(pd.DataFrame([large]).to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    if args.csv:
        rows = known + real + ([large] if large else [])
        pd.DataFrame(rows).to_csv(args.csv, index=False)


if __name__ == "__main__":
    main()
