"""One job of a sweep, as a picklable function that any launcher can run, in this interpreter or in
a worker process (submitit's local executor, a SLURM array task).

`SweepJob` carries everything the job needs. Calling it:
  - skips a job whose results.json says "completed" with the same overrides;
  - claims the job directory (claims.py), so that no other live process runs the same job; a job held
    by another process is left alone ("held");
  - runs the job (`lossbench.train.run_in_process`), which resumes from the job's last.ckpt when it
    has one;
  - on a stop signal under SLURM, requeues the job (bounded by `max_requeues`), so that it resumes.
Before the first job of a dataset the launcher loads the dataset once (`probe_data`): if it cannot
be had (offline, files missing), that dataset's jobs are recorded as failed with error_type
"data_unavailable" and the reason, and the sweep goes on.
"""
from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

from lossbench.results import RESULTS_FILE, failed_record, new_record, read_results, versions, write_json
from lossbench.overrides import override_key
from lossbench.sweep.spec import Job
from lossbench.sweep.state import has_ended, held_outcome, is_done, is_held, skipped_outcome

QUIET_OVERRIDES = ["trainer.enable_progress_bar=false", "++trainer.enable_model_summary=false"]


@contextlib.contextmanager
def quiet_lightning(enabled: bool = True):
    """Keep Lightning's per-job banners, model summaries, data-loader hints and environment notices
    (such as "srun is available") off the console."""
    if not enabled:
        yield
        return
    loggers = [logging.getLogger(n) for n in ("lightning.pytorch", "lightning.fabric", "lightning")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*(does not have many workers|num_workers|LeafSpec).*")
        warnings.filterwarnings("ignore", message=r".*(smaller than the logging interval|log_every_n_steps).*")
        warnings.filterwarnings("ignore", message=r".*(srun|SLURM|Checkpoint directory).*")
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels):
                lg.setLevel(level)


@dataclass(frozen=True)
class SweepJob:
    """One job of a sweep, with what a worker process needs to run it. Immutable: a launcher that
    runs it differently (threads, SLURM requeue) runs a copy, `dataclasses.replace(spec, ...)`."""
    job: Job
    sweep: dict                    # the `sweep` block of its results.json
    job_dir: str
    launcher_overrides: tuple[str, ...] = ()  # how to run it (threads, quiet): not its identity
    verbose: bool = False
    requeue_on_signal: bool = False  # SLURM: requeue on a stop signal, so that the job resumes
    max_requeues: int = 3
    report_dir: str | None = None    # write the sweep's report there when this job is the last to end

    @property
    def overrides(self) -> list[str]:
        return [*self.job.overrides, *self.launcher_overrides]

    def __call__(self) -> dict:
        return run_sweep_job(self)

    def checkpoint(self, *args, **kwargs):
        """submitit's preemption hook: requeue the same call; the job resumes from its last.ckpt."""
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self)


def done_before(job: Job, job_dir: Path) -> dict | None:
    """The completed record of this very job (same overrides), if its directory holds one."""
    prev = read_results(Path(job_dir) / RESULTS_FILE)
    return prev if is_done(prev, job.overrides) else None


def run_sweep_job(spec: SweepJob) -> dict:
    """Run one sweep job (see the module docstring); returns its record, or a record with status
    "held" (not written) when another live process holds the job."""
    from lossbench.interrupts import JobInterrupted
    from lossbench.sweep.claims import try_claim
    from lossbench.train import run_in_process

    job_dir = Path(spec.job_dir)
    prev = done_before(spec.job, job_dir)
    if prev is not None:
        return skipped_outcome(prev)
    claim, holder = try_claim(job_dir)
    if claim is None:
        return held_outcome(holder.holder_text(), str(job_dir))
    prev = done_before(spec.job, job_dir)  # another process may have finished it since the first look
    if prev is not None:
        claim.release()
        return skipped_outcome(prev)
    with claim, quiet_lightning(not spec.verbose):
        try:
            record = run_in_process(spec.overrides, job_dir, sweep=spec.sweep)
        except JobInterrupted as err:
            if spec.requeue_on_signal and _requeue_self(spec.max_requeues):
                raise SystemExit(err.exit_code) from None  # SystemExit: submitit writes no result, the job lives on
            raise
    if spec.report_dir:
        report_if_sweep_ended(Path(spec.report_dir))
    return record


def report_if_sweep_ended(sweep_dir: Path) -> bool:
    """Write the sweep's report if every job listed in sweep.json has ended (state.has_ended: an
    interrupted job is listed as such); one process writes it (an exclusive lock file). True if
    this call wrote it."""
    from lossbench.results import SWEEP_FILE

    info = read_results(sweep_dir / SWEEP_FILE) or {}
    names = [j["job"] for j in info.get("jobs") or []]
    ended = all(has_ended(read_results(sweep_dir / n / RESULTS_FILE)) for n in names)
    if not names or not ended:
        return False
    lock = sweep_dir / ".report.lock"
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    os.close(fd)
    try:
        from lossbench.report import build_report

        build_report(sweep_dir, print_table=False)
    finally:
        lock.unlink(missing_ok=True)
    return True


