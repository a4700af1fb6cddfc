"""`lossbench sweep NAME --status`: the state of every job of a sweep, from its directory alone.

  done         results.json says completed
  running      a live process holds the job's claim (host:pid, and the SLURM job id under SLURM)
  interrupted  stopped by a signal, or killed without a word (results.json left at "running" and no
               live claim); running the sweep again resumes it from its last.ckpt
  failed       results.json says failed, with the reason
  pending      not started (with its SLURM job id where one was submitted)
"""
from __future__ import annotations

from pathlib import Path

from lossbench.results import RESULTS_FILE, first_error_line, read_results
from lossbench.sweep.claims import read_claim
from lossbench.sweep.spec import Job

STATES = ("done", "running", "interrupted", "failed", "pending")


def job_state(job: Job, sweep_dir: Path, slurm_ids: dict) -> tuple[str, str]:
    """(state, detail) of one job."""
    job_dir = sweep_dir / job.name
    record = read_results(job_dir / RESULTS_FILE) or {}
    status = record.get("status")
    claim = read_claim(job_dir)
    slurm = slurm_ids.get(job.name)
    if status == "completed" and (record.get("sweep") or {}).get("overrides") == job.overrides:
        return "done", f"acc {record['final']['test_acc']:.4f}, {record.get('wall_time_s', 0):.0f} s"
    if claim.live:
        epoch = record.get("last_epoch")
        return "running", f"{claim.describe()}" + (f", epoch {epoch} done" if epoch is not None else "")
    if status == "interrupted" or status == "running":
        how = first_error_line(record) if status == "interrupted" else "killed without a word"
        return "interrupted", f"{how}; last finished epoch {record.get('last_epoch')}"
    if status == "failed":
        return "failed", first_error_line(record)[:120]
    return "pending", f"SLURM job {slurm}" if slurm else ""


def print_status(name: str, jobs: list[Job], sweep_dir: Path, slurm_ids: dict) -> dict[str, int]:
    counts = dict.fromkeys(STATES, 0)
    width = max((len(j.name) for j in jobs), default=0)
    print(f"sweep {name}: {len(jobs)} jobs in {sweep_dir}")
    for job in jobs:
        state, detail = job_state(job, sweep_dir, slurm_ids)
        counts[state] += 1
        slurm = slurm_ids.get(job.name)
        extra = f"  [SLURM {slurm}]" if slurm and state != "pending" else ""
        print(f"  {job.name:<{width}}  {state:<11}  {detail}{extra}")
    print("  " + ", ".join(f"{n} {s}" for s, n in counts.items() if n))
    return counts
