"""The state of a sweep job: decided here, and only here.

A job's results.json says one of `results.STATUSES` (running, completed, failed, interrupted).
From that record, whether a live process holds the job's claim (claims.py) and the overrides the
sweep asks for, a job is in one of `STATES` (what `lossbench sweep NAME --status` shows):

  done         completed, with the overrides the sweep asks for now
  running      a live process holds its claim
  interrupted  stopped by a signal, or left at "running" by a process that died without a word (no
               live claim); running the sweep again resumes it from its last.ckpt
  failed       results.json says failed, with the reason
  pending      not started (no record yet, or a completed record of other overrides)

Two questions every caller asks, answered once:
  has_ended(record)  completed, failed or interrupted: no process is working on it now. The report
                     is written when every job of the sweep has ended (an interrupted job is listed
                     as such, and a re-run rewrites the report when it completes).
  is_final(record)   completed or failed: it will not change unless someone runs the sweep again
                     (an interrupted SLURM job may still requeue itself and resume).

One launch of a job can also end without writing a record: it was `skipped` (done before) or
`held` (another live process holds the claim; it is left to that process). These are outcomes of
the launch, never written to results.json: `skipped_outcome` and `held_outcome` make them, and
`is_held` recognises the second. `pending_outcome` stands for a job no launcher reached.
"""
from __future__ import annotations

from lossbench.results import STATUSES

STATES = ("done", "running", "interrupted", "failed", "pending")
FINAL_STATUSES = ("completed", "failed")
ENDED_STATUSES = (*FINAL_STATUSES, "interrupted")
assert set(ENDED_STATUSES) < set(STATUSES)
HELD = "held"


def status_of(record: dict | None) -> str | None:
    """The record's status when it is one of results.STATUSES, else None (no record, or not one)."""
    status = record.get("status") if isinstance(record, dict) else None
    return status if status in STATUSES else None


def is_done(record: dict | None, overrides: list[str]) -> bool:
    """Completed, and with these overrides: a re-run skips it."""
    return status_of(record) == "completed" and (record.get("sweep") or {}).get("overrides") == list(overrides)


def has_ended(record: dict | None) -> bool:
    return status_of(record) in ENDED_STATUSES


def is_final(record: dict | None) -> bool:
    return status_of(record) in FINAL_STATUSES


def job_state(record: dict | None, overrides: list[str], claim_live: bool) -> str:
    """The job's state (one of STATES)."""
    if is_done(record, overrides):
        return "done"
    if claim_live:
        return "running"
    status = status_of(record)
    if status in ("interrupted", "running"):  # "running" without a live claim: killed without a word
        return "interrupted"
    if status == "failed":
        return "failed"
    return "pending"


def skipped_outcome(record: dict) -> dict:
    return {**record, "skipped": True}


def held_outcome(holder: str, job_dir: str) -> dict:
    return {"status": HELD, "held_by": holder, "run_dir": job_dir}


def is_held(outcome: dict) -> bool:
    return outcome.get("status") == HELD


def pending_outcome(job_dir: str, sweep: dict, seed: int) -> dict:
    return {"status": "pending", "run_dir": job_dir, "sweep": sweep, "seed": seed}
