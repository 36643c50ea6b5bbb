"""Runtime and memory per rule, from the `benchmark:` files of a finished run.

Every rule writes ``{results_dir}/benchmarks/<stage>/.../<job>.tsv`` (Snakemake's
benchmark format: seconds, max RSS in MB, ...). This script maps each file back
to its rule through the folder layout, and prints one Markdown row per rule:
jobs, median and maximum wall seconds, maximum RSS, and total CPU seconds.

Usage::

    .venv/bin/python benchmarks/rule_resources.py results
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

#: Benchmark sub-folder (and, where one folder serves several rules, a name pattern) -> rule.
_RULES = [
    ("demo", "demo_dataset", lambda p: p.name == "dataset.tsv"),
    ("demo", "demo_subject", lambda p: True),
    ("validation", "summarize_validation", lambda p: p.name == "summary.tsv"),
    ("validation", "validate_subject", lambda p: True),
    ("labels", "standardize_labels", lambda p: True),
    ("registration", "register_t1w", lambda p: True),
    ("cordmask", "cord_mask", lambda p: True),
    ("preprocessed", "preprocess_subject", lambda p: True),
    ("splits", "make_splits", lambda p: True),
    ("models", "train_model", lambda p: True),
    ("predictions", "predict", lambda p: True),
    ("evaluation", "evaluation (tables, figures)", lambda p: True),
]


def rule_of(path: Path, root: Path) -> str:
    """The rule that wrote a benchmark file, from its folder under ``root``."""
    stage = path.relative_to(root).parts[0]
    for folder, rule, matches in _RULES:
        if folder == stage and matches(path):
            return rule
    return stage


def collect(results: Path) -> pd.DataFrame:
    """One row per benchmark file: rule, seconds, max_rss (MB), cpu_time (s)."""
    root = results / "benchmarks"
    rows = []
    for path in sorted(root.rglob("*.tsv")):
        table = pd.read_csv(path, sep="\t", na_values=["-", "NA"])
        for record in table.to_dict("records"):
            rows.append(
                {
                    "rule": rule_of(path, root),
                    "seconds": record.get("s"),
                    "max_rss_mb": record.get("max_rss"),
                    "cpu_time_s": record.get("cpu_time"),
                }
            )
    if not rows:
        raise SystemExit(f"{root}: no benchmark files")
    return pd.DataFrame(rows)


def summarise(jobs: pd.DataFrame) -> pd.DataFrame:
    """Per rule: jobs, median and max seconds, max RSS, total CPU seconds (slowest rules first)."""
    table = jobs.groupby("rule").agg(
        jobs=("seconds", "size"),
        median_s=("seconds", "median"),
        max_s=("seconds", "max"),
        max_rss_mb=("max_rss_mb", "max"),
        cpu_s=("cpu_time_s", "sum"),
    )
    return table.sort_values("cpu_s", ascending=False).round(1).reset_index()


def to_markdown(table: pd.DataFrame) -> str:
    header = "| " + " | ".join(table.columns) + " |\n|" + "---|" * len(table.columns) + "\n"
    return header + "".join(
        "| " + " | ".join(str(v) for v in row) + " |\n" for row in table.itertuples(index=False)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="the run's results_dir")
    args = parser.parse_args(argv)
    print(to_markdown(summarise(collect(args.results))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
