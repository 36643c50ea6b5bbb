"""A training job killed with SIGTERM (what SLURM sends) is retried by Snakemake and resumes from its checkpoint."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

import pandas as pd
import pytest
import yaml

from tests.conftest import REPO, SNAKEMAKE, TINY

pytestmark = pytest.mark.workflow


def _training_pids() -> list[int]:
    """PIDs of the Python processes running the train_model script (this test runs one job)."""
    out = subprocess.run(["ps", "-ww", "-eo", "pid,args"], capture_output=True, text=True, check=True).stdout
    return [
        int(line.split()[0]) for line in out.splitlines() if "train_model.py" in line and "python" in line
    ]


def test_killed_training_is_retried_and_resumes(tiny_run, tmp_path):
    results = tmp_path / "results"
    shutil.copytree(tiny_run, results, symlinks=True)  # copy2 keeps mtimes: only training reruns
    run_dir = results / "models" / "cascade" / "split-0" / "cord"
    overrides = tmp_path / "overrides.yaml"
    overrides.write_text(
        yaml.safe_dump(
            {
                "results_dir": str(results),
                "models": {
                    "retries": 1,
                    "definitions": {
                        "cascade": {
                            "stages": {"cord": {"training": {"max_epochs": 4, "patches_per_volume": 8}}}
                        }
                    },
                },
            }
        )
    )
    shutil.rmtree(run_dir)  # this run only: everything upstream is there and up to date
    cmd = [
        SNAKEMAKE,
        "--cores",
        "1",
        "--nocolor",
        "--configfile",
        str(TINY),
        str(overrides),
        "--",
        str(run_dir / "model.pt"),
    ]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # Wait for the first epoch, then stop the training during the second (an epoch is 8 steps
        # of about a second).
        deadline = time.monotonic() + 300
        log = run_dir / "training_log.tsv"
        while time.monotonic() < deadline:
            if log.exists() and len(pd.read_csv(log, sep="\t")) >= 1:
                break
            assert proc.poll() is None, proc.communicate()[0][-4000:]
            time.sleep(0.5)
        else:
            raise AssertionError("the training never finished its first epoch")
        pids = _training_pids()
        assert pids, "no training process found"
        for pid in pids:
            os.kill(pid, signal.SIGTERM)
        output, _ = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            for pid in _training_pids():  # no orphan left behind by a failed test
                os.kill(pid, signal.SIGKILL)
    assert proc.returncode == 0, output[-6000:]
    job_log = (results / "logs" / "models" / "cascade" / "split-0" / "cord.log").read_text()
    assert "resuming" in job_log, job_log[-3000:]
    epochs = pd.read_csv(run_dir / "training_log.tsv", sep="\t")["epoch"].tolist()
    assert epochs == list(range(1, 5))  # every epoch once: the retry went on where the kill stopped it
    assert (run_dir / "model.pt").exists() and (run_dir / "training_summary.json").exists()
