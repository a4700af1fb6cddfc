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

import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lossbench.environ import environ_restored
from lossbench.hardware import threads_per_process
from lossbench.errors import UsageError, closest
from lossbench.results import RESULTS_FILE, read_results, write_json
from lossbench.sweep.runner import SweepJob, data_key, probe_data, unavailable_record

LAUNCHERS = ("inline", "local", "slurm")
SUBMITIT_DIR = ".submitit"
SLURM_IDS_FILE = "slurm_jobs.json"  # job name -> SLURM job id, in <sweep dir>/.submitit/
STATUS_EVERY_S = 60.0
BASIC_THREADS_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass
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


def gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def local_slots(opts: LaunchOptions, gpus: int) -> tuple[int, list[int | None]]:
    """(jobs at once, the GPU of each slot or None) for the local launcher; UsageError if asked
    for what this machine cannot give."""
    if opts.jobs_per_gpu is not None:
        if opts.jobs_per_gpu < 1:
            raise UsageError(f"--jobs-per-gpu {opts.jobs_per_gpu}: give a whole number of jobs, 1 or more.")
        if gpus == 0:
            raise UsageError(f"--jobs-per-gpu {opts.jobs_per_gpu} packs jobs onto GPUs, and this machine has none "
                             f"(torch sees no CUDA device). Leave it out to run on the CPU, with --parallel N.")
    per_gpu = opts.jobs_per_gpu or 1
    slots: list[int | None] = [g for g in range(gpus) for _ in range(per_gpu)] if gpus else []
    parallel = opts.parallel if opts.parallel is not None else max(1, len(slots))
    if parallel < 1:
        raise UsageError(f"--parallel {parallel}: give the number of jobs to run at once, 1 or more.")
    if gpus and parallel > len(slots):
        raise UsageError(f"--parallel {parallel} is more than the {len(slots)} GPU slot(s) of this machine "
                         f"({gpus} GPU(s) x {per_gpu} job(s) per GPU); raise --jobs-per-gpu to pack more.")
    return parallel, (slots[:parallel] if gpus else [None] * parallel)


# -- the sweep loop shared by every launcher -----------------------------------------------------
class Progress:
    """The sweep's console lines: one as each job starts and ends (with its training img/s), and a
    periodic summary with the epoch, img/s and ETA of each running job (from its results.json)."""

    def __init__(self, name: str, total: int):
        self.name, self.total, self.started, self.last = name, total, time.time(), time.time()
        self.width = len(str(total))

    def head(self, i: int, spec: SweepJob) -> str:
        job = spec.job
        return f"[{i:>{self.width}}/{self.total}] {job.setting} | {job.method} | seed {job.seed}"

    def say(self, text: str) -> None:
        print(text, flush=True)

    def ended(self, i: int, spec: SweepJob, record: dict, suffix: str = "") -> None:
        from lossbench.sweep.runner import outcome_line

        speed = ((record.get("throughput") or {}).get("train_images_per_s") if record.get("status") == "completed"
                 else None)
        self.say(f"{self.head(i, spec)}: {outcome_line(record)}" + (f"  {speed:.0f} img/s" if speed else "") + suffix)

    def periodic(self, counts: dict, running: list[tuple[int, SweepJob]] = (), force: bool = False) -> None:
        if force or time.time() - self.last >= STATUS_EVERY_S:
            self.last = time.time()
            parts = ", ".join(f"{v} {k}" for k, v in counts.items() if v)
            jobs = [text for text in (self.job_progress(i, spec) for i, spec in running) if text]
            self.say(f"sweep {self.name}: {parts} ({time.time() - self.started:.0f} s)"
                     + "".join(f"; {text}" for text in jobs))

    def job_progress(self, i: int, spec: SweepJob) -> str | None:
        """`[3/8] epoch 5/30, 1234 img/s, ETA 3m10s` of a running job, from its results.json."""
        from lossbench.callbacks import duration

        record = read_results(Path(spec.job_dir) / RESULTS_FILE)
        progress = (record or {}).get("progress") if (record or {}).get("status") == "running" else None
        if not progress:
            return None
        return (f"[{i}/{self.total}] epoch {progress['epochs_done']}/{progress['max_epochs']}, "
                f"{progress['train_images_per_s']:.0f} img/s, ETA {duration(progress.get('eta_s'))}")


