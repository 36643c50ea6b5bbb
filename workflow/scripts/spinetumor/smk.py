"""Glue for the thin Snakemake scripts: logging to the rule's log file.

Scripts call :func:`run` with the ``snakemake`` object and one function; the
function's log records and any error (with its message naming the subject,
the file and the problem) go to the rule's ``log:`` file and to stderr, so
the message is seen in the Snakemake console too. A job that names its input
files itself (from ids) holds them against the rule's declared inputs with
:func:`check_declared`, so that it never reads a file Snakemake did not make.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Collection, Sequence
from typing import Any

__all__ = ["setup_logging", "run", "check_declared"]


def setup_logging(log_path: str | None, level: int = logging.INFO) -> None:
    """Send log records to ``log_path`` (and warnings and errors to stderr).

    Args:
        log_path: The rule's log file, or ``None`` for stderr only.
        level: Log level of the file handler.
    """
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    root.setLevel(level)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    if log_path:
        file_handler = logging.FileHandler(log_path, mode="w")
        file_handler.setFormatter(fmt)
        root.addHandler(file_handler)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.WARNING if log_path else level)
    console.setFormatter(fmt)
    root.addHandler(console)
    logging.captureWarnings(True)


def run(snakemake: Any, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Set up logging from ``snakemake.log`` and call ``func(*args, **kwargs)``.

    Errors are logged with their traceback and re-raised, so the job fails.
    """
    setup_logging(snakemake.log[0] if len(snakemake.log) else None)
    log = logging.getLogger(f"spinetumor.rule.{snakemake.rule}")
    log.info(
        "rule %s, wildcards %s, threads %s", snakemake.rule, dict(snakemake.wildcards), snakemake.threads
    )
    try:
        return func(*args, **kwargs)
    except Exception:
        log.exception("rule %s failed", snakemake.rule)
        raise


def check_declared(files: Sequence[str], declared: Collection[str] | None) -> None:
    """Refuse to read a file that the rule did not declare as an input (so Snakemake did not make it).

    Args:
        files: The files the job is about to read.
        declared: The rule's input files, or None to skip the check.

    Raises:
        ValueError: naming the first undeclared files.
    """
    if declared is None:
        return
    known = {str(d) for d in declared}
    missing = [f for f in files if f not in known]
    if missing:
        raise ValueError(f"{len(missing)} file(s) not among the rule's inputs, e.g. {missing[:3]}")
