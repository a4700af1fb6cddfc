"""Every use of Hydra's private modules and process-wide state, in one place, so that a Hydra
upgrade has one file to check.

  args_parser()            Hydra's own command-line parser (`hydra._internal.utils`)
  BASIC_LAUNCHER           the `_target_` of Hydra's in-process launcher
  first_batch_size(...)    how many jobs Hydra's basic sweeper starts together (its batch splitting)
  initialized(job_name)    Hydra's global state set up for lossbench's configs (and cleared after),
                           for `hydra.compose` outside `hydra.main`
  check_loader(...)        the same with a command's search path (-cd, hydra.searchpath): the config
                           loader the pre-run check asks about each override
  multirun facts           the multirun directory and the size of its first batch, which the
                           `MultirunDirectory` callback learns inside Hydra: `record_multirun` keeps
                           them in the environment (launchers' worker processes inherit it),
                           `take_multirun_dir()` hands the directory to the command that started the
                           multirun, `multirun_batch()` the batch size to a job that shares cores
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

BASIC_LAUNCHER = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"
MULTIRUN_DIR_ENV = "LOSSBENCH_MULTIRUN_DIR"
# The number of jobs of a multirun's batch: what submitit_local starts at once, all together.
MULTIRUN_BATCH_ENV = "LOSSBENCH_MULTIRUN_BATCH"


def args_parser():
    from hydra._internal.utils import get_args_parser

    return get_args_parser()


def first_batch_size(task_overrides: list[str], max_batch_size: int | None) -> int | None:
    """Jobs in a multirun's first batch, counted as Hydra's basic sweeper splits them; None when
    the overrides are another sweeper's syntax."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        overrides = OverridesParser.create().parse_overrides(list(task_overrides))
        batches = BasicSweeper.split_arguments(overrides, max_batch_size)
        return len(batches[0]) if batches else None
    except Exception:  # another sweeper's syntax: the count is only a thread-sharing hint
        return None


@contextlib.contextmanager
def initialized(job_name: str) -> Iterator[None]:
    """Hydra initialised on lossbench's configs for `hydra.compose` (cleared before and after)."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from lossbench.paths import CONF_DIR

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3", job_name=job_name):
            yield
    finally:
        GlobalHydra.instance().clear()


@contextlib.contextmanager
def check_loader(search_path) -> Iterator[object]:
    """Hydra initialised on `search_path` (see config_check.py); yields its config loader."""
    from hydra._internal.hydra import Hydra
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    Hydra.create_main_hydra2(task_name="check", config_search_path=search_path)
    try:
        yield GlobalHydra.instance().hydra.config_loader
    finally:
        GlobalHydra.instance().clear()


def config_search_path(primary: str):
    from hydra._internal.utils import create_config_search_path

    return create_config_search_path(primary)


def record_multirun(directory: str, batch: int | None) -> None:
    os.environ[MULTIRUN_DIR_ENV] = directory
    if batch:
        os.environ[MULTIRUN_BATCH_ENV] = str(batch)


def clear_multirun() -> None:
    os.environ.pop(MULTIRUN_DIR_ENV, None)
    os.environ.pop(MULTIRUN_BATCH_ENV, None)


def take_multirun_dir() -> str | None:
    """The directory of the multirun this process just ran (None: it ran none); the facts are cleared."""
    directory = os.environ.get(MULTIRUN_DIR_ENV)
    clear_multirun()
    return directory


def multirun_batch() -> int:
    """The size of the running multirun's first batch (0: unknown, or not in a multirun)."""
    return int(os.environ.get(MULTIRUN_BATCH_ENV) or 0)
