"""Command line of the demo dataset: ``python -m spinetumor.demo OUT_DIR --n-subjects N --seed S``."""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Sequence
from pathlib import Path

from spinetumor import demo
from spinetumor.demo.jobs import generate_dataset

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m spinetumor.demo OUT_DIR --n-subjects N --seed S``."""
    parser = argparse.ArgumentParser(
        prog="python -m spinetumor.demo", description=demo.__doc__.split("\n\n")[0]
    )
    parser.add_argument("out_dir", type=Path, help="dataset root to write")
    parser.add_argument("--n-subjects", type=int, default=6, help="number of subjects (default 6)")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    args = parser.parse_args(argv)
    if not 1 <= args.n_subjects <= 999:
        parser.error("--n-subjects must be in 1..999")
    if args.seed < 0:
        parser.error("--seed must be >= 0")
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    started = time.perf_counter()
    generate_dataset(args.out_dir, args.n_subjects, args.seed)
    print(f"wrote {args.n_subjects} subject(s) to {args.out_dir} in {time.perf_counter() - started:.1f} s")
    return 0
