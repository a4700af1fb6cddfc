"""The `slurm_cluster` fixture: a one-node SLURM cluster on this machine (scripts/local-slurm.sh).

Where the cluster cannot start (no slurm-wlm/munge, not root, a daemon that fails), every test
that uses it is skipped with the script's own reason, which is also printed to stderr so that the
skip is never silent.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "local-slurm.sh"
START_TIMEOUT_S = 90  # the script itself waits at most 30 s for the node


def _script(command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), command], capture_output=True, text=True,
                          timeout=START_TIMEOUT_S, stdin=subprocess.DEVNULL)


def _skip(reason: str):
    # sys.__stderr__: pytest captures sys.stderr during fixture setup and shows it only on failure.
    print(f"\ntests/cluster skipped: {reason}", file=sys.__stderr__, flush=True)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def slurm_cluster():
    """Path of the cluster's slurm.conf; SLURM_CONF points at it for the whole session."""
    already_running = _script("status").returncode == 0
    started = _script("start")
    if started.returncode != 0:
        lines = [line for line in started.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("local-slurm: error:")]
        _skip("local SLURM cluster did not start: " + (" | ".join(errors or lines[-5:]) or f"exit {started.returncode}"))
    exports = [line.split("=", 1)[1] for line in started.stdout.splitlines()
               if line.startswith("export SLURM_CONF=")]
    if not exports:
        _skip(f"scripts/local-slurm.sh start printed no SLURM_CONF: {started.stdout!r}")
    conf = exports[-1]
    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = conf
    try:
        yield conf
    finally:
        if previous is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = previous
        if not already_running:  # a cluster someone else started is theirs to stop
            _script("stop")
