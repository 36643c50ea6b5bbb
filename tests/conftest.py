"""Shared fixtures: tiny NIfTI files and BIDS trees with hand-known contents."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REAL_SPINE = SHARED / "data" / "real-spine"
TINY = REPO / "tests" / "config" / "tiny.yaml"
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def run_snakemake(
    *args: str,
    configfiles: list[Path] | None = None,
    config: dict | None = None,
    check: bool = True,
    timeout: int = 1200,
    env: dict | None = None,
) -> subprocess.CompletedProcess:
    """Run Snakemake from the repository root with 2 cores and return the finished process.

    `config` overrides go through a YAML file (``--config`` would read every
    value as a string), applied after `configfiles`.
    """
    import yaml

    cmd = [SNAKEMAKE, *args, "--cores", "2", "--nocolor"]
    with tempfile.TemporaryDirectory() as tmp:
        files = [str(f) for f in (configfiles or [])]
        if config:
            overrides = Path(tmp) / "overrides.yaml"
            overrides.write_text(yaml.safe_dump(config))
            files.append(str(overrides))
        if files:
            cmd += ["--configfile", *files]
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
        )
    return proc


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """The whole tiny study (data stages, models, predictions, evaluation), run once per test session.

    Shared by the workflow tests and the SLURM test (its local reference).
    """
    results = tmp_path_factory.mktemp("tiny") / "results"
    run_snakemake(configfiles=[TINY], config={"results_dir": str(results)})
    return results


@pytest.fixture(scope="session")
def exported(tmp_path_factory) -> dict:
    """A tiny trained cascade exported as a two-fold model folder, and a scan to run it on (trained once)."""
    from tests.export.tinymodel import exported_model

    return exported_model(tmp_path_factory.mktemp("exported"))


def write_nifti(path: Path, data: np.ndarray, affine: np.ndarray | None = None) -> Path:
    """Write `data` as NIfTI (creating folders), with `affine` or identity."""
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.asarray(data), np.eye(4) if affine is None else affine), str(path))
    return path


@pytest.fixture
def real_spine() -> Path:
    """The two real healthy subjects, or a skip that says why."""
    if not REAL_SPINE.is_dir():
        pytest.skip(f"real data not found at {REAL_SPINE} (../shared must sit beside the repo)")
    return REAL_SPINE


def make_bids(
    root: Path,
    subjects: dict[str, list[str | None]],
    *,
    lesions: str = "dseg",
    shape: tuple[int, int, int] = (8, 8, 4),
    ce: bool = True,
) -> Path:
    """A tiny BIDS dataset: `subjects` maps a label to its sessions ([None] = no session).

    Every unit gets a T2w, a T1w (ce-gadolinium when `ce`), a cord mask, and
    lesion labels as one dseg map or one file per structure.
    """
    rng = np.random.default_rng(0)
    (root / "dataset_description.json").parent.mkdir(parents=True, exist_ok=True)
    (root / "dataset_description.json").write_text('{"Name": "tiny", "BIDSVersion": "1.9.0"}')
    rows = ["participant_id\tpathology"]
    for i, (sub, sessions) in enumerate(subjects.items()):
        rows.append(f"sub-{sub}\t{['astrocytoma', 'ependymoma', 'hemangioblastoma'][i % 3]}")
        for ses in sessions:
            sp = f"sub-{sub}" + (f"/ses-{ses}" if ses else "")
            px = f"sub-{sub}" + (f"_ses-{ses}" if ses else "")
            anat = root / sp / "anat"
            write_nifti(anat / f"{px}_T2w.nii.gz", rng.random(shape).astype(np.float32))
            t1_name = f"{px}_ce-gadolinium_T1w.nii.gz" if ce else f"{px}_T1w.nii.gz"
            write_nifti(anat / t1_name, rng.random(shape).astype(np.float32))
            lab = root / "derivatives" / "labels" / sp / "anat"
            cord = np.zeros(shape, np.uint8)
            cord[3:5, 3:5, :] = 1
            write_nifti(lab / f"{px}_T2w_seg-manual.nii.gz", cord)
            tumour = np.zeros(shape, np.uint8)
            tumour[3, 3, 1] = 1
            if lesions == "dseg":
                write_nifti(lab / f"{px}_T2w_dseg.nii.gz", tumour)
            elif lesions == "per_structure":
                write_nifti(lab / f"{px}_T2w_seg-tumor.nii.gz", tumour)
                edema = np.zeros(shape, np.uint8)
                edema[3:5, 3, 1:3] = 1
                write_nifti(lab / f"{px}_T2w_seg-edema.nii.gz", edema)
    (root / "participants.tsv").write_text("\n".join(rows) + "\n")
    return root
