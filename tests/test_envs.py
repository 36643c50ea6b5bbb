"""The conda environments of envs/ agree with requirements.lock, and every rule names one."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.conftest import REPO

ENVS = sorted((REPO / "envs").glob("*.yaml"))
RULE_FILES = sorted((REPO / "workflow" / "rules").glob("*.smk"))


def canonical(name: str) -> str:
    """A package name as pip compares them (case, `-`, `_` and `.` do not matter)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def locked() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[canonical(name)] = version
    return pins


def pip_pins(env: dict) -> list[str]:
    return [pin for dep in env["dependencies"] if isinstance(dep, dict) for pin in dep.get("pip", [])]


def rules_and_envs() -> list[tuple[str, str | None]]:
    """(rule name, the env file its `conda:` names, or None) for every rule of the workflow."""
    found = []
    for path in RULE_FILES:
        blocks = re.split(r"^(?:rule|checkpoint) (\w+):\n", path.read_text(), flags=re.M)
        for name, body in zip(blocks[1::2], blocks[2::2]):
            conda = re.search(r"^    conda:\n\s+f?\"\{ENVS\}/([\w.-]+)\"", body, flags=re.M)
            found.append((f"{path.name}:{name}", conda.group(1) if conda else None))
    return found


def test_there_are_envs_and_rules():
    assert ENVS
    files_with_rules = {rule.split(":")[0] for rule, _ in rules_and_envs()}
    assert files_with_rules == {p.name for p in RULE_FILES if not p.name.startswith("common")}


@pytest.mark.parametrize("env_file", ENVS, ids=lambda p: p.name)
def test_env_pins_equal_the_lock(env_file):
    env = yaml.safe_load(env_file.read_text())
    lock = locked()
    pins = pip_pins(env)
    assert pins, f"{env_file.name}: no pip dependencies"
    for pin in pins:
        name, sep, version = pin.partition("==")
        assert sep, f"{env_file.name}: {pin!r} is not pinned with =="
        assert canonical(name) in lock, f"{env_file.name}: {name} is not in requirements.lock"
        # a local build tag (torch's `+cpu`) is the same release
        assert lock[canonical(name)].split("+")[0] == version, (
            f"{env_file.name}: {pin} but requirements.lock has {lock[canonical(name)]}"
        )


@pytest.mark.parametrize("env_file", ENVS, ids=lambda p: p.name)
def test_env_is_python_311(env_file):
    deps = yaml.safe_load(env_file.read_text())["dependencies"]
    assert "python=3.11" in deps, f"{env_file.name}: python=3.11 is not listed"


@pytest.mark.parametrize("rule, env", rules_and_envs(), ids=lambda x: str(x))
def test_every_rule_names_an_existing_env(rule, env):
    assert env is not None, f"{rule}: no conda: env under envs/"
    assert (REPO / "envs" / env).is_file(), f"{rule}: envs/{env} does not exist"
