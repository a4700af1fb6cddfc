"""`lossbench sweep NAME --estimate`: each job's and the whole sweep's wall time and device-hours on
this machine, predicted from short probe runs, before any job runs (no job directory is written).

Jobs that differ only in optimizer settings, schedule or seed share a probe: one per distinct (model,
data config, trainer config, loss config, kind of optimizer step), the precision and thread count
included. The loss and the step count because they can cost as much as the model: a learned link
(legendretron) many times a linear model's step, SAM two forward-backward passes. A probe is the group's first
job run for real (run_in_process, into a temporary folder): once for one epoch of PROBE_STEPS
steps (the data's sizes, a first guess of a step), then twice, for 1 and for 3 epochs, whole ones
when an epoch is guessed at PROBE_WHOLE_EPOCH_S or less, else of enough steps for PROBE_EPOCH_S,
with PROBE_EVAL validation and test batches. Their records give
    step_s      a training step, from epochs 2-3 (the first epoch carries warm-up);
    eval_s      an evaluation batch; epoch_s the rest of an epoch (checkpoints, logging);
    fixed_s     what a job pays once: data loading, set-up, the first epoch's warm-up;
and a job of E epochs, B training, V validation and T test batches (per process) is predicted as
    fixed_s + E * (B * step_s + V * eval_s + epoch_s) + 2 * T * eval_s      (final and best weights tested;
                                                                             once without a validation set)
Early stopping is not foreseen: a job is predicted at its max_epochs. The local and SLURM launchers
start a new interpreter per job (start_s, measured once), whose imports an inline sweep pays once;
jobs are placed on the launcher's slots in
order, each on the first that frees (as the launchers do), and each dataset is loaded once before
its first job (the launchers' probe_data, timed by running it), which gives the wall time. On a CPU a job
of `--parallel N` has cores // N threads, and its probe runs with that many. With `--jobs-per-gpu K`
a GPU's throughput is taken to be shared evenly among its K jobs (an upper bound: packing small
jobs gains, docs/PERFORMANCE.md). SLURM's queue wait is not included.
"""
from __future__ import annotations

import csv
import heapq
import json
import math
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PROBE_STEPS = 30  # training steps per probe epoch, at least
PROBE_EPOCH_S, PROBE_MAX_STEPS = 1.5, 400  # more steps, up to 400, until a probe epoch lasts 1.5 s
PROBE_WHOLE_EPOCH_S = 4.0  # an epoch guessed at most this long is probed whole
PROBE_EVAL = 4  # validation and test batches per probe
PROBE_EPOCHS = (1, 3)
START_COMMAND = "import lossbench.train, lightning, hydra, torchmetrics"


@dataclass(frozen=True)
class Probe:
    step_s: float
    eval_s: float
    epoch_s: float
    fixed_s: float
    num_train: int
    num_val: int
    num_test: int
    world_size: int


def _job_cfg(overrides: list[str]):
    from lossbench.sweep.compose import compose

    return compose([o for o in overrides if not o.startswith("seed=")])


def group_key(cfg, threads: int | None) -> str:
    """What decides a job's speed: the model, the data, trainer and loss configs, and the optimizer's
    kind of step (its class, and the base a SAM optimizer wraps), not its learning rate or decay."""
    from omegaconf import OmegaConf

    trainer = OmegaConf.to_container(cfg.trainer, resolve=False)
    if threads is not None:
        trainer["threads"] = threads
    step = [cfg.optimizer.get("_target_"), cfg.optimizer.get("base")]
    return json.dumps([OmegaConf.to_container(cfg.model, resolve=False), OmegaConf.to_container(cfg.data, resolve=False),
                       trainer, OmegaConf.to_container(cfg.loss, resolve=False), step], sort_keys=True, default=str)


