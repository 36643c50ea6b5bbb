"""Glue for the thin Snakemake scripts: logging to the rule's log file.

Scripts call :func:`run` with the ``snakemake`` object and one function; the
function's log records and any error (with its message naming the subject,
the file and the problem) go to the rule's ``log:`` file and to stderr, so
the message is seen in the Snakemake console too.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["setup_logging", "run"]


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
