"""Scale guard: `snakemake -n` of a 343-subject study with 12 repeated hold-out splits stays under 20 s.

The figure itself is a benchmark (`benchmarks/dryrun_scale.py`, median of
several runs); this test only guards against a DAG build that has become
several times slower (e.g. one pybids query per subject, or torch imported
while the DAG is built).
"""

from __future__ import annotations

import re
import resource
import time

import pytest

from tests.conftest import make_bids, run_snakemake

pytestmark = pytest.mark.workflow

N_SUBJECTS = 343
LIMIT_S = 20.0
ATTEMPTS = 5


def test_dry_run_of_343_subjects_with_12_holdout_splits_is_fast(tmp_path):
    make_bids(tmp_path / "bids", {f"{i:03d}": [None] for i in range(1, N_SUBJECTS + 1)}, shape=(6, 6, 2))
    config = {
        "bids_dir": str(tmp_path / "bids"),
        "results_dir": str(tmp_path / "results"),
        "splits": {"scheme": "holdout", "holdout": {"n_repeats": 12}},
    }
    # A shared 2-core machine can stall a run by seconds (the same tree and commit
    # took 14-46 s of wall time within an hour here, with a third of the CPU time
    # stolen by other tenants of the host). What the issue asks is 20 s on a 2-core
    # machine, i.e. with its cores to itself: an attempt counts by its wall time or,
    # when other tenants stretched that, by the CPU time Snakemake used (user +
    # system; the dry run is one busy process). Up to ATTEMPTS runs, and the best
    # must meet the limit: a workflow that has really become slower fails them all.
    attempts: list[tuple[float, float]] = []
    for _ in range(ATTEMPTS):
        before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
        proc = run_snakemake("-n", config=config, timeout=300)
        wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        attempts.append((wall, cpu))
        counts = dict(re.findall(r"^(\w+)\s+(\d+)$", proc.stdout, flags=re.M))
        assert int(counts["validate_subject"]) == N_SUBJECTS and int(counts["register_t1w"]) == N_SUBJECTS
        if min(wall, cpu) <= LIMIT_S:
            break
    runs = ", ".join(f"{wall:.1f} s wall / {cpu:.1f} s CPU" for wall, cpu in attempts)
    assert min(min(a) for a in attempts) <= LIMIT_S, (
        f"snakemake -n of {N_SUBJECTS} subjects took {runs} (limit {LIMIT_S} s)"
    )
