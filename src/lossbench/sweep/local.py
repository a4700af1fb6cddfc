"""The local launcher: `--parallel N` jobs at once on this machine, each in its own process through
submitit's LocalExecutor. Each job gets `cores // N` torch threads (never more threads than cores:
two 2-thread jobs on 2 cores run ten times slower than one); on a machine with GPUs each job gets
its own GPU through CUDA_VISIBLE_DEVICES, or `--jobs-per-gpu K` share one. A stop signal to the
sweep is passed to every running job (SIGTERM to the process that holds its claim), which stops
cleanly and can be resumed."""
from __future__ import annotations

import dataclasses
import os
import signal
import time
from pathlib import Path

from lossbench.environ import environ_restored
from lossbench.errors import UsageError
from lossbench.hardware import threads_per_process
from lossbench.sweep.progress import Progress
from lossbench.sweep.runner import SweepJob, worker_record

SUBMITIT_DIR = ".submitit"
BASIC_THREADS_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def local_slots(parallel: int | None, jobs_per_gpu: int | None, gpus: int) -> tuple[int, list[int | None]]:
    """(jobs at once, the GPU of each slot or None) for the local launcher; UsageError if asked
    for what this machine cannot give."""
    if jobs_per_gpu is not None:
        if jobs_per_gpu < 1:
            raise UsageError(f"--jobs-per-gpu {jobs_per_gpu}: give a whole number of jobs, 1 or more.")
        if gpus == 0:
            raise UsageError(f"--jobs-per-gpu {jobs_per_gpu} packs jobs onto GPUs, and this machine has none "
                             f"(torch sees no CUDA device). Leave it out to run on the CPU, with --parallel N.")
    per_gpu = jobs_per_gpu or 1
    slots: list[int | None] = [g for g in range(gpus) for _ in range(per_gpu)] if gpus else []
    parallel = parallel if parallel is not None else max(1, len(slots))
    if parallel < 1:
        raise UsageError(f"--parallel {parallel}: give the number of jobs to run at once, 1 or more.")
    if gpus and parallel > len(slots):
        raise UsageError(f"--parallel {parallel} is more than the {len(slots)} GPU slot(s) of this machine "
                         f"({gpus} GPU(s) x {per_gpu} job(s) per GPU); raise --jobs-per-gpu to pack more.")
    return parallel, (slots[:parallel] if gpus else [None] * parallel)


def run_local(indexed: list[tuple[int, SweepJob]], parallel: int | None, jobs_per_gpu: int | None, sweep_dir: Path,
              progress: Progress, records: dict, stop_requested) -> None:
    """Run `indexed` ((index, job) pairs) N at a time; each job's record goes into `records`."""
    import submitit

    parallel, slots = local_slots(parallel, jobs_per_gpu, gpu_count())
    threads = threads_per_process(parallel)
    progress.say(f"local launcher: {parallel} job(s) at once, {threads} torch thread(s) each"
                 + (f", GPUs {sorted(set(s for s in slots if s is not None))}" if slots[0] is not None else ""))
    folder = sweep_dir / SUBMITIT_DIR / "%j"
    free = list(range(parallel))
    running: dict = {}  # submitit job -> (index, spec, slot)
    queue = list(indexed)
    while queue or running:
        if stop_requested():
            _stop_local(running, progress)
            return
        while queue and free:
            i, given = queue.pop(0)
            slot = free.pop(0)
            spec = dataclasses.replace(given, launcher_overrides=(*given.launcher_overrides, f"trainer.threads={threads}"))
            executor = submitit.LocalExecutor(folder=folder)
            gpu = slots[slot]
            # `trap '' INT`: Ctrl-C reaches the jobs themselves (which stop cleanly), not submitit's
            # controller process, which would kill them one second later.
            executor.update_parameters(timeout_min=60 * 24 * 30, gpus_per_node=0 if gpu is None else 1,
                                       visible_gpus=() if gpu is None else (gpu,), setup=["trap '' INT"])
            with environ_restored(BASIC_THREADS_ENV, **dict.fromkeys(BASIC_THREADS_ENV, str(threads))):
                job = executor.submit(spec)
            running[job] = (i, spec, slot)
            progress.say(f"{progress.head(i, spec)} started (pid {job.job_id}"
                         + (f", GPU {gpu}" if gpu is not None else "") + ")")
        for job in [j for j in running if j.done()]:
            i, spec, slot = running.pop(job)
            free.append(slot)
            records[i] = worker_record(job, spec)
            progress.ended(i, spec, records[i])
        progress.periodic({"done": len(records), "running": len(running), "pending": len(queue)},
                          [(i, spec) for i, spec, _ in running.values()])
        time.sleep(0.2)


def _stop_local(running: dict, progress: Progress, grace_s: float = 120.0) -> None:
    """Ask every running job to stop (SIGTERM to the process that holds its claim) and wait."""
    from lossbench.sweep.claims import read_claim

    for job, (i, spec, _) in running.items():
        holder = read_claim(Path(spec.job_dir)).holder or {}
        pid = holder.get("pid")
        if pid:
            try:
                os.kill(int(pid), signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.time() + grace_s
    while running and time.time() < deadline:
        for job in [j for j in running if j.done()]:
            i, spec, _ = running.pop(job)
            progress.say(f"{progress.head(i, spec)}: stopped")
        time.sleep(0.2)
    for job in running:
        job.cancel()
