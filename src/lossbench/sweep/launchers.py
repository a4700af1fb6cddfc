"""Where a sweep's jobs run: `--launcher inline|local|slurm`.

  inline  one after another in this interpreter (the default; no start-up cost per job);
  local   `--parallel N` at once on this machine, each in its own process, through submitit's
          LocalExecutor. Each job gets `cores // N` torch threads (never more threads than cores:
          two 2-thread jobs on 2 cores run ten times slower than one); on a machine with GPUs each
          job gets its own GPU through CUDA_VISIBLE_DEVICES, or `--jobs-per-gpu K` share one;
  slurm   one SLURM job array through submitit's AutoExecutor, configured by conf/launcher/slurm.yaml
          (`launcher.KEY=VALUE` on the command line). A job that gets a stop signal (preemption, the
          time limit, `scancel --signal=TERM`) requeues itself and resumes from its last.ckpt.

Every launcher runs the same `SweepJob` (runner.py): completed jobs are skipped and a job held by
another live process is left alone. A stop signal to `lossbench sweep` stops the whole sweep: the
running jobs are told to stop (they write "interrupted"), no new job starts, and running the same
command again resumes. The SLURM jobs of a sweep are left to run when its waiting command stops.
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lossbench.errors import UsageError, closest
from lossbench.results import RESULTS_FILE, read_results
from lossbench.sweep.progress import PeriodicThread, Progress
from lossbench.sweep.runner import SweepJob, data_key, done_before, probe_data, unavailable_record
from lossbench.sweep.state import pending_outcome, skipped_outcome

LAUNCHERS = ("inline", "local", "slurm")


@dataclass(frozen=True)
class LaunchOptions:
    launcher: str = "inline"
    parallel: int | None = None      # local: jobs at once (default: one per GPU slot, else 1)
    jobs_per_gpu: int | None = None  # local: jobs sharing one GPU
    slurm: dict = field(default_factory=dict)  # conf/launcher/slurm.yaml with the command line's launcher.* keys
    wait: bool = True                # slurm: wait for the jobs and write the report


def check_launcher(name: str) -> str:
    if name not in LAUNCHERS:
        raise UsageError(f"--launcher {name!r} is not one of {', '.join(LAUNCHERS)}.{closest(name, LAUNCHERS)}")
    return name


def _without_unavailable_data(indexed: list[tuple[int, SweepJob]], progress: Progress,
                              records: dict[int, dict]) -> list[tuple[int, SweepJob]]:
    """Load each dataset once before its first job; jobs of a dataset that cannot be had are
    recorded as failed (data_unavailable) and dropped."""
    reasons: dict[tuple, str | None] = {}
    kept = []
    for i, spec in indexed:
        if not spec.sweep.get("smoke"):
            key = data_key(spec.job)
            if key not in reasons:
                reasons[key] = probe_data(spec.job)
                if reasons[key]:
                    print(f"lossbench: data unavailable for {' '.join(key)}: {reasons[key]}", file=sys.stderr)
            if reasons[key]:
                records[i] = unavailable_record(spec, reasons[key])
                progress.say(f"{progress.head(i, spec)}: data unavailable")
                continue
        kept.append((i, spec))
    return kept


def launch(specs: list[SweepJob], opts: LaunchOptions, sweep_dir: Path, name: str,
           stop_requested: Callable[[], int | None]) -> list[dict]:
    """Run `specs` with the chosen launcher; returns one record per job, in order."""
    progress = Progress(name, len(specs))
    records: dict[int, dict] = {}
    indexed = []
    for i, spec in enumerate(specs, 1):  # finished jobs are skipped before any process starts
        prev = done_before(spec.job, Path(spec.job_dir))
        if prev is None:
            indexed.append((i, spec))
        else:
            records[i] = skipped_outcome(prev)
            progress.say(f"{progress.head(i, spec)}: done before, skipped")
    indexed = _without_unavailable_data(indexed, progress, records)
    if opts.launcher == "inline":
        _run_inline(indexed, progress, records, stop_requested)
    elif opts.launcher == "local":
        from lossbench.sweep.local import run_local

        run_local(indexed, opts.parallel, opts.jobs_per_gpu, sweep_dir, progress, records, stop_requested)
    else:
        from lossbench.sweep.slurm import run_slurm

        run_slurm(indexed, opts.slurm, opts.wait, sweep_dir, progress, records, stop_requested)
    return [records.get(i) or _record_on_disk(spec) for i, spec in enumerate(specs, 1)]


def _record_on_disk(spec: SweepJob) -> dict:
    record = read_results(Path(spec.job_dir) / RESULTS_FILE)
    if isinstance(record, dict):
        return record
    return pending_outcome(spec.job_dir, spec.sweep, spec.job.seed)


def _run_inline(indexed, progress: Progress, records: dict, stop_requested) -> None:
    from lossbench.interrupts import JobInterrupted

    current: list[tuple[int, SweepJob]] = []
    left = len(indexed)

    def counts() -> dict:
        return {"done": len(records), "running": len(current), "pending": left - len(current)}

    with PeriodicThread(progress, counts, lambda: list(current)):
        for i, spec in indexed:
            if stop_requested():
                return
            progress.say(f"{progress.head(i, spec)} ...")
            current[:] = [(i, spec)]
            try:
                records[i] = spec()
            except JobInterrupted as err:
                progress.say(f"{progress.head(i, spec)}: {err}")
                raise
            finally:
                current.clear()
                left -= 1
            progress.ended(i, spec, records[i])
