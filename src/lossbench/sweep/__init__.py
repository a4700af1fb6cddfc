"""`lossbench sweep NAME [overrides...] [--dry-run] [--smoke] [--dir DIR] [--launcher ...] [--status] [--estimate]`:
run a reproduction sweep defined in experiments/NAME.yaml (see spec.py for the format, launchers.py
for where jobs run, docs/SWEEPS.md for the user guide).

All jobs go into one sweep directory (default `${LOSSBENCH_RUNS:-runs}/sweeps/NAME`, with a
`-smoke` suffix for --smoke), one sub-directory per job; re-running the same command resumes:
finished jobs are skipped, interrupted ones continue from their last checkpoint. When the last job
ends the report (report.md, report.csv, report_stats.csv, plots/) is written into the sweep directory and its table
printed. Exit code: 0 when every job completed, 1 when some failed, 2 for bad input, 128 + N when
signal N stopped the sweep.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

from lossbench.errors import EXIT_USAGE, UsageError

USAGE = ("lossbench sweep NAME [overrides ...] [--dry-run] [--smoke] [--dir DIR] [--seeds 0,1] "
         "[--launcher inline|local|slurm] [--parallel N] [--status] [--estimate [--json]] [...]")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lossbench sweep", usage=USAGE, description=(
        "Run a reproduction sweep from experiments/ (`lossbench list experiments`), resumably, then write its "
        "report. Overrides (key=value) apply to every job, after the sweep's own."))
    p.add_argument("name", help="experiment name (or the path of a definition .yaml)")
    p.add_argument("overrides", nargs="*", help="Hydra overrides added to every job, e.g. trainer.max_epochs=5")
    p.add_argument("--dry-run", action="store_true", help="list the jobs (and check they compose); run nothing")
    p.add_argument("--smoke", action="store_true",
                   help="every method on tiny synthetic data for a couple of batches (one setting, one seed)")
    p.add_argument("--dir", type=Path, help="sweep directory (default: $LOSSBENCH_RUNS/sweeps/NAME)")
    p.add_argument("--seeds", help="comma-separated seeds instead of the sweep's, e.g. 0,1")
    p.add_argument("--methods", help="run only these methods (comma-separated names)")
    p.add_argument("--method", action="append", metavar="NAME=[OVERRIDES]",
                   help="add a method to the sweep, run under its recipe and settings and reported beside its "
                        "rows, e.g. --method 'Mine=[loss=mypkg.losses:MyLoss,loss.t=3]' (repeatable)")
    p.add_argument("--settings", help="run only these settings (comma-separated names)")
    p.add_argument("--launcher", default="inline",
                   help="inline (default: one job after another, here), local (--parallel N processes on this "
                        "machine) or slurm (a SLURM job array; settings: launcher.KEY=VALUE, conf/launcher/slurm.yaml)")
    p.add_argument("--parallel", type=int, help="local launcher: jobs at once (default: one per GPU slot, else 1)")
    p.add_argument("--jobs-per-gpu", type=int, help="local launcher: jobs that share one GPU (default 1)")
    p.add_argument("--status", action="store_true", help="print every job's state (done, running, interrupted, "
                   "failed, pending) and run nothing")
    p.add_argument("--estimate", action="store_true", help="predict each job's and the sweep's wall time and "
                   "device-hours on this machine from short probe runs, and the fastest --parallel; run no job")
    p.add_argument("--json", action="store_true", help="with --estimate: print the estimate as JSON")
    p.add_argument("--no-wait", action="store_true",
                   help="slurm launcher: submit and return; the last job to finish writes the report")
    p.add_argument("--no-report", action="store_true", help="do not write the report at the end")
    p.add_argument("--progress", action="store_true", help="show each job's progress bar")
    p.add_argument("--verbose", action="store_true", help="keep Lightning's own messages")
    return p


def _chosen(text: str | None, known, what: str) -> list[str] | None:
    from lossbench.errors import closest

    if text is None:
        return None
    names = [t.strip() for t in text.split(",") if t.strip()]
    for n in names:
        if n not in known:
            raise UsageError(f"--{what}: {n!r} is not one of this sweep's {what}.{closest(n, known)} "
                             f"Available: {', '.join(known)}.")
    return names


def default_dir(name: str, smoke: bool, overrides: list[str] = ()) -> Path:
    """<runs root>/sweeps/NAME: the root is a `runs_root=...` override, else LOSSBENCH_RUNS, else runs."""
    from lossbench.overrides import runs_root

    root, _ = runs_root(overrides, os.environ)
    return root / "sweeps" / (Path(name).stem + ("-smoke" if smoke else ""))


def plan(args: argparse.Namespace, recorded: dict[str, list[str]] | None = None):
    """(experiment, jobs) for the parsed command line; UsageError for bad input. `recorded`: the
    methods an earlier `--method` added to this sweep directory (its sweep.json), kept on re-runs."""
    from lossbench.sweep.spec import load_experiment, parse_method_option

    exp = load_experiment(args.name)
    added = dict(recorded or {})
    for text in args.method or []:
        name, overrides = parse_method_option(text)
        if name in added and added[name] != overrides and name not in (recorded or {}):
            raise UsageError(f"--method {name}=... is given twice; give each added method its own name.")
        added[name] = overrides
    if added:
        exp = exp.with_methods(added)
    for o in args.overrides:
        if o.startswith("launcher."):
            continue
        if "=" not in o:
            raise UsageError(f"{o!r} is not an override (key=value); see `lossbench sweep --help`.")
        if o.split("=", 1)[0].lstrip("+~") == "seed":
            raise UsageError("the sweep sets seed per job; choose seeds with --seeds 0,1,2 instead of seed=.")
    seeds = None
    if args.seeds is not None:
        try:
            seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
        except ValueError:
            seeds = []
        if not seeds:
            raise UsageError(f"--seeds={args.seeds!r}: give comma-separated integers, e.g. --seeds 0,1,2.")
    methods = _chosen(args.methods, list(exp.methods), "methods")
    settings = _chosen(args.settings, list(exp.settings), "settings")
    if args.smoke:
        seeds = seeds or exp.seeds[:1]
        settings = settings or exp.smoke_settings
    job_overrides = [o for o in args.overrides if not o.startswith("launcher.")]
    if not args.smoke:
        return exp, exp.jobs(job_overrides, seeds=seeds, settings=settings, methods=methods)
    # --smoke shrinks the experiment's jobs, then applies the command line's overrides: the user's
    # trainer.devices=2 stays, while the data and the epochs and batches remain smoke's.
    from lossbench.sweep.smoke import kept_in_smoke
    from lossbench.overrides import merge_overrides

    jobs = to_smoke(exp.jobs([], seeds=seeds, settings=settings, methods=methods))
    return exp, [replace(job, overrides=merge_overrides(job.overrides, kept_in_smoke(job_overrides),
                                                        [f"seed={job.seed}"])) for job in jobs]


def to_smoke(jobs):
    """The smoke version of each job (see smoke.py)."""
    from lossbench.sweep.compose import compose, data_classes, hydra_context
    from lossbench.sweep.smoke import smoke_overrides
    from lossbench.overrides import override_key

    smoked = []
    with hydra_context():
        synthetic_keys = set(compose(["data=synthetic"]).data.keys())
        classes: dict[str, tuple[int, str]] = {}
        model_keys: dict[str, frozenset] = {}
        for job in jobs:
            data = next((o for o in job.overrides if override_key(o) == "data"), "data=<default>")
            if data not in classes:
                classes[data] = data_classes(compose([o for o in job.overrides if override_key(o) == "data"]))
            model = next((o for o in job.overrides if override_key(o) == "model"), "model=<default>")
            if model not in model_keys:
                chosen = [o for o in job.overrides if override_key(o) == "model"]
                model_keys[model] = frozenset(compose(chosen).model.keys())
            num_classes, task = classes[data]
            smoked.append(replace(job, overrides=smoke_overrides(job.overrides, synthetic_keys, num_classes,
                                                                 model_keys[model], task=task)))
    return smoked


def _dry_run(exp, jobs, sweep_dir: Path) -> int:
    from lossbench.sweep.compose import validate

    methods = list(dict.fromkeys(j.method for j in jobs))
    settings = list(dict.fromkeys(j.setting for j in jobs))
    seeds = list(dict.fromkeys(j.seed for j in jobs))
    print(f"sweep {exp.name}: {len(jobs)} jobs = {len(methods)} methods x {len(settings)} settings x "
          f"{len(seeds)} seeds -> {sweep_dir}")
    for i, job in enumerate(jobs, 1):
        print(f"{i:>4}  {job.name}\n      {' '.join(job.overrides)}")
    validate(jobs)
    print(f"all {len(jobs)} jobs compose.")
    return 0


def recorded_methods(sweep_dir: Path) -> dict[str, list[str]]:
    """The methods `--method` added to the sweep in `sweep_dir` (its sweep.json), if any."""
    from lossbench.results import SWEEP_FILE, read_results

    added = (read_results(sweep_dir / SWEEP_FILE) or {}).get("added_methods")
    return {str(k): list(v) for k, v in added.items()} if isinstance(added, dict) else {}


def write_sweep_file(sweep_dir: Path, exp, jobs, smoke: bool, argv: list[str]) -> None:
    """sweep.json: the experiment and the jobs of this invocation (the report reads every
    results.json anyway; the last SLURM job reads this list to know the sweep is complete)."""
    from lossbench.results import SWEEP_FILE, write_json

    info = {**exp.as_dict(), "smoke": smoke, "command": "lossbench sweep " + " ".join(argv),
            "jobs": [{"job": j.name, "method": j.method, "setting": j.setting, "seed": j.seed,
                      "overrides": j.overrides} for j in jobs]}
    write_json(sweep_dir / SWEEP_FILE, info)


def launch_options(args: argparse.Namespace):
    """The LaunchOptions of the parsed command line; UsageError for bad values."""
    from lossbench.sweep.launchers import LaunchOptions, check_launcher
    from lossbench.sweep.slurm import load_slurm_config

    launcher = check_launcher(args.launcher)
    launcher_keys = [o for o in args.overrides if o.startswith("launcher.")]
    if launcher_keys and launcher != "slurm":
        raise UsageError(f"{launcher_keys[0]}: launcher.* settings are for --launcher slurm (conf/launcher/slurm.yaml).")
    if args.parallel is not None and args.parallel < 1:
        raise UsageError(f"--parallel {args.parallel}: give the number of jobs to run at once, 1 or more.")
    if launcher != "local" and (args.parallel is not None or args.jobs_per_gpu is not None):
        raise UsageError("--parallel and --jobs-per-gpu are for --launcher local (slurm: launcher.array_parallelism).")
    if args.jobs_per_gpu is not None:
        from lossbench.sweep.local import gpu_count, local_slots

        local_slots(args.parallel, args.jobs_per_gpu, gpu_count())
    return LaunchOptions(launcher=launcher, parallel=args.parallel, jobs_per_gpu=args.jobs_per_gpu,
                         slurm=load_slurm_config(launcher_keys) if launcher == "slurm" else {},
                         wait=not args.no_wait)


def _estimate(name: str, jobs, opts, as_json: bool) -> int:
    import json

    from lossbench.hardware import cpu_cores
    from lossbench.sweep.estimate import cpu_alternatives, estimate, placement, render
    from lossbench.sweep.local import gpu_count

    gpus, cores = gpu_count(), cpu_cores()
    where = placement(opts, gpus, cores)
    if not as_json:
        print(f"sweep {name}: timing {len(jobs)} jobs with short probe runs ...", file=sys.stderr, flush=True)
    result = estimate(jobs, where, gpus, cores, cpu_alternatives(where, cores, gpus))
    print(json.dumps(result, indent=2) if as_json else render(result, name))
    return 0


def sweep_jobs(exp, jobs, sweep_dir: Path, smoke: bool, progress: bool, verbose: bool, report: bool):
    """The SweepJob of each job: what any launcher runs."""
    from lossbench.sweep.runner import QUIET_OVERRIDES, SweepJob

    return [SweepJob(job=job, sweep=job.sweep_block(exp.name, smoke), job_dir=str((sweep_dir / job.name).resolve()),
                     launcher_overrides=() if progress else tuple(QUIET_OVERRIDES), verbose=verbose,
                     report_dir=str(sweep_dir.resolve()) if report else None)
            for job in jobs]


def main(args: list[str]) -> int:
    parsed = _parser().parse_intermixed_args(args)  # options and overrides in any order
    try:
        sweep_dir = parsed.dir or default_dir(parsed.name, parsed.smoke, parsed.overrides)
        exp, jobs = plan(parsed, recorded_methods(sweep_dir))
        if parsed.status:
            from lossbench.sweep.slurm import slurm_ids
            from lossbench.sweep.status import print_status

            print_status(exp.name, jobs, sweep_dir, slurm_ids(sweep_dir))
            return 0
        if parsed.dry_run:
            return _dry_run(exp, jobs, sweep_dir)
        opts = launch_options(parsed)
        from lossbench.sweep.compose import validate

        validate(jobs)
        if parsed.estimate:
            return _estimate(exp.name, jobs, opts, parsed.json)
        if parsed.json:
            raise UsageError("--json is for --estimate (the sweep's results are in its report.csv and results.json files).")
    except UsageError as err:
        print(f"lossbench: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    from lossbench.interrupts import JobInterrupted, stop_signals_recorded
    from lossbench.sweep.launchers import launch
    from lossbench.sweep.state import is_held

    try:
        sweep_dir.mkdir(parents=True, exist_ok=True)
        write_sweep_file(sweep_dir, exp, jobs, parsed.smoke, args)
    except OSError as err:
        print(f"lossbench: error: cannot write the sweep directory {sweep_dir} ({err.strerror}); choose a writable "
              f"one with --dir, runs_root=... or LOSSBENCH_RUNS.", file=sys.stderr)
        return EXIT_USAGE
    print(f"sweep {exp.name}: {len(jobs)} jobs into {sweep_dir} ({opts.launcher} launcher)", flush=True)
    specs = sweep_jobs(exp, jobs, sweep_dir, parsed.smoke, parsed.progress, parsed.verbose,
                       report=not parsed.no_report and opts.launcher == "slurm")
    started = time.time()
    try:
        with stop_signals_recorded() as stop:
            results = launch(specs, opts, sweep_dir, exp.name, lambda: stop.signum)
    except JobInterrupted as err:
        print(f"\nlossbench: sweep stopped ({err}); run the same command again to resume ({sweep_dir}).",
              file=sys.stderr)
        return err.exit_code
    except UsageError as err:
        print(f"lossbench: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    if stop.signum is not None:
        print(f"\nlossbench: sweep stopped by signal {stop.signum}; run the same command again to resume "
              f"({sweep_dir}).", file=sys.stderr)
        return 128 + stop.signum
    if opts.launcher == "slurm" and not opts.wait:
        print(f"results: {sweep_dir} (the last job writes the report; --status shows progress)")
        return 0
    done = sum(r.get("status") == "completed" for r in results)
    print(f"sweep {exp.name}: {done}/{len(results)} jobs completed in {time.time() - started:.0f} s", flush=True)
    held = [r for r in results if is_held(r)]
    failed = [r for r in results if r.get("status") != "completed" and not is_held(r)]
    if not parsed.no_report:
        from lossbench.report import build_report

        build_report(sweep_dir, print_table=True)
    print(f"results: {sweep_dir}")
    if not parsed.no_report:
        print(f"report:  {sweep_dir / 'report.md'} (and report.csv, report_stats.csv, plots/)")
    if held:
        print(f"lossbench: {len(held)} job(s) are held by another process and were left to it; the report "
              f"is complete once they end (`lossbench sweep {exp.name} --status`).", file=sys.stderr)
    if failed:
        unavailable = sum(r.get("error_type") == "data_unavailable" for r in failed)
        print(f"lossbench: {len(failed)} of {len(results)} jobs failed"
              + (f" ({unavailable} for data that could not be loaded)" if unavailable else "")
              + "; the report lists them with their reasons. Re-run the same command to retry them.",
              file=sys.stderr)
        return 1
    return 0
