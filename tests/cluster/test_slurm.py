"""The tiny study through `--profile profiles/slurm` on a real one-node SLURM cluster.

The cluster (Debian's slurm-wlm and munge, installed with apt-get when
missing; its node declares one GPU through gres) is started for this module
and stopped after it; see `slurm.py`. The whole tiny study runs through the
profile: every job that is not a local rule must go through sbatch, the
training and prediction jobs must have asked SLURM for a GPU (and no other
job), and the results must equal those of a local run of the same study
(the session's `tiny_run`, computed meanwhile).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import yaml

from tests.cluster.slurm import PARTITION, Cluster, SlurmUnavailable
from tests.conftest import REPO

pytestmark = pytest.mark.workflow

SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
TINY = REPO / "tests" / "config" / "tiny.yaml"
PROFILE = REPO / "profiles" / "slurm"
# The Snakefile's localrules among the targets: `all`, and the derivative folders' metadata files
# (a JSON or TSV each, not worth a SLURM job).
LOCAL_RULES = {"all", "derivative_description", "dseg_lookup"}
GPU_RULES = {"train_model", "predict", "predict_cascade", "train_classifier"}
SUBMITTED = re.compile(r"has been submitted with SLURM jobid (\d+) \(log: (\S+)\)")


def start_snakemake(args: list[str], results: Path, env: dict | None = None) -> tuple[subprocess.Popen, Path]:
    """Start the whole tiny study from the repository root; return the process and its log file.

    The log goes to a file, not a pipe: nobody reads a pipe while the local run
    goes on, and once its 64 KiB buffer is full Snakemake would stop, waiting
    to write, until `finish` drains it.
    """
    overrides = results.parent / "overrides.yaml"
    overrides.parent.mkdir(parents=True, exist_ok=True)
    overrides.write_text(yaml.safe_dump({"results_dir": str(results)}))
    cmd = [SNAKEMAKE, *args, "--nocolor", "--configfile", str(TINY), str(overrides), "--", "all"]
    log = results.parent / "snakemake.log"
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
    return proc, log


def finish(proc: subprocess.Popen, log_path: Path, timeout: int = 1200) -> str:
    """Wait for a run started by `start_snakemake`; return its log, failing on error."""
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    log = log_path.read_text()
    assert proc.returncode == 0, f"snakemake failed ({proc.returncode}):\n{log[-8000:]}"
    return log


def profile_default_resources(**changes: str) -> list[str]:
    """The profile's default-resources as `name=value` arguments, with `changes` applied."""
    resources = yaml.safe_load((PROFILE / "config.yaml").read_text())["default-resources"]
    resources.update(changes)
    return [
        f"{name}={value!r}" if isinstance(value, str) else f"{name}={value}"
        for name, value in resources.items()
    ]


@pytest.fixture(scope="module")
def cluster():
    slurm = Cluster()
    try:
        slurm.start()
    except SlurmUnavailable as exc:
        pytest.skip(f"no SLURM: {exc}")
    yield slurm
    slurm.stop()


@pytest.fixture(scope="module")
def runs(cluster, tmp_path_factory, request):
    """(cluster results, cluster log, local results, cluster) of the tiny study."""
    root = tmp_path_factory.mktemp("slurm")
    slurm_results = root / "cluster" / "results"
    args = [
        "--profile", str(PROFILE),
        # what a user sets in the profile's edit block, for this cluster
        "--default-resources", *profile_default_resources(slurm_partition=PARTITION),
        "--cores", "2",  # a group job may not ask for more CPUs than the node has
        "--slurm-init-seconds-before-status-checks", "5",
        "--slurm-logdir", str(root / "slurm_logs"),
        "--slurm-keep-successful-logs",
        "--restart-times", "0",
    ]  # fmt: skip
    on_cluster, cluster_log = start_snakemake(args, slurm_results, env=cluster.env)
    # the local run (shared with the workflow tests) fills the cluster run's waits between status checks
    local_results = request.getfixturevalue("tiny_run")
    log = finish(on_cluster, cluster_log)
    return slurm_results, log, local_results, cluster


def rule_of(log_path: str) -> str:
    """`rule_NAME` or `group_...` folder of a SLURM log path."""
    return next(part for part in Path(log_path).parts if part.startswith(("rule_", "group_")))