def _run(overrides: list[str], epochs: int, train_batches: int, threads: int | None) -> tuple[dict, list[dict]]:
    """(record, metrics.csv rows) of one probe run."""
    import lightning.pytorch  # noqa: F401 -- before quiet_lightning: importing it sets its loggers' levels

    from lossbench.sweep.runner import QUIET_OVERRIDES, quiet_lightning
    from lossbench.train import run_in_process

    # max_steps ends the probe after `epochs` epochs of `train_batches` steps, and max_epochs stays the
    # job's: the schedule's milestones and warm-up are checked against it, and set by it.
    limits = [f"++trainer.max_steps={epochs * train_batches}", f"++trainer.limit_train_batches={train_batches}",
              f"++trainer.limit_val_batches={PROBE_EVAL}", f"++trainer.limit_test_batches={PROBE_EVAL}",
              "logger=csv", *QUIET_OVERRIDES, *([f"trainer.threads={threads}"] if threads else [])]
    with tempfile.TemporaryDirectory(prefix="lossbench-estimate-") as tmp, quiet_lightning():
        started = time.perf_counter()
        record = run_in_process([*overrides, *limits], tmp)
        record["wall_time_s"] = time.perf_counter() - started  # the whole call, composing included, as a sweep pays it
        rows = []
        if (Path(tmp) / "metrics.csv").exists():
            with open(Path(tmp) / "metrics.csv") as f:
                rows = list(csv.DictReader(f))
    if record.get("status") != "completed":
        from lossbench.errors import UsageError

        raise UsageError(f"the probe run of a job failed, so it cannot be timed: {record.get('error')}")
    return record, rows


def _batches(n: int, batch: int, world: int) -> int:
    return math.ceil(n / (batch * world)) if n else 0


def probe(overrides: list[str], cfg, threads: int | None) -> Probe:
    """Time the job of `overrides` (composed as `cfg`) for 1 and 3 short epochs (see the module doc)."""
    r0, m0 = _run(overrides, 1, PROBE_STEPS, threads)  # the data's sizes, and a first guess of a step
    world = int(r0.get("world_size") or 1)
    num_train, num_val, num_test = (int(r0["dataset"][k]) for k in ("num_train", "num_val", "num_test"))
    batches = _batches(num_train, int(cfg.data.batch_size), world)
    guess = float(m0[0]["train_epoch_s"]) / max(1, min(PROBE_STEPS, batches)) if m0 else 0.0
    # Whole epochs where they are short: an epoch's last, partial batch costs more than its share
    # (new shapes for the kernels; 0.6 s of a 2.7 s Fashion-MNIST epoch here). Otherwise probe epochs
    # of PROBE_EPOCH_S or more: shorter windows are mostly timer noise on a busy CPU.
    if guess * batches <= PROBE_WHOLE_EPOCH_S:
        steps = batches
    else:
        steps = max(1, min(batches, PROBE_MAX_STEPS, max(PROBE_STEPS, math.ceil(PROBE_EPOCH_S / guess))))
    (r1, m1), (r3, m3) = (_run(overrides, e, steps, threads) for e in PROBE_EPOCHS)
    val_batches = min(PROBE_EVAL, _batches(num_val, int(cfg.data.eval_batch_size), world))
    test_batches = min(PROBE_EVAL, _batches(num_test, int(cfg.data.eval_batch_size), world))
    passes = test_passes(num_val)

    def split(record, rows) -> tuple[float, float, float, float]:
        train = sum(float(r["train_epoch_s"]) for r in rows)
        val = sum(float(r["eval_s"]) for r in rows)
        test = max(0.0, float(record["throughput"]["eval_s"]) - val)
        return float(record["wall_time_s"]), train, val, test

    (w1, t1, v1, s1), (w3, t3, v3, s3) = split(r1, m1), split(r3, m3)
    extra = PROBE_EPOCHS[1] - PROBE_EPOCHS[0]
    step_s = max(0.0, (t3 - t1) / (extra * steps))
    # Every evaluation batch of both probes, pooled: validation and test batches cost the same.
    eval_batches = val_batches * sum(PROBE_EPOCHS) + 2 * passes * test_batches
    eval_s = (v1 + s1 + v3 + s3) / max(1, eval_batches)
    epoch_s = max(0.0, ((w3 - w1) - (t3 - t1) - (v3 - v1) - (s3 - s1)) / extra)
    fixed_s = max(0.0, w1 - steps * step_s - (val_batches + passes * test_batches) * eval_s - epoch_s)
    return Probe(step_s=step_s, eval_s=eval_s, epoch_s=epoch_s, fixed_s=fixed_s, num_train=num_train,
                 num_val=num_val, num_test=num_test, world_size=world)


