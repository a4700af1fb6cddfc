"""The `lossbench` command. Subcommands are dispatched by hand, with nothing heavy imported
until a subcommand needs it, so `lossbench --help` answers at once.

A first argument that is a Hydra override or flag (`loss=focal`, `-m`, `--cfg`) means `train`:
Lightning's DDP launcher re-runs the command line in each child process, and this keeps such a
command line a training job whatever form it takes.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from lossbench.errors import EXIT_USAGE, UsageError, closest, fail

HELP = """\
usage: lossbench <command> [args]

Config-driven experiment runner for comparing classification losses.

commands:
  train [overrides]    train and evaluate one job; Hydra overrides compose the config, e.g.
                       lossbench train loss=focal loss.gamma=1 data=cifar100_lt seed=1
                       -m/--multirun sweeps: lossbench train -m loss=ce,focal seed=0,1,2
                       --cfg job prints the composed config; `lossbench train --help` lists groups
  list GROUP           what a group offers: losses, data, models, optimizers, schedulers,
                       trainers, loggers, experiments; `list losses --task binary` those of a task
  sweep NAME [...]     run a reproduction sweep from experiments/ (resumable)
  inspect-loss [...]   a loss's properties, measured: lossbench inspect-loss loss=focal loss.gamma=2
                       (finite, gradcheck, proper, calibrated, symmetric, bounded, prior-dependent,
                       cost vs CE); --all for every shipped loss, --json, --markdown
  report DIR           aggregate results.json files under DIR into tables and plots
  doctor [--losses]    is this machine ready? versions, GPUs/CPU, precision and threads, datasets,
                       SLURM, W&B; --losses checks every loss on this device; --json

