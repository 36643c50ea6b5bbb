"""Seconds of `snakemake -n` on a large synthetic BIDS tree (tiny NIfTI files).

Builds a dataset of ``--subjects`` subjects (default 343, as in Lemay et al.)
with 6x6x2 images and labels, and times the dry run of the whole study with
``--repeats`` repeated hold-out splits. Prints the median wall time.

Usage::

    .venv/bin/python benchmarks/dryrun_scale.py [--subjects 343] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from conftest import make_bids  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subjects", type=int, default=343)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--splits", type=int, default=12, help="repeated hold-out splits")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_bids(root / "bids", {f"{i:03d}": [None] for i in range(1, args.subjects + 1)}, shape=(6, 6, 2))
        config = root / "study.yaml"
        config.write_text(
            f"bids_dir: {root / 'bids'}\nresults_dir: {root / 'results'}\n"
            f"splits: {{scheme: holdout, holdout: {{n_repeats: {args.splits}}}}}\n"
        )
        cmd = [
            str(Path(sys.executable).with_name("snakemake")),
            "-n",
            "--cores",
            "2",
            "--configfile",
            str(config),
        ]
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            subprocess.run(cmd, cwd=REPO, check=True, capture_output=True)
            times.append(time.perf_counter() - start)
    print(
        f"snakemake -n, {args.subjects} subjects, {args.splits} hold-out splits: "
        f"median {statistics.median(times):.1f} s over {args.repeats} runs (min {min(times):.1f}, max {max(times):.1f})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