def test_passes(num_val: int) -> int:
    """Test passes of a job: the final weights, and with a validation set the best ones too."""
    return 2 if num_val else 1


def _limit(value, batches: int) -> int:
    if value is None:
        return batches
    return min(batches, int(value)) if float(value) >= 1 and float(value) == int(value) else int(batches * float(value))


def predict(cfg, p: Probe) -> float:
    """Seconds of one job (the module doc's formula)."""
    trainer, data = cfg.trainer, cfg.data
    train = _limit(trainer.get("limit_train_batches"), _batches(p.num_train, int(data.batch_size), p.world_size))
    val = _limit(trainer.get("limit_val_batches"), _batches(p.num_val, int(data.eval_batch_size), p.world_size))
    test = _limit(trainer.get("limit_test_batches"), _batches(p.num_test, int(data.eval_batch_size), p.world_size))
    epochs = int(trainer.max_epochs)
    return p.fixed_s + epochs * (train * p.step_s + val * p.eval_s + p.epoch_s) + test_passes(p.num_val) * test * p.eval_s


def wall_time(seconds: list[float], slots: int) -> float:
    """Jobs in order, each on the first slot that frees."""
    free = [0.0] * max(1, slots)
    for s in seconds:
        heapq.heappush(free, heapq.heappop(free) + s)
    return max(free)


def _timed(function, *args) -> float:
    started = time.perf_counter()
    function(*args)
    return time.perf_counter() - started


