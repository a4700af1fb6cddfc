"""What lossbench plugs into Hydra: the resolvers of the run-directory names, and a callback that
tells the `lossbench train -m` command where its multirun directory is.

A command's run directories are named from a time stamp and a short unique id, both fixed for the
whole command by `command_identity()`. They reach child processes through the environment, so that
Lightning's DDP children and the tasks of one `srun` step name the same directory: under `srun`,
the id is the SLURM job and step id and the stamp the job's start time.
"""
from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator

STAMP_ENV, UID_ENV, MULTIRUN_DIR_ENV = "LOSSBENCH_STAMP", "LOSSBENCH_UID", "LOSSBENCH_MULTIRUN_DIR"


def _srun_identity() -> tuple[str, str] | None:
    from lossbench.distributed import srun_tasks

    if srun_tasks() <= 1 or "SLURM_JOB_ID" not in os.environ:
        return None
    step = os.environ.get("SLURM_STEP_ID", os.environ.get("SLURM_STEPID", "0"))
    start = os.environ.get("SLURM_JOB_START_TIME") or os.environ.get("SLURM_JOB_ID")
    stamp = start if start and start.isdigit() and len(start) >= 9 else str(int(time.time()) // 60 * 60)
    return stamp, f"slurm{os.environ['SLURM_JOB_ID']}.{step}"


@contextlib.contextmanager
def command_identity() -> Iterator[None]:
    """Fix the stamp and id of the run directories for one command (inherited ones are kept: a
    DDP child or an `srun` task names its parent's directory); the environment is restored after."""
    from lossbench.environ import environ_restored

    updates = {}
    if not os.environ.get(STAMP_ENV) or not os.environ.get(UID_ENV):
        stamp, uid = _srun_identity() or (str(int(time.time())), uuid.uuid4().hex[:6])
        updates = {STAMP_ENV: stamp, UID_ENV: uid}
    register_resolvers()
    with environ_restored((STAMP_ENV, UID_ENV), **updates):
        yield


def register_resolvers() -> None:
    from omegaconf import OmegaConf

    def stamp(fmt: str = "%Y-%m-%d_%H-%M-%S") -> str:
        return time.strftime(fmt, time.localtime(float(os.environ.get(STAMP_ENV) or time.time())))

    OmegaConf.register_new_resolver("lossbench_stamp", stamp, replace=True)
    OmegaConf.register_new_resolver("lossbench_uid", lambda: os.environ.get(UID_ENV) or "0", replace=True)


from hydra.errors import CompactHydraException  # noqa: E402  (imported by training commands only)
from hydra.experimental.callback import Callback  # noqa: E402


class JobFailed(CompactHydraException):
    """Raised by a failed job that a Hydra launcher ran in another process, so that the launcher
    (joblib, submitit) records the failure; Hydra prints only this message. The command itself
    reads every job's results.json for its table and exit code."""


class MultirunDirectory(Callback):
    """Hydra callback: records the multirun's directory for the command that started it."""

    def on_multirun_start(self, config, **kwargs) -> None:
        os.environ[MULTIRUN_DIR_ENV] = str(config.hydra.sweep.dir)
