"""Stopping a job cleanly on a signal, so that running it again resumes it.

SIGTERM is what SLURM sends at preemption and at the time limit (and `scancel`, `scontrol
requeue`); SIGUSR1 and SIGUSR2 are the usual early warnings before the time limit (`sbatch
--signal=USR1@90`; submitit asks for USR2); SIGINT is Ctrl-C.
While a job runs, each of them only records the request. Training then stops at the next batch
boundary through Lightning's own SIGTERM path (which also stops every DDP rank), the job writes
`"status": "interrupted"` and exits with 128 + the signal number.

The checkpoint a job resumes from is `checkpoints/last.ckpt`, written at the end of every epoch.
A stop in the middle of an epoch redoes that epoch on resume: restarting an epoch part-way would
not give the same numbers as an uninterrupted run, and equal numbers are the point.
"""
from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2, signal.SIGINT)


class JobInterrupted(Exception):
    """A stop signal ended the job; `signum` says which."""

    def __init__(self, signum: int, where: str = ""):
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name}{where}")

    @property
    def exit_code(self) -> int:
        return 128 + int(self.signum)


class StopRequest:
    """The first stop signal received while a job runs (None until one comes)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.trainer = None  # set once the Trainer exists, so that the request reaches its loops

    def __call__(self, signum: int, frame=None) -> None:
        if self.signum is None:
            self.signum = signum
        self.forward()

    def forward(self) -> None:
        """Tell Lightning's loops to stop at the next batch boundary, on every rank."""
        if self.signum is not None and self.trainer is not None:
            self.trainer._signal_connector.received_sigterm = True

    def raise_if_requested(self, where: str = "") -> None:
        if self.signum is not None:
            raise JobInterrupted(self.signum, where)


@contextlib.contextmanager
def stop_signals_recorded() -> Iterator[StopRequest]:
    """Within the block, STOP_SIGNALS only record a stop request; the previous
    handlers come back afterwards. Outside the main thread signals cannot be caught: the request
    then never fires."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    for s in STOP_SIGNALS:
        signal.signal(s, request)
    try:
        yield request
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
