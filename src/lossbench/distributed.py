"""Which process of a job this is, and the command line Lightning's DDP children re-run.

A job's ranks share one run directory and only global rank 0 writes. The rank comes from the
launcher that started the process: torchrun/Lightning (`RANK`, or `LOCAL_RANK` + `NODE_RANK`), or
SLURM's `srun` (`SLURM_PROCID` when the step has several tasks).
"""
from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path


def srun_tasks() -> int:
    """The number of tasks of the enclosing `srun` step (1 outside one)."""
    if "SLURM_STEP_ID" not in os.environ and "SLURM_STEPID" not in os.environ:
        return 1
    try:
        return int(os.environ.get("SLURM_STEP_NUM_TASKS") or os.environ.get("SLURM_NTASKS") or 1)
    except ValueError:
        return 1


def srun_tasks_per_node() -> int | None:
    """The tasks per node of the enclosing `srun` step when every node has as many (SLURM writes
    SLURM_STEP_TASKS_PER_NODE as "2", "2(x3)" or, uneven, "2,1"); None outside a step or if uneven."""
    if srun_tasks() <= 1:
        return None
    counts = {part.split("(", 1)[0] for part in os.environ.get("SLURM_STEP_TASKS_PER_NODE", "").split(",") if part}
    if len(counts) != 1:
        return None
    (count,) = counts
    return int(count) if count.isdigit() else None


def global_rank() -> int:
    """This process's global rank within its job (0 for a single-process job)."""
    for var in ("RANK", "PMI_RANK"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    if srun_tasks() > 1 and os.environ.get("SLURM_PROCID", "").isdigit():
        return int(os.environ["SLURM_PROCID"])
    local = int(os.environ.get("LOCAL_RANK", "0") or 0)
    node = int(os.environ.get("NODE_RANK", os.environ.get("GROUP_RANK", "0")) or 0)
    return local if node == 0 else node * 10_000 + local  # any non-zero value means "not rank 0"


def is_global_zero() -> bool:
    return global_rank() == 0


# What Lightning's DDP launcher writes into the parent's environment when it starts children. Left
# there, the next job in the same interpreter would take itself for a child of an outside launcher.
DDP_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE", "GROUP_RANK", "RANK",
           "PL_GLOBAL_SEED", "PL_SEED_WORKERS")


@contextlib.contextmanager
def ddp_job_scope(overrides: list[str], run_dir: str | Path) -> Iterator[None]:
    """One job's process-wide settings for Lightning's DDP launcher, restored afterwards.

    The launcher re-runs the command line in each child process: for the job, that is this job alone (the
    `train` subcommand, the job's own overrides, never `-m`, so a child never re-launches a sweep)
    and its run directory, so that every rank uses the same one. The launcher also writes rank
    variables into this process's environment; they are put back as they were."""
    import __main__
    import importlib.util

    from lossbench.environ import environ_restored

    saved_argv, saved_spec = list(sys.argv), getattr(__main__, "__spec__", None)
    updates = {}
    per_node = srun_tasks_per_node()
    if per_node is not None and "SLURM_NTASKS_PER_NODE" not in os.environ:
        # Lightning's SLURMEnvironment refuses a step started with `srun -n N` ("--ntasks is not
        # supported"): it wants --ntasks-per-node, which is what the step has on each node.
        updates["SLURM_NTASKS_PER_NODE"] = str(per_node)
    kept = [o for o in overrides if not o.startswith(("hydra.run.dir=", "hydra.sweep.dir=", "hydra.sweep.subdir="))]
    sys.argv = [saved_argv[0] if saved_argv else "lossbench", "train", *kept, f"hydra.run.dir={Path(run_dir)}"]
    # Lightning starts each child as `python -m <__main__.__spec__.name> argv[1:]`. In a worker that
    # is not lossbench's own command (submitit's `_submit`, a Hydra launcher, pytest) that would run
    # the worker's program: point it at `python -m lossbench` for the job.
    __main__.__spec__ = importlib.util.find_spec("lossbench.__main__")
    restore_hydra_run_dir = _point_hydra_run_dir(run_dir)
    try:
        with environ_restored((*DDP_ENV, "SLURM_NTASKS_PER_NODE"), **updates):
            yield
    finally:
        restore_hydra_run_dir()
        sys.argv = saved_argv
        __main__.__spec__ = saved_spec


def _point_hydra_run_dir(run_dir: str | Path):
    """Under Hydra, Lightning builds the children's command line itself and appends
    `hydra.run.dir=<HydraConfig's run.dir>` (last, so it wins). In a multirun that is the single-run
    template, not the job's directory: each child would log into a stray directory and plan its
    resume from an empty one. Point it at the job's directory; returns the function that restores it."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import read_write

    if not HydraConfig.initialized():
        return lambda: None
    run = HydraConfig.get().run
    saved = run._get_node("dir")._value()  # the raw value: an interpolation stays one
    with read_write(run):
        run.dir = str(Path(run_dir))

    def restore() -> None:
        with read_write(run):
            run.dir = saved

    return restore


def release_process_group() -> None:
    """Destroy the torch.distributed process group a DDP job leaves behind, so that the next job of
    a multirun or sweep in this interpreter can start its own (else: gloo "Connection closed")."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