class _PeriodicThread:
    """Calls `progress.periodic` every STATUS_EVERY_S seconds while the inline launcher's job runs
    in the main thread."""

    def __init__(self, progress: Progress, counts, running):
        import threading

        self.progress, self.counts, self.running = progress, counts, running
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="sweep-progress", daemon=True)

    def _loop(self) -> None:
        while not self.stop.wait(max(0.2, STATUS_EVERY_S - (time.time() - self.progress.last))):
            self.progress.periodic(self.counts(), self.running())

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=5)


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
    from lossbench.sweep.runner import done_before

    progress = Progress(name, len(specs))
    records: dict[int, dict] = {}
    indexed = []
    for i, spec in enumerate(specs, 1):  # finished jobs are skipped before any process starts
        prev = done_before(spec.job, Path(spec.job_dir))
        if prev is None:
            indexed.append((i, spec))
        else:
            records[i] = {**prev, "skipped": True}
            progress.say(f"{progress.head(i, spec)}: done before, skipped")
    indexed = _without_unavailable_data(indexed, progress, records)
    if opts.launcher == "inline":
        _run_inline(indexed, progress, records, stop_requested)
    elif opts.launcher == "local":
        _run_local(indexed, opts, sweep_dir, progress, records, stop_requested)
    else:
        _run_slurm(indexed, opts, sweep_dir, progress, records, stop_requested)
    return [records.get(i) or _record_on_disk(spec) for i, spec in enumerate(specs, 1)]


def _record_on_disk(spec: SweepJob) -> dict:
    record = read_results(Path(spec.job_dir) / RESULTS_FILE)
    if isinstance(record, dict):
        return record
    return {"status": "pending", "run_dir": spec.job_dir, "sweep": spec.sweep, "seed": spec.job.seed}


def _run_inline(indexed, progress: Progress, records: dict, stop_requested) -> None:
    from lossbench.interrupts import JobInterrupted

    current: list[tuple[int, SweepJob]] = []
    left = len(indexed)

    def counts() -> dict:
        return {"done": len(records), "running": len(current), "pending": left - len(current)}

    with _PeriodicThread(progress, counts, lambda: list(current)):
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


def _run_local(indexed, opts: LaunchOptions, sweep_dir: Path, progress: Progress, records: dict,
               stop_requested) -> None:
    import submitit


    parallel, slots = local_slots(opts, gpu_count())
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
            i, spec = queue.pop(0)
            slot = free.pop(0)
            spec.launcher_overrides = [*spec.launcher_overrides, f"trainer.threads={threads}"]
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
            records[i] = _finished(job, spec)
            progress.ended(i, spec, records[i])
        progress.periodic({"done": len(records), "running": len(running), "pending": len(queue)},
                          [(i, spec) for i, spec, _ in running.values()])
        time.sleep(0.2)


def _finished(job, spec: SweepJob) -> dict:
    """A finished worker's record: what it returned, else what its results.json says."""
    try:
        result = job.result()
        if isinstance(result, dict):
            return result
    except Exception:  # noqa: BLE001 -- the job's own results.json says why, or is written below
        pass
    record = read_results(Path(spec.job_dir) / RESULTS_FILE)
    if isinstance(record, dict) and record.get("status") != "running":
        return record
    from lossbench.results import failed_record, new_record

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


def _slurm_parameters(slurm: dict) -> dict:
    """submitit AutoExecutor parameters from conf/launcher/slurm.yaml."""
    params = {"timeout_min": int(slurm["timeout_min"]), "slurm_job_name": slurm["job_name"],
              "cpus_per_task": int(slurm["cpus_per_job"]), "tasks_per_node": 1, "nodes": 1,
              "slurm_array_parallelism": int(slurm["array_parallelism"]),
              "slurm_signal_delay_s": int(slurm["signal_delay_s"])}
    if slurm["gpus_per_job"]:
        params["gpus_per_node"] = int(slurm["gpus_per_job"])
    if slurm["mem_gb"]:
        params["mem_gb"] = float(slurm["mem_gb"])
    for key in ("partition", "account", "qos", "constraint"):
        if slurm.get(key):
            params[f"slurm_{key}"] = str(slurm[key])
    if slurm.get("setup"):
        params["slurm_setup"] = list(slurm["setup"])
    extra = dict(slurm.get("additional_parameters") or {})
    extra.setdefault("requeue", True)
    params["slurm_additional_parameters"] = extra
    return params


