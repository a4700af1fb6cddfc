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

STAMP_ENV, UID_ENV = "LOSSBENCH_STAMP", "LOSSBENCH_UID"
JOBLIB_LAUNCHER = "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"
SUBMITIT_LOCAL_LAUNCHER = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher"


def _srun_identity() -> tuple[str, str] | None:
    from lossbench.distributed import srun_tasks

    if srun_tasks() <= 1 or "SLURM_JOB_ID" not in os.environ:
        return None
    job = os.environ["SLURM_JOB_ID"]
    step = os.environ.get("SLURM_STEP_ID", os.environ.get("SLURM_STEPID", "0"))
    start = slurm_job_start(job)
    # Without a start time the tasks can only agree on the minute (a task that starts just after
    # the minute turns would name another directory): SLURM's own start time is the shared one.
    return start or str(int(time.time()) // 60 * 60), f"slurm{job}.{step}"


def slurm_job_start(job_id: str) -> str | None:
    """The SLURM job's start time (epoch seconds): SLURM_JOB_START_TIME (SLURM 23.02 and later),
    else the job's StartTime from `scontrol show job` (22.05 sets no such variable). A requeued job
    has a new start time, hence a new run directory: pass hydra.run.dir=... to resume into the
    same one."""
    start = os.environ.get("SLURM_JOB_START_TIME", "")
    if start.isdigit():
        return start
    import re
    import subprocess

    try:
        shown = subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True,
                               timeout=30, stdin=subprocess.DEVNULL).stdout
        found = re.search(r"\bStartTime=(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\b", shown)
        return str(int(time.mktime(time.strptime(found.group(1), "%Y-%m-%dT%H:%M:%S")))) if found else None
    except (OSError, subprocess.SubprocessError):
        return None


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
    """Hydra callback: records the multirun's directory for the command that started it, and the
    size of its batch of jobs for the workers a launcher starts (they inherit the environment)."""

    def on_multirun_start(self, config, **kwargs) -> None:
        from lossbench.hydra_internals import first_batch_size, record_multirun

        record_multirun(str(config.hydra.sweep.dir),
                        first_batch_size(list(config.hydra.overrides.task), config.hydra.sweeper.get("max_batch_size")))


def jobs_at_once(launcher, batch: int, cores: int) -> int:
    """How many jobs of a multirun Hydra's `launcher` config runs at the same time on a machine of
    `cores` cores, when its first batch has `batch` jobs (0: unknown): joblib `n_jobs` (-1 = one per
    core, as joblib counts) or the batch if smaller, submitit_local the whole batch, the basic
    launcher one. submitit_slurm jobs run on nodes of their own: 1."""
    target = launcher.get("_target_")
    if target == JOBLIB_LAUNCHER:
        n_jobs = int(launcher.get("n_jobs") or 1)
        n_jobs = n_jobs if n_jobs > 0 else cores + 1 + n_jobs
        return max(1, min(n_jobs, batch) if batch else n_jobs)
    if target == SUBMITIT_LOCAL_LAUNCHER:
        return max(1, batch)
    return 1
