"""The `lossbench` command. Subcommands are dispatched by hand, with nothing heavy imported
until a subcommand needs it, so `lossbench --help` answers at once.

A first argument that is a Hydra override or flag (`loss=focal`, `-m`, `--cfg`) means `train`:
Lightning's DDP launcher re-runs the command line in each child process, and this keeps such a
command line a training job whatever form it takes.
"""
from __future__ import annotations

import os
import sys

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
                       trainers, loggers, experiments
  sweep NAME [...]     run a reproduction sweep from experiments/ (resumable)
  report DIR           aggregate results.json files under DIR into tables and plots

Every run writes config.yaml, metrics.csv, checkpoints/ and results.json in its own directory
(runs/ by default; LOSSBENCH_RUNS or runs_root=... moves it).
"""

LIST_GROUPS = {"losses": "loss", "loss": "loss", "data": "data", "datasets": "data", "models": "model",
               "model": "model", "optimizers": "optimizer", "optimizer": "optimizer", "schedulers": "scheduler",
               "scheduler": "scheduler", "trainers": "trainer", "trainer": "trainer", "loggers": "logger",
               "logger": "logger", "experiments": "experiments", "sweeps": "experiments"}


def _is_override(arg: str) -> bool:
    return "=" in arg or arg.startswith("-")


# -- train ---------------------------------------------------------------------------------------
_job_results: list[dict] = []


def _job(cfg) -> None:
    from lossbench.train import run_job

    results = run_job(cfg)
    _job_results.append(results)
    if results["status"] != "completed":
        hint = (" Fix it in the overrides or the config (`lossbench list` shows the options)."
                if results.get("error_type") == "config" else f" (traceback in {results['run_dir']}/results.json)")
        print(f"lossbench: job failed: {results['error']}{hint}", file=sys.stderr)


def _register_resolvers() -> None:
    import os
    import uuid

    from omegaconf import OmegaConf

    uid = uuid.uuid4().hex[:6]  # one per process: the run (or sweep) directory's unique suffix
    if not OmegaConf.has_resolver("lossbench_uid"):
        OmegaConf.register_new_resolver("lossbench_uid", lambda: os.environ.get("LOSSBENCH_UID", uid))


def train(args: list[str]) -> int:
    from hydra._internal.utils import get_args_parser

    parsed = get_args_parser().parse_args(args)
    if not (parsed.help or parsed.hydra_help or parsed.info):
        try:
            from lossbench.config_check import check_overrides

            check_overrides(parsed.overrides)
        except UsageError as err:
            fail(str(err))
    import hydra

    from lossbench.paths import CONF_DIR

    _register_resolvers()
    entry = hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")(_job)
    prog = sys.argv[0]
    sys.argv = [prog, *args]
    try:
        entry()
    finally:
        sys.argv = [prog, "train", *args]
    if os.environ.get("LOCAL_RANK", "0") != "0":  # a DDP child: rank 0 reports
        return 0 if all(r["status"] == "completed" for r in _job_results) else 1
    if parsed.multirun and _job_results:
        from lossbench.summary import print_table

        print_table(_job_results, "lossbench multirun: test metrics")
    elif len(_job_results) == 1 and _job_results[0]["status"] == "completed":
        from lossbench.summary import print_table

        print_table(_job_results, f"lossbench run: {_job_results[0]['run_dir']}")
        print(f"results: {_job_results[0]['run_dir']}/results.json")
    failed = [r for r in _job_results if r["status"] != "completed"]
    if failed:
        return EXIT_USAGE if all(r.get("error_type") == "config" for r in failed) else 1
    return 0


# -- list ------------------------------------------------------------------------------------------
def list_group(args: list[str]) -> int:
    from lossbench.paths import CONF_DIR, EXPERIMENTS_DIR, yaml_description

    if len(args) != 1 or args[0] not in LIST_GROUPS:
        what = args[0] if args else ""
        fail(f"`lossbench list` takes one of: {', '.join(sorted(set(LIST_GROUPS) - set(LIST_GROUPS.values())))}."
             f"{closest(what, LIST_GROUPS) if what else ''}")
    group = LIST_GROUPS[args[0]]
    folder = EXPERIMENTS_DIR if group == "experiments" else CONF_DIR / group
    paths = sorted(folder.glob("*.yaml"))
    width = max((len(p.stem) for p in paths), default=0)
    for path in paths:
        line = f"{path.stem:<{width}}  {yaml_description(path)}"
        if group == "loss":
            line += _loss_params(path)
        print(line)
    return 0


def _loss_params(path) -> str:
    import yaml

    from lossbench.losses import get_loss_class

    fields = yaml.safe_load(path.read_text()) or {}
    params = {k: v for k, v in fields.items() if k not in ("defaults", "_target_")}
    needs = sorted(get_loss_class(path.stem).needs)  # inputs beyond (logits, targets)
    return ((f"  [{', '.join(f'{k}={v}' for k, v in params.items())}]" if params else "")
            + (f"  needs: {', '.join(needs)}" if needs else ""))


# -- dispatch --------------------------------------------------------------------------------------
def _sweep(args: list[str]) -> int:
    from lossbench.sweep import main as sweep_main

    return sweep_main(args)


def _report(args: list[str]) -> int:
    from lossbench.report import main as report_main

    return report_main(args)


COMMANDS = {"train": train, "list": list_group, "sweep": _sweep, "report": _report}


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
    sys.exit(main())