def _run_slurm(indexed, opts: LaunchOptions, sweep_dir: Path, progress: Progress, records: dict,
               stop_requested) -> None:
    import submitit

    if shutil.which("sbatch") is None:
        raise UsageError("--launcher slurm needs the `sbatch` command, which is not on PATH here. Run this on a "
                         "SLURM login node, or use --launcher local to run the jobs on this machine.")
    slurm = opts.slurm
    todo = []
    for i, spec in indexed:
        spec.launcher_overrides = [*spec.launcher_overrides, f"trainer.threads={int(slurm['cpus_per_job'])}"]
        spec.requeue_on_signal, spec.max_requeues = True, int(slurm["max_requeues"])
        todo.append((i, spec))
    if not todo:
        return
    executor = submitit.AutoExecutor(folder=sweep_dir / SUBMITIT_DIR / "%j", cluster="slurm")
    executor.update_parameters(**_slurm_parameters(slurm))
    try:
        with executor.batch():
            jobs = [executor.submit(spec) for _, spec in todo]
    except Exception as err:  # noqa: BLE001 -- sbatch's own words, relayed
        text = " ".join(str(err).split())
        raise UsageError(f"sbatch refused the sweep's job array: {text} Check the launcher.* settings "
                         f"(`lossbench sweep NAME --launcher slurm launcher.partition=...`).") from None
    ids = {spec.job.name: job.job_id for (_, spec), job in zip(todo, jobs)}
    ids_file = sweep_dir / SUBMITIT_DIR / SLURM_IDS_FILE
    write_json(ids_file, {**(read_results(ids_file) or {}), **ids})
    progress.say(f"slurm launcher: submitted {len(jobs)} job(s) as array {jobs[0].job_id.split('_')[0]}; "
                 f"`lossbench sweep {progress.name} --status` shows them")
    if not opts.wait:
        return
    running = {job: (i, spec) for (i, spec), job in zip(todo, jobs)}
    while running:
        if stop_requested():
            progress.say("lossbench: stopped waiting; the SLURM jobs keep running (scancel stops them)")
            return
        for job in list(running):
            i, spec = running[job]
            record = read_results(Path(spec.job_dir) / RESULTS_FILE)
            status = (record or {}).get("status")
            # submitit's result file, not job.done(): that asks sacct, which many clusters (and the
            # test cluster) run without, and it logs a warning on every call then
            ended = Path(job.paths.result_pickle).exists()
            if status in ("completed", "failed") or (ended and status != "running"):
                running.pop(job)
                records[i] = record if isinstance(record, dict) else _finished(job, spec)
                progress.ended(i, spec, records[i], f" (SLURM {job.job_id})")
        progress.periodic({"done": len(records), "queued or running": len(running)}, list(running.values()))
        time.sleep(1.0)


def slurm_ids(sweep_dir: Path) -> dict:
    data = read_results(sweep_dir / SUBMITIT_DIR / SLURM_IDS_FILE)
    return data if isinstance(data, dict) else {}


def load_slurm_config(overrides: list[str]) -> dict:
    """conf/launcher/slurm.yaml with `launcher.KEY=VALUE` overrides; UsageError for an unknown key."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from lossbench.paths import CONF_DIR

    base = OmegaConf.load(CONF_DIR / "launcher" / "slurm.yaml")
    OmegaConf.set_struct(base, True)
    dotlist = [o.split(".", 1)[1] for o in overrides]
    for item in dotlist:
        key = item.split("=", 1)[0].split(".")[0]
        if key not in base:
            raise UsageError(f"launcher.{key} is not a setting of the slurm launcher.{closest(key, list(base))} "
                             f"Settings: {', '.join(base)} (conf/launcher/slurm.yaml).")
    try:
        merged = OmegaConf.merge(base, OmegaConf.from_dotlist(dotlist))
    except OmegaConfBaseException as err:
        raise UsageError(f"launcher settings: {' '.join(str(err).split())}") from None
    return json.loads(json.dumps(OmegaConf.to_container(merged, resolve=True)))
