"""The thin scripts' glue: the rule's log file gets the records and the error, the console the warnings."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from spinetumor import smk


@pytest.fixture
def root_handlers():
    """Restore the root logger after a test replaces its handlers."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(False)


def _snakemake(log):
    return SimpleNamespace(log=log, rule="some_rule", wildcards={"prefix": "sub-1"}, threads=3)


def test_setup_logging_sends_records_to_the_file_and_warnings_to_stderr(tmp_path, root_handlers):
    log = tmp_path / "rule.log"
    smk.setup_logging(str(log))
    handlers = logging.getLogger().handlers
    assert [type(h) for h in handlers] == [logging.FileHandler, logging.StreamHandler]
    assert handlers[1].level == logging.WARNING
    logging.getLogger("spinetumor.x").info("hello")
    handlers[0].flush()
    assert "INFO spinetumor.x: hello" in log.read_text()


def test_setup_logging_without_a_file_logs_everything_to_stderr(root_handlers):
    smk.setup_logging(None)
    (console,) = logging.getLogger().handlers
    assert type(console) is logging.StreamHandler and console.level == logging.INFO


def test_run_logs_the_job_and_returns_the_result(tmp_path, root_handlers):
    log = tmp_path / "rule.log"
    assert smk.run(_snakemake([str(log)]), lambda a, b=0: a + b, 1, b=2) == 3
    text = log.read_text()
    assert "rule some_rule, wildcards {'prefix': 'sub-1'}, threads 3" in text


def test_run_logs_the_error_with_its_traceback_and_reraises(tmp_path, root_handlers, capfd):
    log = tmp_path / "rule.log"

    def fail():
        raise ValueError("sub-1: /x.nii.gz is not 3-D")

    with pytest.raises(ValueError, match="not 3-D"):
        smk.run(_snakemake([str(log)]), fail)
    text = log.read_text()
    assert "ERROR spinetumor.rule.some_rule: rule some_rule failed" in text
    assert "Traceback" in text and "ValueError: sub-1: /x.nii.gz is not 3-D" in text
    assert "rule some_rule failed" in capfd.readouterr().err


def test_check_declared_refuses_a_file_the_rule_did_not_declare():
    smk.check_declared(["a", "b"], None)
    smk.check_declared(["a", "b"], ["b", "a", "c"])
    with pytest.raises(ValueError, match=r"1 file\(s\) not among the rule's inputs, e.g. \['b'\]"):
        smk.check_declared(["a", "b"], ["a"])