Every run writes config.yaml, metrics.csv, checkpoints/ and results.json in its own directory
(runs/ by default; LOSSBENCH_RUNS or runs_root=... moves it).
"""

LIST_GROUPS = {"losses": "loss", "loss": "loss", "data": "data", "datasets": "data", "models": "model",
               "model": "model", "optimizers": "optimizer", "optimizer": "optimizer", "schedulers": "scheduler",
               "scheduler": "scheduler", "trainers": "trainer", "trainer": "trainer", "loggers": "logger",
               "logger": "logger", "callbacks": "callbacks", "debug": "debug", "experiments": "experiments",
               "sweeps": "experiments"}


def _is_override(arg: str) -> bool:
    return "=" in arg or arg.startswith("-")


# -- train ---------------------------------------------------------------------------------------
def _job_task(outcomes: list):
    """The Hydra task function of one `lossbench train` command: Hydra's process-wide state is read
    here, at the edge, and handed to `run_job` as plain arguments."""

    def task(cfg) -> dict:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode
        from omegaconf import open_dict

        from lossbench.hydra_hooks import JobFailed
        from lossbench.hydra_internals import BASIC_LAUNCHER
        from lossbench.interrupts import JobInterrupted
        from lossbench.train import run_job

        hydra_cfg = HydraConfig.get()
        choices = dict(hydra_cfg.runtime.choices)
        overrides = list(hydra_cfg.overrides.task)
        multirun = hydra_cfg.mode == RunMode.MULTIRUN
        if multirun and "wandb" in (cfg.get("logger") or {}) and not cfg.logger.wandb.get("group"):
            with open_dict(cfg):  # one W&B group per multirun
                cfg.logger.wandb.group = Path(hydra_cfg.sweep.dir).name
        threads = _shared_threads(cfg, hydra_cfg.launcher) if multirun else None
        if threads is not None:
            with open_dict(cfg):  # trainer.threads is resume-neutral: a re-run may share differently
                cfg.trainer.threads = threads
        try:
            record = run_job(cfg, hydra_cfg.runtime.output_dir, choices=choices, overrides=overrides)
        except JobInterrupted as err:
            outcomes.append({"status": "interrupted", "exit_code": err.exit_code})
            print(f"lossbench: {err}. Run the same command again to resume.", file=sys.stderr)
            raise SystemExit(err.exit_code) from None
        outcomes.append(record)
        if record["status"] != "completed":
            hint = {"config": " Fix it in the overrides or the config (`lossbench list` shows the options).",
                    "diverged": f" (record: {record['run_dir']}/results.json)"}.get(
                record.get("error_type"), f" (traceback in {record['run_dir']}/results.json)")
            print(f"lossbench: job failed: {record['error']}{hint}", file=sys.stderr)
            if multirun and hydra_cfg.launcher.get("_target_") != BASIC_LAUNCHER:
                raise JobFailed(f"lossbench: job {record['run_dir']} failed: {record['error'].splitlines()[0]}")
        return record

    return task


def _shared_threads(cfg, launcher) -> int | None:
    """Torch threads for a job of a multirun whose launcher runs several at once on this machine
    (joblib, submitit_local): the cores divided among the jobs and their CPU ranks, so that the
    jobs never ask for more threads than there are cores. None: leave `trainer.threads` alone
    (set by the user, or one job at a time)."""
    from lossbench.hardware import cpu_cores, threads_per_process
    from lossbench.hydra_hooks import jobs_at_once
    from lossbench.hydra_internals import multirun_batch

    at_once = jobs_at_once(launcher, multirun_batch(), cpu_cores())
    if cfg.trainer.get("threads") is not None or at_once <= 1:
        return None
    devices = cfg.trainer.get("devices")
    ranks = devices if isinstance(devices, int) and devices > 1 else 1
    return threads_per_process(at_once * ranks)


def _check_runs_root(overrides: list[str], multirun: bool) -> None:
    """The folder run directories go into must be one this process can create and write."""
    from lossbench.overrides import runs_root

    root, where = runs_root(overrides, os.environ)
    if multirun and where == "runs_root" and "," in str(root):
        return  # a sweep over several roots: Hydra makes each
    try:
        root.mkdir(parents=True, exist_ok=True)
        writable = os.access(root, os.W_OK | os.X_OK)
    except OSError as err:
        raise UsageError(f"{where}={str(root)!r}: cannot create the folder for run directories ({err.strerror}). "
                         f"Point runs_root=... or LOSSBENCH_RUNS at a folder you can write.") from None
    if not writable:
        raise UsageError(f"{where}={str(root)!r} is not writable: run directories cannot be made there. Point "
                         f"runs_root=... or LOSSBENCH_RUNS at a folder you can write.")


def _exit_code(records: list[dict]) -> int:
    interrupted = [r for r in records if r.get("status") == "interrupted"]
    if interrupted:
        return int(interrupted[0].get("exit_code") or 130)
    failed = [r for r in records if r.get("status") != "completed"]
    if failed:
        return EXIT_USAGE if all(r.get("error_type") == "config" for r in failed) else 1
    return 0


def train(args: list[str]) -> int:
    from lossbench.hydra_internals import args_parser

    args = _own_losses_expanded(args)
    parsed = args_parser().parse_args(args)
    # Hydra's own modes take no job config: help, --info, -sc (its overrides are `install=bash`),
    # --experimental-rerun; under -cp Hydra finds the primary config itself and says what is wrong.
    if not (parsed.help or parsed.hydra_help or parsed.info or parsed.shell_completion
            or parsed.experimental_rerun or parsed.config_path):
        try:
            from lossbench.config_check import check_overrides

            check_overrides(parsed.overrides, config_dir=parsed.config_dir, config_name=parsed.config_name)
            if not parsed.cfg:
                _check_runs_root(parsed.overrides, parsed.multirun)
        except UsageError as err:
            fail(str(err))
    from lossbench.config_check import register_help_resolver

    register_help_resolver()  # for --help; registered always, so that any resolution of hydra.help works
    import hydra

    from lossbench.distributed import is_global_zero
    from lossbench.hydra_hooks import command_identity
    from lossbench.hydra_internals import clear_multirun, take_multirun_dir
    from lossbench.paths import CONF_DIR

    outcomes: list[dict] = []  # this command's jobs that ran in this process
    entry = hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")(_job_task(outcomes))
    saved_argv = list(sys.argv)  # hydra.main reads the overrides from sys.argv; the caller's is put back
    sys.argv = [saved_argv[0] if saved_argv else "lossbench", *args, *_srun_rank_outputs(parsed.multirun)]
    exit_code = None
    clear_multirun()
    try:
        with command_identity():
            entry()
    except SystemExit as err:  # Hydra's own exit after a failed job under another launcher
        exit_code = err.code if isinstance(err.code, int) else 1
    finally:
        sys.argv = saved_argv
    multirun_dir = take_multirun_dir()
    if parsed.cfg in ("job", "all") and not parsed.multirun:  # Hydra printed the config: say what auto means here
        from lossbench.train import precision_note

        print(precision_note(parsed.overrides))
    if not is_global_zero():  # a DDP child: rank 0 reports
        return _exit_code(outcomes) if exit_code is None else exit_code
    if parsed.multirun and multirun_dir:
        return _multirun_summary(Path(multirun_dir), exit_code)
    if exit_code is not None and not outcomes:
        return exit_code
    if len(outcomes) == 1 and outcomes[0]["status"] == "completed":
        from lossbench.summary import print_table

        print_table(outcomes, f"lossbench run: {outcomes[0]['run_dir']}")
        print(f"results: {outcomes[0]['run_dir']}/results.json")
    return _exit_code(outcomes) if exit_code is None else exit_code


def _own_losses_expanded(args: list[str]) -> list[str]:
    """`loss=pkg.module:Name` (or an installed plugin's name) as the config it stands for
    (losses/external.py); a config option of that name in --config-dir/-cd wins over a plugin."""
    from lossbench.losses.external import expand_loss_overrides
    from lossbench.paths import group_options

    options = set(group_options("loss"))
    for flag, folder in zip(args, args[1:]):
        if flag in ("-cd", "--config-dir"):
            options |= {p.stem for p in (Path(folder) / "loss").glob("*.yaml")}
    return expand_loss_overrides(args, options)


def _srun_rank_outputs(multirun: bool) -> list[str]:
    """Hydra settings for a task of an `srun` step other than rank 0: it shares rank 0's run
    directory, so it leaves .hydra/ to rank 0 and logs to a file of its own (as Lightning does for
    the DDP children it starts: train_ddp_process_N.log)."""
    from lossbench.distributed import global_rank, srun_tasks

    rank = global_rank()
    if multirun or srun_tasks() <= 1 or rank == 0:
        return []
    return ["hydra.output_subdir=null", f"hydra.job.name=train_srun_rank{rank}"]


def _multirun_summary(multirun_dir: Path, exit_code: int | None) -> int:
    """The end-of-multirun table, read from the jobs' results.json (whichever process ran them)."""
    from lossbench.results import RESULTS_FILE, read_results
    from lossbench.summary import print_table

    records = []
    for path in sorted(multirun_dir.glob(f"*/{RESULTS_FILE}"), key=lambda p: _job_number(p.parent.name)):
        record = read_results(path)
        records.append(record if isinstance(record, dict) else
                       {"status": "failed", "error": f"{path} is unreadable", "run_dir": str(path.parent)})
    if records:
        print_table(records, "lossbench multirun: test metrics")
        print(f"results: {multirun_dir}")
    code = _exit_code(records)
    return code if code or exit_code is None else exit_code


def _job_number(name: str) -> int:
    head = name.split("_", 1)[0]
    return int(head) if head.isdigit() else 1 << 30


# -- list ------------------------------------------------------------------------------------------
def list_group(args: list[str]) -> int:
    from lossbench.paths import CONF_DIR, EXPERIMENTS_DIR, group_options, yaml_description
    from lossbench.tasks import TASKS

    task = None
    if len(args) == 3 and args[1] == "--task" and LIST_GROUPS.get(args[0]) == "loss":
        task, args = args[2], args[:1]
        if task not in TASKS:
            fail(f"--task {task}: the tasks are {', '.join(TASKS)}.{closest(task, TASKS)}")
    if len(args) != 1 or args[0] not in LIST_GROUPS:
        what = args[0] if args else ""
        fail(f"`lossbench list` takes one of: {', '.join(sorted(set(LIST_GROUPS) - set(LIST_GROUPS.values())))}."
             f"{closest(what, LIST_GROUPS) if what else ''}")
    group = LIST_GROUPS[args[0]]
    paths = (sorted(EXPERIMENTS_DIR.glob("*.yaml")) if group == "experiments"
             else [CONF_DIR / group / f"{name}.yaml" for name in group_options(group)])
    if task is not None:
        from lossbench.losses import list_losses

        paths = [p for p in paths if p.stem in list_losses(task)]
    plugins = _plugin_losses({p.stem for p in paths}) if group == "loss" and task is None else {}
    width = max((len(name) for name in [*(p.stem for p in paths), *plugins]), default=0)
    for path in paths:
        line = f"{path.stem:<{width}}  {yaml_description(path)}"
        if group == "loss":
            line += _loss_params(path)
        print(line)
    for name, path in plugins.items():
        print(f"{name:<{width}}  {_plugin_line(path)}")
    return 0


def _plugin_losses(shipped: set[str]) -> dict[str, str]:
    """Installed plugin losses (entry-point group lossbench.losses) that no shipped config shadows."""
    from lossbench.losses.external import plugins

    return {name: path for name, path in sorted(plugins().items()) if name not in shipped}


def _plugin_line(path: str) -> str:
    """A plugin's line: where it comes from, its first docstring line, its parameters with defaults."""
    from lossbench.losses.external import describe_target

    try:
        doc, params = describe_target(path)
    except ValueError as err:
        return f"(plugin {path}: cannot be imported: {err})"
    shown = ", ".join(f"{k}={v}" for k, v in params.items())
    return f"{doc} (plugin {path})" + (f"  [{shown}]" if shown else "")


def _loss_params(path) -> str:
    import yaml

    from lossbench.losses import get_loss_class

    fields = yaml.safe_load(path.read_text()) or {}
    params = {k: v for k, v in fields.items() if k not in ("defaults", "_target_")}
    needs = sorted(get_loss_class(path.stem).needs)  # inputs beyond (logits, targets)
    learned = _learned_count(get_loss_class(path.stem), params)
    tasks = sorted(get_loss_class(path.stem).tasks)
    return ((f"  [{', '.join(f'{k}={v}' for k, v in params.items())}]" if params else "")
            + (f"  task: {', '.join(tasks)}" if tasks != ["multiclass"] else "")
            + (f"  needs: {', '.join(needs)}" if needs else "")
            + (f"  learned: {learned} parameters (at C=10)" if learned else ""))


def _learned_count(loss_class, params: dict) -> int:
    """How many numbers a loss trains with the network, built at its defaults for 10 classes."""
    from lossbench.inspect_loss import long_tail_counts
    from lossbench.losses.base import learned_parameters

    try:
        loss = loss_class(num_classes=10, class_counts=long_tail_counts(10), **params)
    except (TypeError, ValueError):  # a config value that needs the job (an interpolation): not counted
        return 0
    return sum(p.numel() for p in learned_parameters(loss))


# -- dispatch --------------------------------------------------------------------------------------
def _sweep(args: list[str]) -> int:
    from lossbench.sweep import main as sweep_main

    return sweep_main(args)


def _report(args: list[str]) -> int:
    from lossbench.report import main as report_main

    return report_main(args)


def _inspect_loss(args: list[str]) -> int:
    from lossbench.inspect_command import main as inspect_main

    return inspect_main(args)


def _doctor(args: list[str]) -> int:
    from lossbench.doctor import main as doctor_main

    return doctor_main(args)


COMMANDS = {"train": train, "list": list_group, "sweep": _sweep, "report": _report, "inspect-loss": _inspect_loss,
            "doctor": _doctor}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(HELP, end="")
        return 0
    if args[0] == "--version":
        from lossbench import __version__

        print(f"lossbench {__version__}")
        return 0
    command = args[0]
    if command in COMMANDS:
        return COMMANDS[command](args[1:])
    if _is_override(command):
        return train(args)
    fail(f"unknown command {command!r}.{closest(command, COMMANDS)} Commands: {', '.join(COMMANDS)}; "
         f"see `lossbench --help`.")
    return EXIT_USAGE


def run() -> None:
    """Console-script entry point."""
    try:
        sys.exit(main())
    except BrokenPipeError:  # `lossbench list losses | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
