"""A throw-away one-node SLURM cluster for the cluster tests (Debian's slurm-wlm and munge).

Everything the cluster writes (configuration, state, logs, pid files, the
munge socket) lives in one folder, `STATE_DIR`. Starting is idempotent:
daemons left over from an earlier run on that folder (found by their pid
files) are stopped first, so a re-run always gets a fresh cluster. Stopping
ends only the daemons this module started, by PID.

Run by hand::

    python tests/cluster/slurm.py start    # prints `export SLURM_CONF=...`
    python tests/cluster/slurm.py stop
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PACKAGES = ("slurm-wlm", "munge")
DAEMONS = ("munged", "slurmctld", "slurmd")
STATE_DIR = Path(tempfile.gettempdir()) / f"spinetumor-slurm-{os.getuid()}"
PARTITION = "debug"
# squeue only sees a finished job for MinJobAge seconds; the plugin must see it
# finish, so this stays well above 3x its first-check delay (see profiles/slurm).
MIN_JOB_AGE_S = 1800


class SlurmUnavailable(RuntimeError):
    """SLURM cannot be installed on this machine (the tests skip)."""


class SlurmStartError(RuntimeError):
    """SLURM is installed but the cluster did not come up (the tests fail)."""


def install(timeout: int = 600) -> None:
    """Install slurm-wlm and munge with apt-get when their daemons are missing.

    Raises:
        SlurmUnavailable: not root, no apt-get, or apt-get failed.
    """
    if all(shutil.which(d, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin") for d in DAEMONS):
        return
    if os.geteuid() != 0:
        raise SlurmUnavailable("slurm-wlm/munge are not installed and installing them needs root")
    if not shutil.which("apt-get"):
        raise SlurmUnavailable("slurm-wlm/munge are not installed and there is no apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", *PACKAGES]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:  # the package lists may be missing or stale
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, timeout=timeout)
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise SlurmUnavailable(f"apt-get install {' '.join(PACKAGES)} failed: {proc.stderr.strip()[-500:]}")


def _sbin(name: str) -> str:
    found = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if not found:
        raise SlurmStartError(f"{name} not found")
    return found


def _memory_mb() -> int:
    with open("/proc/meminfo") as meminfo:
        total_kb = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal:"))
    return int(total_kb / 1024 * 0.9)  # slurmd drains a node that claims more than it has


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _stop_pid(pid: int, timeout: float = 15.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)


@dataclass
class Cluster:
    """A one-node cluster whose files all live in `root`."""

    root: Path = STATE_DIR
    node: str = field(default_factory=lambda: socket.gethostname().split(".")[0])
    cpus: int = 2
    started: dict[str, int] = field(default_factory=dict)

    @property
    def conf(self) -> Path:
        return self.root / "etc" / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        """The environment for SLURM commands (and for Snakemake, whose jobs inherit it).

        Inside a job the plugin's jobstep drops every SLURM_* variable before
        calling `srun`, so an `srun` shim on PATH points it at this cluster's
        configuration (a real cluster's lives in /etc/slurm or comes from slurmctld).
        """
        path = f"{self.root / 'bin'}:{os.environ.get('PATH', '')}"
        return {**os.environ, "SLURM_CONF": str(self.conf), "PATH": path}

    def pid_file(self, daemon: str) -> Path:
        return self.root / "run" / f"{daemon}.pid"

    def write_config(self) -> None:
        """slurm.conf, gres.conf (two fake GPUs: two GPU jobs at once) and the munge key, under `root`."""
        for sub in ("bin", "etc", "run", "log", "state", "spool", "munge"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.root / "munge", 0o700)
        key = self.root / "munge" / "munge.key"
        if not key.exists():
            key.write_bytes(os.urandom(128))
            os.chmod(key, 0o600)
        run, log = self.root / "run", self.root / "log"
        self.conf.write_text(
            "\n".join(
                [
                    "ClusterName=spinetumor-test",
                    f"SlurmctldHost={self.node}",
                    f"SlurmUser={getpass.getuser()}",
                    "AuthType=auth/munge",
                    f"AuthInfo=socket={run / 'munge.socket'}",
                    f"StateSaveLocation={self.root / 'state'}",
                    f"SlurmdSpoolDir={self.root / 'spool'}",
                    f"SlurmctldPidFile={self.pid_file('slurmctld')}",
                    f"SlurmdPidFile={self.pid_file('slurmd')}",
                    f"SlurmctldLogFile={log / 'slurmctld.log'}",
                    f"SlurmdLogFile={log / 'slurmd.log'}",
                    "SlurmctldPort=6817",
                    "SlurmdPort=6818",
                    "ProctrackType=proctrack/linuxproc",
                    "TaskPlugin=task/none",
                    "SelectType=select/cons_tres",
                    "SelectTypeParameters=CR_Core_Memory",
                    "SchedulerType=sched/backfill",
                    "MpiDefault=none",
                    "ReturnToService=2",
                    f"MinJobAge={MIN_JOB_AGE_S}",
                    # Job ids that an earlier cluster on this folder did not use: a job step
                    # of that cluster still finishing (its slurmstepd outlives slurmd) would
                    # otherwise cancel the new job with the same id.
                    f"FirstJobId={int(time.time()) % 50_000_000 + 1000}",
                    "DefMemPerCPU=1000",
                    "GresTypes=gpu",
                    "JobAcctGatherType=jobacct_gather/none",
                    "AccountingStorageType=accounting_storage/none",
                    "SlurmctldTimeout=30",
                    "SlurmdTimeout=30",
                    f"NodeName={self.node} CPUs={self.cpus} RealMemory={_memory_mb()} Gres=gpu:2 State=UNKNOWN",
                    f"PartitionName={PARTITION} Nodes={self.node} Default=YES MaxTime=INFINITE State=UP",
                    "",
                ]
            )
        )
        srun = self.root / "bin" / "srun"
        srun.write_text(f'#!/bin/sh\nSLURM_CONF={self.conf} exec {_sbin("srun")} "$@"\n')
        srun.chmod(0o755)
        (self.root / "etc" / "gres.conf").write_text(
            f"NodeName={self.node} Name=gpu File=/dev/null\nNodeName={self.node} Name=gpu File=/dev/zero\n"
        )

    def stop_stale(self) -> None:
        """Stop daemons left running on this folder by an earlier run (by their pid files)."""
        for daemon in reversed(DAEMONS):
            pid = _read_pid(self.pid_file(daemon))
            if pid and _alive(pid) and daemon in Path(f"/proc/{pid}/comm").read_text(errors="ignore"):
                _stop_pid(pid)
            self.pid_file(daemon).unlink(missing_ok=True)

    def _launch(self, daemon: str, args: list[str]) -> None:
        proc = subprocess.run(
            [_sbin(daemon), *args], env=self.env, capture_output=True, text=True, timeout=60
        )
        if proc.returncode != 0:
            raise SlurmStartError(f"{daemon} did not start: {proc.stderr.strip()[-500:]}")
        pid_file = self.pid_file(daemon)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not _read_pid(pid_file):
            time.sleep(0.1)
        pid = _read_pid(pid_file)
        if not pid:
            raise SlurmStartError(f"{daemon} wrote no pid file {pid_file}")
        self.started[daemon] = pid

    def start(self, timeout: float = 90.0) -> None:
        """Start munged, slurmctld and slurmd and wait until the node is idle.

        Raises:
            SlurmUnavailable: slurm-wlm/munge are missing and cannot be installed.
            SlurmStartError: a daemon does not start or the node never becomes idle.
        """
        install()
        self.stop_stale()
        shutil.rmtree(self.root / "state", ignore_errors=True)  # no jobs from an earlier run
        shutil.rmtree(self.root / "spool", ignore_errors=True)
        self.write_config()
        run = self.root / "run"
        self._launch(
            "munged",
            [
                "--force",
                f"--socket={run / 'munge.socket'}",
                f"--pid-file={self.pid_file('munged')}",
                f"--key-file={self.root / 'munge' / 'munge.key'}",
                f"--seed-file={self.root / 'munge' / 'munged.seed'}",
                f"--log-file={self.root / 'log' / 'munged.log'}",
            ],
        )
        try:
            self._launch("slurmctld", ["-f", str(self.conf)])
            self._launch("slurmd", ["-f", str(self.conf)])
            self.wait_idle(timeout)
        except Exception:
            self.stop()
            raise

    def wait_idle(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            proc = subprocess.run(
                ["sinfo", "-h", "-N", "-n", self.node, "-o", "%t"],
                env=self.env,
                capture_output=True,
                text=True,
            )
            state = proc.stdout.strip() or proc.stderr.strip()
            if state == "idle":
                return
            time.sleep(1)
        raise SlurmStartError(
            f"node {self.node} not idle after {timeout:.0f} s (sinfo: {state!r}); see {self.root / 'log'}"
        )

    def stop(self) -> None:
        """Stop the daemons this object started, by PID (repeat calls do nothing)."""
        for daemon in reversed(DAEMONS):
            pid = self.started.pop(daemon, None)
            if pid:
                _stop_pid(pid)

    def log(self, daemon: str = "slurmctld") -> str:
        path = self.root / "log" / f"{daemon}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def main(argv: list[str]) -> int:
    cluster = Cluster()
    if argv[1:] == ["start"]:
        cluster.start()
        print(f"export SLURM_CONF={cluster.conf}")
    elif argv[1:] == ["stop"]:
        cluster.stop_stale()
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
