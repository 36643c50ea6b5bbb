"""A researcher's own dataset, through real Snakemake: read-only, and the papers' methods by default."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import REPO, run_snakemake

pytestmark = pytest.mark.workflow

REAL = REPO / "tests" / "config" / "real_spine.yaml"
# Years before any clone of the code: Snakemake would see every raw file as older than the code.
LONG_AGO = 1_262_304_000  # 2010-01-01
RENAMES = {"sub-errsm30": "sub-001", "sub-unf01": "sub-002"}


def _own_dataset(real_spine: Path, dest: Path) -> Path:
    """The real subjects as `sub-001`-style labels (the demo's id form), with the group's own
    participants.tsv and dataset description, every file dated years back."""
    for src in sorted(real_spine.rglob("*")):
        if (
            src.is_file()
            and any(old in str(src) for old in RENAMES)
            or src.name == "dataset_description.json"
        ):
            rel = str(src.relative_to(real_spine))
            for old, new in RENAMES.items():
                rel = rel.replace(old, new)
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest / rel)
    (dest / "participants.tsv").write_text(
        "participant_id\tpathology\tsite\nsub-001\thealthy\tA\nsub-002\thealthy\tB\n"
    )
    for path in dest.rglob("*"):
        os.utime(path, (LONG_AGO, LONG_AGO))
    return dest


def _fingerprint(root: Path) -> dict[str, tuple[str, int]]:
    """Every file under `root`: its SHA-256 and mtime (ns)."""
    return {
        str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _planned_paths(dry_run_output: str) -> list[str]:
    """Every output, log and benchmark path of the jobs in a dry run's listing."""
    paths = []
    for line in dry_run_output.splitlines():
        m = re.match(r"^\s+(output|log|benchmark): (.*)$", line)
        if m:
            paths += [p.strip() for p in m.group(2).split(",")]
    return paths


def test_a_users_dataset_is_never_written_and_gets_the_published_methods(real_spine, tmp_path):
    bids = _own_dataset(real_spine, tmp_path / "bids")
    results = tmp_path / "results"
    before = _fingerprint(bids)
    data_only = {"bids_dir": str(bids), "results_dir": str(results)}

    # The whole study, planned with a config that names only its data (and its labels).
    proc = run_snakemake("-n", configfiles=[REAL], config=data_only)
    out = proc.stdout + proc.stderr
    planned = _planned_paths(proc.stdout)
    assert len(planned) > 20, out[-3000:]
    assert [p for p in planned if Path(p).resolve().is_relative_to(bids.resolve())] == []
    assert all(Path(p).resolve().is_relative_to(results.resolve()) for p in planned)
    assert "demo_subject" not in out and "demo_dataset" not in out
    # The papers' methods and chains, never the demo's shrunken ones.
    assert (
        "models.run not set: training the published methods lemay2021, lemay2021single, stanford2023, "
        "zhuo2022" in out
    )
    assert (
        f"{results}/preprocessed/lemay2021/sub-001/" in out
        and f"{results}/preprocessed/stanford2023/sub-002/" in out
        and f"{results}/preprocessed/zhuo2022/sub-002/" in out
    )
    assert "lemaydemo" not in out and "stanforddemo" not in out

    # A real run of the data stages leaves every raw file as it was, and adds none.
    run_snakemake("preprocess", configfiles=[REAL], config={**data_only, "models": {"run": ["lemay2021"]}})
    assert (results / "preprocessed" / "lemay2021" / "sub-001" / "anat").is_dir()
    assert _fingerprint(bids) == before
    # Registration is reported for every unit by the data stages themselves.
    registration = pd.read_csv(results / "tables" / "registration.tsv", sep="\t")
    assert sorted(registration["unit"]) == ["sub-001", "sub-002"] and registration["registration_ok"].all()

    # Each output folder of the data stages is a BIDS derivative that pybids indexes with the raw data.
    for folder in ("registration", "cordmask", "labels", "preprocessed/lemay2021"):
        description = json.loads((results / folder / "dataset_description.json").read_text())
        assert description["DatasetType"] == "derivative", folder
        assert description["GeneratedBy"][0]["Name"] == "spinetumor", folder
    for folder in ("labels", "preprocessed/lemay2021"):
        assert (results / folder / "dseg.tsv").read_text().splitlines()[1:] == [
            "0\tbackground",
            "1\ttumor",
            "2\tedema",
            "3\tcavity",
        ]
    from bids import BIDSLayout

    layout = BIDSLayout(str(bids), derivatives=[str(results / "preprocessed" / "lemay2021")], validate=False)
    t2w = layout.get(scope="spinetumor", subject="001", desc="preproc", suffix="T2w", extension=".nii.gz")
    assert [f.filename for f in t2w] == ["sub-001_desc-preproc_T2w.nii.gz"]


def test_results_inside_the_raw_dataset_stop_the_study_at_start(tmp_path):
    bids = tmp_path / "bids"
    (bids / "sub-01" / "anat").mkdir(parents=True)
    proc = run_snakemake(
        "-n", config={"bids_dir": str(bids), "results_dir": str(bids / "derivatives" / "st")}, check=False
    )
    assert proc.returncode != 0
    assert f"results_dir {bids}/derivatives/st is inside bids_dir {bids}: the raw dataset is read-only" in (
        proc.stdout + proc.stderr
    )
    assert sorted(p.name for p in bids.rglob("*")) == ["anat", "sub-01"]
