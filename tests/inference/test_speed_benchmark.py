"""The inference benchmark's contract: its last line is one JSON object of each mode's median seconds.

Run on a tiny native volume, one repeat, so the check is fast; the figures
themselves are the benchmark's (benchmarks/RESULTS.md), not a test's.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO


def test_the_last_line_is_the_json_of_each_modes_median_seconds() -> None:
    script = REPO / "benchmarks" / "inference_speed.py"
    command = [
        sys.executable,
        str(script),
        "--repeats",
        "1",
        "--modes",
        "fitted",
        "--shape",
        "96",
        "128",
        "12",
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=600).stdout
    lines = out.strip().splitlines()
    figures = json.loads(lines[-1])
    assert list(figures) == ["fast_cascade_s"]
    assert all(isinstance(v, float) and v > 0 for v in figures.values())
    # The fitted mode ran one stage-2 window.
    windows = next(line for line in lines if line.startswith("windows"))
    assert windows.split()[1] == "1"