def start_seconds() -> float:
    """What a worker interpreter pays before its job starts: Python, torch, Lightning, Hydra."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", START_COMMAND], check=True, capture_output=True)
    return time.perf_counter() - started


@dataclass(frozen=True)
class Placement:
    """How a launcher runs the jobs: slots at once, torch threads per job (None: the job's
    default), whether each job starts a new interpreter, and jobs that share one GPU."""
    launcher: str
    slots: int
    threads: int | None
    new_process: bool
    jobs_per_gpu: int = 1

    def label(self) -> str:
        if self.launcher == "inline":
            return "inline"
        if self.launcher == "slurm":
            return f"slurm, {self.slots} at once"
        return f"local --parallel {self.slots}" + (f" --jobs-per-gpu {self.jobs_per_gpu}" if self.jobs_per_gpu > 1 else "")


def placement(opts, gpus: int, cores: int) -> Placement:
    """The Placement of LaunchOptions `opts` on this machine."""
    from lossbench.hardware import threads_per_process
    from lossbench.sweep.local import local_slots

    if opts.launcher == "slurm":
        return Placement("slurm", int(opts.slurm["array_parallelism"]), int(opts.slurm["cpus_per_job"]), True)
    if opts.launcher == "local":
        parallel, _ = local_slots(opts.parallel, opts.jobs_per_gpu, gpus)
        return Placement("local", parallel, None if gpus else threads_per_process(parallel, cores), True,
                         opts.jobs_per_gpu or 1)
    return Placement("inline", 1, None, False)


def estimate(jobs, where: Placement, gpus: int, cores: int, alternatives: list[Placement] = ()) -> dict:
    """{"jobs": [{"name", "seconds"}], "job_seconds", "wall_seconds", "device_hours", "launcher",
    "probes", "alternatives": [{"launcher", "wall_seconds"}], "recommended"} for `jobs` placed as `where`
    (and the wall time of each alternative placement, for the recommendation)."""
    from lossbench.sweep.compose import hydra_context
    from lossbench.sweep.runner import data_key, probe_data

    cfgs = []
    with hydra_context():  # every job composed first: a probe run re-initialises Hydra for itself
        composed: dict[tuple, object] = {}
        for job in jobs:
            key = tuple(o for o in job.overrides if not o.startswith("seed="))
            if key not in composed:
                composed[key] = _job_cfg(job.overrides)
            cfgs.append(composed[key])
    probes: dict[str, Probe] = {}
    start_s = start_seconds()
    # Warm-up (lazy imports, first allocations): they are start_s's, not a dataset's or a probe's.
    _run(jobs[0].overrides, 1, 1, where.threads)
    data_load_s = {}  # data key (runner.data_key) -> seconds of the launchers' probe_data
    for job in jobs:
        if data_key(job) not in data_load_s:
            data_load_s[data_key(job)] = _timed(probe_data, job)
    out_alternatives = []
    chosen = None
    for place in (where, *alternatives):
        seconds = []
        for job, cfg in zip(jobs, cfgs):
            group = group_key(cfg, place.threads)
            if group not in probes:
                probes[group] = probe(job.overrides, cfg, place.threads)
            p = probes[group]
            packed = place.jobs_per_gpu if gpus else 1
            run_s = p.fixed_s + packed * (predict(cfg, p) - p.fixed_s)
            seconds.append(run_s + (start_s if place.new_process else 0.0))
        # The launcher loads each dataset once before its first job (runner.probe_data), timed here.
        data_s = sum(data_load_s.values())
        # A worker interpreter pays the imports in each job; inline, the sweep's own process pays them
        # once, in its first job (the command imports no torch before).
        wall = data_s + wall_time(seconds, place.slots) + (0.0 if place.new_process else start_s)
        if chosen is None:
            chosen = (place, seconds, wall)
        else:
            out_alternatives.append({"launcher": place.label(), "wall_seconds": round(wall, 1)})
    place, seconds, wall = chosen
    share = (1 / place.jobs_per_gpu) if gpus else ((place.threads or cores) / cores)
    options = [{"launcher": place.label(), "wall_seconds": round(wall, 1)}, *out_alternatives]
    return {"jobs": [{"name": job.name, "seconds": round(s, 1)} for job, s in zip(jobs, seconds)],
            "job_seconds": round(sum(seconds), 1), "wall_seconds": round(wall, 1),
            "device_hours": round(sum(seconds) * share / 3600, 3), "device": "GPU" if gpus else "CPU",
            "launcher": place.label(), "start_s": round(start_s, 2),
            "probes": [vars(p) for p in probes.values()], "alternatives": out_alternatives,
            "recommended": min(options, key=lambda o: o["wall_seconds"])["launcher"]}


def cpu_alternatives(where: Placement, cores: int, gpus: int) -> list[Placement]:
    """On a CPU machine, the other ways to run a sweep here: inline, and `--parallel N` for each N
    that divides the cores (N jobs of cores // N threads)."""
    if gpus or where.launcher == "slurm":
        return []
    options = [Placement("inline", 1, None, False)] + [
        Placement("local", n, cores // n, True) for n in range(2, cores + 1) if cores % n == 0]
    return [p for p in options if (p.launcher, p.slots) != (where.launcher, where.slots)]


def render(result: dict, sweep: str) -> str:
    lines = [f"sweep {sweep}: estimate for {len(result['jobs'])} jobs on this machine ({result['device']}, "
             f"{result['launcher']})"]
    width = max((len(j["name"]) for j in result["jobs"]), default=0)
    lines += [f"  {j['name']:<{width}}  {j['seconds']:>9.1f} s" for j in result["jobs"]]
    lines.append(f"jobs: {result['job_seconds']:.0f} s in all; wall time: {result['wall_seconds']:.0f} s "
                 f"({result['wall_seconds'] / 3600:.2f} h); {result['device']}-hours: {result['device_hours']:.3f}")
    for alt in result["alternatives"]:
        lines.append(f"  {alt['launcher']}: wall time {alt['wall_seconds']:.0f} s")
    if result["alternatives"]:
        lines.append(f"fastest here: {result['recommended']}")
    lines.append("(predicted at max_epochs; no job was run and no job directory written)")
    return "\n".join(lines)
