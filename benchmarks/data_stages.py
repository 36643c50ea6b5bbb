"""Per-stage seconds of the data layer for one clinical-size subject, on one core.

A demo subject's anatomy is resampled onto a 512 x 512 x 16 sagittal grid at
0.6 x 0.6 x 3.7 mm (the native resolution of Lemay et al.), its T1w onto a
slightly different grid with the demo's rigid misalignment, and each data
stage runs on it as the workflow runs it: validation, label standardisation,
registration (default settings), cord mask (manual and 30 mm centreline
tube), N4 (the stanford2023 preset's settings), and the lemay2021 chain
(reorient, resample, z-score, crop/pad; the resampling stage). Figures are
medians of ``--repeats`` runs; target: all stages <= 20 s per subject.

Usage::

    .venv/bin/python benchmarks/data_stages.py [--repeats 3] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import SimpleITK as sitk
import torch
from nibabel.processing import resample_from_to

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow" / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import median_seconds  # noqa: E402

from spinetumor.data import jobs, validation  # noqa: E402
from spinetumor.demo import jobs as demo
from spinetumor.preprocessing.chains import preset  # noqa: E402
from spinetumor.preprocessing.intensity import n4_correct  # noqa: E402
from spinetumor.preprocessing.jobs import preprocess_subject  # noqa: E402
from spinetumor.registration import jobs as registration
from spinetumor.registration.settings import RegistrationSettings

SHAPE = (512, 512, 16)
ZOOMS = (0.6, 0.6, 3.7)


def clinical_grid(
    reference: nib.Nifti1Image, shape: tuple[int, int, int], zooms: tuple[float, ...]
) -> np.ndarray:
    """A PSR sagittal grid of `shape` and `zooms` centred on `reference`'s field of view."""
    centre = reference.affine @ np.r_[(np.array(reference.shape[:3]) - 1) / 2, 1]
    # Axis 0 toward P, axis 1 toward S, axis 2 toward R (a common sagittal storage order).
    directions = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    affine = np.eye(4)
    affine[:3, :3] = directions * np.array(zooms)
    affine[:3, 3] = centre[:3] - affine[:3, :3] @ ((np.array(shape) - 1) / 2)
    return affine


def make_subject(root: Path, seed: int) -> dict[str, Path]:
    """Write a demo subject resampled onto the clinical grid; returns its files."""
    files = demo.write_subject(root / "demo", 2, seed)
    t2 = nib.load(str(files["t2w"]))
    affine = clinical_grid(t2, SHAPE, ZOOMS)
    t1 = nib.load(str(files["t1w"]))
    t1_affine = clinical_grid(t1, (480, 480, 16), (0.65, 0.65, 3.7))
    out = {}
    for key, img, grid, order in (
        ("t2w", t2, (SHAPE, affine), 1),
        ("t1w", t1, ((480, 480, 16), t1_affine), 1),
        ("dseg", nib.load(str(files["dseg"])), (SHAPE, affine), 0),
        ("cord", nib.load(str(files["cord"])), (SHAPE, affine), 0),
        ("centerline", nib.load(str(files["centerline"])), (SHAPE, affine), 0),
    ):
        resampled = resample_from_to(img, grid, order=order)
        data = np.asarray(resampled.dataobj)
        data = data.astype(np.float32) if order else np.rint(data).astype(np.uint8)
        out[key] = root / f"{key}.nii.gz"
        nib.save(nib.Nifti1Image(data, resampled.affine), str(out[key]))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    sitk.ProcessObject_SetGlobalDefaultNumberOfThreads(1)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        f = make_subject(root, args.seed)
        unit = {
            "subject": "bench",
            "session": None,
            "prefix": "sub-bench",
            "t2w": str(f["t2w"]),
            "t1w": str(f["t1w"]),
            "labels": {"dseg": str(f["dseg"]), "cord": str(f["cord"]), "centerline": str(f["centerline"])},
            "problems": [],
        }
        settings = RegistrationSettings()
        t2 = nib.load(str(f["t2w"]))
        t2_data = t2.get_fdata(dtype=np.float32)
        n4 = next(s for s in preset("stanford2023")["steps"] if s["name"] == "n4")
        stages: dict[str, Callable[[], object]] = {
            "validation": lambda: validation.validate_unit(unit),
            "labels (dseg)": lambda: jobs.standardize_labels(
                f["t2w"], {"dseg": str(f["dseg"])}, root / "d.nii.gz"
            ),
            f"registration ({settings.metric})": lambda: registration.run_registration(
                f["t2w"],
                f["t1w"],
                root / "r.nii.gz",
                root / "r.tfm",
                root / "r.png",
                settings,
                subject="bench",
            ),
            "cord mask (manual)": lambda: jobs.make_cord_mask(
                f["t2w"], "manual", str(f["cord"]), root / "c.nii.gz", root / "c.json"
            ),
            "cord mask (centreline tube)": lambda: jobs.make_cord_mask(
                f["t2w"], "centerline", str(f["centerline"]), root / "l.nii.gz", root / "l.json"
            ),
            f"N4 (shrink {n4['shrink_factor']})": lambda: n4_correct(
                t2_data,
                ZOOMS,
                shrink_factor=n4["shrink_factor"],
                iterations=n4["iterations"],
                convergence=n4["convergence"],
                mask=n4["mask"],
            ),
            "lemay2021 chain (resampling)": lambda: preprocess_subject(
                f["t2w"],
                root / "r.nii.gz",
                f["dseg"],
                f["cord"],
                preset("lemay2021")["steps"],
                {k: root / f"p_{k}.nii.gz" for k in ("T2w", "T1w", "dseg", "cord")},
                root / "p.json",
            ),
        }
        print(f"one subject, T2w {SHAPE} at {ZOOMS} mm, 1 thread, median of {args.repeats} runs")
        print(f"{'stage':32s} {'seconds':>8s}")
        total = 0.0
        for name, fn in stages.items():
            seconds = median_seconds(fn, args.repeats)
            if name != "cord mask (centreline tube)":  # one cord source per subject
                total += seconds
            print(f"{name:32s} {seconds:8.2f}")
        print(f"{'total (one cord source)':32s} {total:8.2f}   target <= 20 s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
