"""Claim files: a job directory is worked on by one live process at a time.

Before a sweep job runs, its process writes `<job dir>/claim.json` (host, pid, SLURM job id, start
time) and touches it every `HEARTBEAT_S` seconds while the job runs. Another `lossbench sweep` on the
same directory (inline, local or SLURM) finds the claim and leaves the job alone. A claim is stale
when its process is gone (same host, pid not alive) or its heartbeat stopped `STALE_AFTER_S` ago (a
killed node); a stale claim is taken over, and the takeover is logged in `<job dir>/claims.log` and
on stderr. Reading and replacing a claim happens under an exclusive lock (`flock`) on
`<job dir>/.claim.lock`, so two processes never both take a job.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lossbench.results import atomic_write_text

CLAIM_FILE, CLAIM_LOG, CLAIM_LOCK = "claim.json", "claims.log", ".claim.lock"
HEARTBEAT_S = 15.0
STALE_AFTER_S = 120.0


def slurm_job_id() -> str | None:
    """This process's SLURM job id ("123", or "123_4" for an array task), or None outside SLURM."""
    array = os.environ.get("SLURM_ARRAY_JOB_ID")
    if array and os.environ.get("SLURM_ARRAY_TASK_ID"):
        return f"{array}_{os.environ['SLURM_ARRAY_TASK_ID']}"
    return os.environ.get("SLURM_JOB_ID")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class ClaimState:
    """What a job directory's claim says, and whether its holder is alive."""
    holder: dict | None
    live: bool
    age_s: float | None = None

    def holder_text(self) -> str:
        if not self.holder:
            return "unclaimed"
        h = self.holder
        where = f"{h.get('host')}:{h.get('pid')}" + (f", SLURM job {h['slurm_job_id']}" if h.get("slurm_job_id") else "")
        return where


def read_claim(job_dir: Path, now: float | None = None) -> ClaimState:
    path = Path(job_dir) / CLAIM_FILE
    try:
        holder = json.loads(path.read_text())
        age = (now or time.time()) - path.stat().st_mtime
    except (OSError, ValueError):
        return ClaimState(None, False)
    if not isinstance(holder, dict):
        return ClaimState(None, False)
    same_host = holder.get("host") == socket.gethostname()
    alive = _pid_alive(int(holder.get("pid", -1))) if same_host else True
    return ClaimState(holder, alive and age < STALE_AFTER_S, age)


@contextlib.contextmanager
def _locked(job_dir: Path) -> Iterator[None]:
    job_dir.mkdir(parents=True, exist_ok=True)
    with open(job_dir / CLAIM_LOCK, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class Claim:
    """A held claim; `release()` (or leaving the `with` block) gives it up."""

    def __init__(self, job_dir: Path, holder: dict):
        self.job_dir, self.holder = job_dir, holder
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="lossbench-claim-heartbeat", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        path = self.job_dir / CLAIM_FILE
        while not self._stop.wait(HEARTBEAT_S):
            with contextlib.suppress(OSError):
                os.utime(path)

    def release(self) -> None:
        self._stop.set()
        with _locked(self.job_dir):
            state = read_claim(self.job_dir)
            if state.holder and state.holder.get("token") == self.holder["token"]:
                (self.job_dir / CLAIM_FILE).unlink(missing_ok=True)

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def try_claim(job_dir: str | Path) -> tuple[Claim | None, ClaimState]:
    """(Claim, state) if this process now holds the job; (None, the holder's state) if a live
    process holds it."""
    job_dir = Path(job_dir)
    holder = {"host": socket.gethostname(), "pid": os.getpid(), "slurm_job_id": slurm_job_id(),
              "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "token": uuid.uuid4().hex}
    with _locked(job_dir):
        state = read_claim(job_dir)
        if state.holder and state.live:
            return None, state
        if state.holder:  # stale: take it over, and say so
            line = (f"{holder['started']} {holder['host']}:{holder['pid']} took over the stale claim of "
                    f"{state.holder_text()} (heartbeat {state.age_s:.0f} s old)")
            with open(job_dir / CLAIM_LOG, "a") as log:
                log.write(line + "\n")
            print(f"lossbench: {job_dir.name}: {line}", file=sys.stderr, flush=True)
        atomic_write_text(job_dir / CLAIM_FILE, json.dumps(holder, indent=2) + "\n")
    return Claim(job_dir, holder), state