def test_every_non_local_job_went_through_sbatch(runs):
    _, log, _, cluster = runs
    submitted = SUBMITTED.findall(log)
    assert submitted, log[-4000:]
    local = set(re.findall(r"^localrule (\w+):", log, flags=re.M))
    assert local <= LOCAL_RULES, f"jobs run on the submit host: {local - LOCAL_RULES}"
    # one SLURM job per rule or group: the per-subject steps of the 4 subjects
    # are one group job, the rest one job each
    kinds = [rule_of(path) for _, path in submitted]
    assert kinds.count("rule_demo_subject") == 4
    assert {
        "rule_demo_dataset",
        "rule_summarize_validation",
        "rule_make_splits",
        "rule_per_case_metrics",
    } <= set(kinds)
    assert kinds.count("rule_train_model") == 2 * 3  # 2 splits x (cascade cord + lesion, multiresunet)
    assert kinds.count("rule_train_classifier") == 2  # the DenseNet of each split
    assert kinds.count("rule_predict_cascade") == kinds.count("rule_predict") == 4  # every test unit
    groups = [k for k in kinds if k.startswith("group_")]
    assert len(groups) == 1, kinds
    for rule in ("validate_subject", "standardize_labels", "register_t1w", "cord_mask", "preprocess_subject"):
        assert rule in groups[0]
    # slurmctld knows every job id, and every one completed
    queue = subprocess.run(
        ["squeue", "-h", "-t", "all", "-o", "%i %T"],
        env=cluster.env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    states = dict(line.split() for line in queue.splitlines())
    for jobid, _ in submitted:
        assert states.get(jobid) == "COMPLETED", f"SLURM job {jobid}: {states.get(jobid)}\n{queue}"
    # inside the jobs, Snakemake ran from this virtual environment
    for _, path in submitted:
        assert f"Command: {sys.prefix}/" in Path(path).read_text(), path


def test_training_and_prediction_jobs_asked_slurm_for_a_gpu(runs):
    _, log, _, cluster = runs
    for jobid, path in SUBMITTED.findall(log):
        shown = subprocess.run(
            ["scontrol", "show", "job", jobid], env=cluster.env, capture_output=True, text=True, check=True
        ).stdout
        tres = " ".join(re.findall(r"(?:TresPerJob|TresPerNode|TRES)=(\S+)", shown))
        if rule_of(path).removeprefix("rule_") in GPU_RULES:
            assert "gpu" in tres, f"job {jobid} ({rule_of(path)}) asked for no GPU: {tres}"
        else:
            assert "gpu" not in tres, f"job {jobid} ({rule_of(path)}) asked for a GPU: {tres}"


def test_cluster_and_local_results_are_identical(runs):
    slurm_results, _, local_results, _ = runs
    splits = "splits/splits.tsv"
    assert (slurm_results / splits).read_bytes() == (local_results / splits).read_bytes()
    volumes = sorted(p.relative_to(local_results) for p in (local_results / "preprocessed").rglob("*.nii.gz"))
    # subjects x chains (lemay2021, lemaydemo, the cascade's demofine and its cord chain democoarse)
    # x (T2w, T1w, dseg, cord)
    assert len(volumes) == 4 * 4 * 4
    assert (
        sorted(p.relative_to(slurm_results) for p in (slurm_results / "preprocessed").rglob("*.nii.gz"))
        == volumes
    )
    for rel in volumes:
        ours, theirs = nib.load(slurm_results / rel), nib.load(local_results / rel)
        np.testing.assert_array_equal(np.asarray(ours.dataobj), np.asarray(theirs.dataobj), err_msg=str(rel))
        np.testing.assert_array_equal(ours.affine, theirs.affine, err_msg=str(rel))
    for geometry in (local_results / "preprocessed").rglob("*.json"):
        rel = geometry.relative_to(local_results)
        ours = (slurm_results / rel).read_text().replace(str(slurm_results), "RESULTS")
        assert ours == geometry.read_text().replace(str(local_results), "RESULTS"), rel
    # Training is seeded and deterministic on CPU; the metrics agree within float tolerance.
    ours = pd.read_csv(slurm_results / "tables" / "per_case_metrics.tsv", sep="\t", na_values=["n/a"])
    theirs = pd.read_csv(local_results / "tables" / "per_case_metrics.tsv", sep="\t", na_values=["n/a"])
    keys = ["model", "split", "subject", "label", "metric"]
    merged = theirs.merge(ours, on=keys, suffixes=("_local", "_slurm"), validate="one_to_one")
    assert len(merged) == len(theirs) == len(ours) > 0
    np.testing.assert_allclose(merged.value_slurm, merged.value_local, rtol=1e-3, atol=0.02, equal_nan=True)