def _requeue_self(max_requeues: int) -> bool:
    """`scontrol requeue` this SLURM job, unless it has been requeued max_requeues times already."""
    from lossbench.sweep.claims import slurm_job_id

    job_id = slurm_job_id()
    if not job_id or int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0) >= max_requeues:
        return False
    done = subprocess.run(["scontrol", "requeue", job_id], capture_output=True, text=True)
    # SLURM itself requeues on `scontrol requeue` and preemption, and then answers "Job is pending
    # execution": the job will run again either way.
    requeued = done.returncode == 0 or "pending" in done.stderr.lower()
    print(f"lossbench: SLURM job {job_id} requeued; it resumes from its last checkpoint" if requeued else
          f"lossbench: scontrol requeue {job_id} failed: {done.stderr.strip()}", file=sys.stderr, flush=True)
    return requeued


def data_key(job: Job) -> tuple[str, ...]:
    return tuple(o for o in job.overrides if override_key(o) in ("data", "data.root"))


def probe_data(job: Job) -> str | None:
    """Load the job's dataset once; None if it loads, else the reason it cannot be had (the error's
    own message). A data config that does not even construct is left to the jobs, which report it
    as a config error; warnings while loading (checksums) stay quiet here and are shown by the jobs."""
    from hydra.utils import instantiate

    from lossbench.errors import UsageError
    from lossbench.sweep.compose import compose, hydra_context

    try:
        with hydra_context():
            cfg = compose(job.overrides)
        datamodule = instantiate(cfg.data)
    except Exception:  # noqa: BLE001 -- a bad value: the job itself fails with error_type "config"
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            datamodule.setup("fit")
        return None
    except Exception as err:  # noqa: BLE001 -- any reason the data cannot be had is reported
        text = str(err) if isinstance(err, UsageError) else f"{type(err).__name__}: {err}"
        return " ".join(text.split())


def unavailable_record(spec: SweepJob, reason: str) -> dict:
    """The failed record of a job whose dataset cannot be had; written to its results.json."""
    record = new_record(seed=spec.job.seed, loss=None, data=None, model=None, run_dir=spec.job_dir,
                        overrides=spec.job.overrides, sweep=spec.sweep)
    record = failed_record(record, f"data unavailable: {reason}", "data_unavailable")
    record.update(wall_time_s=0.0, versions=versions())
    write_json(Path(spec.job_dir) / RESULTS_FILE, record)
    return record


def outcome_line(res: dict) -> str:
    """The short outcome of a job for the sweep's per-job line."""
    from lossbench.results import block_task, first_error_line

    status = res.get("status")
    if is_held(res):
        return f"held by {res.get('held_by')}: skipped here"
    if res.get("skipped"):
        return "done before, skipped"
    if status != "completed":
        return f"{str(status).upper()}: {first_error_line(res)[:160]}"
    final, best = res["final"], res.get("best")
    if block_task(final) == "multilabel":  # no single-label accuracy: mAP and macro F1
        main, text = "test_map", f"mAP {final['test_map']:.4f}  maF1 {final['test_macro_f1']:.4f}"
    else:
        main, text = "test_acc", f"acc {final['test_acc']:.4f}  bal {final['test_balanced_acc']:.4f}"
    if best:
        text += f"  (best@{best['epoch']}: {best[main]:.4f})"
    text += f"  {res.get('wall_time_s', 0):.1f}s"
    return text


def worker_record(job, spec: SweepJob) -> dict:
    """The record of a sweep job that a worker process (submitit: local or SLURM) ran: what it
    returned, else what its results.json says, else a failed record with the worker's last stderr
    line (written to results.json)."""
    try:
        result = job.result()
        if isinstance(result, dict):
            return result
    except Exception:  # noqa: BLE001 -- the job's own results.json says why, or is written below
        pass
    record = read_results(Path(spec.job_dir) / RESULTS_FILE)
    if isinstance(record, dict) and record.get("status") != "running":
        return record
    stderr = ""
    try:
        stderr = job.stderr() or ""
    except Exception:  # noqa: BLE001
        pass
    reason = (stderr.strip().splitlines() or ["the worker process ended without a result"])[-1]
    base = record if isinstance(record, dict) else new_record(seed=spec.job.seed, loss=None, data=None, model=None,
                                                              run_dir=spec.job_dir, overrides=spec.job.overrides,
                                                              sweep=spec.sweep)
    failed = failed_record(base, f"worker process ended: {reason}", "exception")
    write_json(Path(spec.job_dir) / RESULTS_FILE, failed)
    return failed
