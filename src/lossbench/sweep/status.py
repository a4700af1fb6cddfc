"""`lossbench sweep NAME --status`: the state of every job of a sweep (state.py), from its directory
alone, with what each state's detail says: the test accuracy of a done job, the process and epoch of
a running one, why an interrupted or failed job stopped, the SLURM job id of a pending one.
"""
from __future__ import annotations

from pathlib import Path

from lossbench.results import RESULTS_FILE, block_task, first_error_line, read_results
from lossbench.sweep.claims import read_claim
from lossbench.sweep.spec import Job
from lossbench.sweep.state import STATES, job_state


def state_and_detail(job: Job, sweep_dir: Path, slurm_ids: dict) -> tuple[str, str]:
    """(state, detail) of one job."""
    job_dir = sweep_dir / job.name
    record = read_results(job_dir / RESULTS_FILE) or {}
    claim = read_claim(job_dir)
    state = job_state(record, job.overrides, claim.live)
    if state == "done":
        final = record["final"]
        headline = f"mAP {final['test_map']:.4f}" if block_task(final) == "multilabel" else f"acc {final['test_acc']:.4f}"
        return state, f"{headline}, {record.get('wall_time_s', 0):.0f} s"
    if state == "running":
        epoch = record.get("last_epoch")
        return state, claim.holder_text() + (f", epoch {epoch} done" if epoch is not None else "")
    if state == "interrupted":
        how = first_error_line(record) if record.get("status") == "interrupted" else "killed without a word"
        return state, f"{how}; last finished epoch {record.get('last_epoch')}"
    if state == "failed":
        return state, first_error_line(record)[:120]
    slurm = slurm_ids.get(job.name)
    return state, f"SLURM job {slurm}" if slurm else ""


def print_status(name: str, jobs: list[Job], sweep_dir: Path, slurm_ids: dict) -> dict[str, int]:
    counts = dict.fromkeys(STATES, 0)
    width = max((len(j.name) for j in jobs), default=0)
    print(f"sweep {name}: {len(jobs)} jobs in {sweep_dir}")
    for job in jobs:
        state, detail = state_and_detail(job, sweep_dir, slurm_ids)
        counts[state] += 1
        slurm = slurm_ids.get(job.name)
        extra = f"  [SLURM {slurm}]" if slurm and state != "pending" else ""
        print(f"  {job.name:<{width}}  {state:<11}  {detail}{extra}")
    print("  " + ", ".join(f"{n} {s}" for s, n in counts.items() if n))
    return counts
