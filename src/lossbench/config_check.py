"""Checks of the command line before Hydra starts a job: a misspelled option or key is reported
with the available choices and the closest match, and no run directory is created."""
from __future__ import annotations

from lossbench.errors import UsageError, closest, closest_match
from lossbench.paths import CONF_DIR, CONFIG_GROUPS


def _flat_keys(node, prefix: str = "") -> list[str]:
    from omegaconf import DictConfig

    keys = []
    for key in node.keys():
        full = f"{prefix}{key}"
        keys.append(full)
        child = node._get_node(key)
        if isinstance(child, DictConfig):
            keys += _flat_keys(child, full + ".")
    return keys


def _values(override) -> list[str]:
    if override.is_sweep_override():
        try:
            return [str(v) for v in override.sweep_string_iterator()]
        except Exception:  # interval sweeps have no finite list of values
            return []
    value = override.value()
    return [value] if isinstance(value, str) else []


# The top-level keys of the composed config that a job reads; anything else (`+experiment=demo`,
# `+foo=1`) would be trained past without effect, so it is an error.
READ_KEYS = ("data", "model", "loss", "optimizer", "scheduler", "trainer", "logger", "callbacks", "seed",
             "selection_metric", "resume", "runs_root")
# Trainer arguments that lossbench sets itself, from its own groups.
OWNED_TRAINER_KEYS = {
    "callbacks": "trainer.callbacks is set by lossbench (checkpoints, metrics.csv, progress). Add callbacks with the "
                 "callbacks group instead: callbacks=early_stopping, callbacks=[early_stopping,model_summary], or "
                 "your own with +callbacks.NAME._target_=package.Class (see `lossbench list callbacks`).",
    "logger": "trainer.logger is set by lossbench from the logger group: logger=tensorboard, "
              "'logger=[tensorboard,wandb]' (see `lossbench list loggers`).",
    "default_root_dir": "trainer.default_root_dir is the run directory: move it with hydra.run.dir=DIR.",
    "enable_checkpointing": "trainer.enable_checkpointing is always on: checkpoints/last.ckpt is what a job "
                            "resumes from.",
}
EXPERIMENT_HINT = ("lossbench has no experiment group: a named, resumable set of jobs (what experiment= is in "
                   "lightning-hydra-template) is `lossbench sweep NAME` (`lossbench list experiments`); a short "
                   "check of one config is debug=fdr|limit|overfit|profiler.")


def _search_path(config_dir: str | None, searchpath_overrides: list):
    """Hydra's search path for this command: lossbench's configs, `--config-dir` first (as Hydra
    puts it), then the `hydra.searchpath=[...]` additions."""
    import os

    from hydra.core.config_search_path import SearchPathQuery

    from lossbench.hydra_internals import config_search_path

    search_path = config_search_path(str(CONF_DIR))
    if config_dir is not None:
        path = os.path.abspath(config_dir)
        if not os.path.isdir(path):
            raise UsageError(f"--config-dir {config_dir}: no such directory.")
        search_path.prepend("command-line", f"file://{path}")
    for override in searchpath_overrides:
        value = override.value()
        for entry in value if isinstance(value, list) else [value]:
            entry = str(entry)
            # before Hydra's last entry, its structured-config schema, which must stay last
            search_path.prepend("searchpath", entry if "://" in entry else f"file://{os.path.abspath(entry)}",
                                anchor=SearchPathQuery(provider="schema"))
    return search_path


def check_overrides(overrides: list[str], config_dir: str | None = None, config_name: str | None = None) -> None:
    """Raise UsageError for an unknown group option, an unknown key, or a key nothing reads (Hydra
    would say less, or nothing). `config_dir` (-cd) and `hydra.searchpath` add the user's configs."""
    from hydra import compose
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import OverrideType
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException as err:
        raise UsageError(f"cannot parse the overrides: {err}") from None

    from lossbench.hydra_internals import check_loader

    search_path = _search_path(config_dir, [o for o in parsed if o.key_or_group == "hydra.searchpath"])
    with check_loader(search_path) as loader:
        first_values = _check_each(parsed, loader, OverrideType)
        cfg = _compose(compose, config_name or "config", first_values, HydraException, OmegaConfBaseException)
        for variant, where in _group_sweep_variants(parsed, first_values):
            try:
                _compose(compose, config_name or "config", variant, HydraException, OmegaConfBaseException)
            except UsageError as err:
                raise UsageError(f"in the multirun's jobs with {where}: {err}") from None
    _check_read(cfg, parsed)


def _check_each(parsed: list, loader, override_type) -> list[str]:
    """Check each override on its own; returns the overrides with each sweep at its first value."""
    first_values: list[str] = []
    for override in parsed:
        key = override.key_or_group
        if key in ("ckpt_path", "trainer.ckpt_path", "resume_from_checkpoint"):
            raise UsageError(f"{key} is not a lossbench key: a job resumes by itself when it is run again into its "
                             f"run directory with the same config (resume=auto, the default), e.g. `lossbench train "
                             f"<the same overrides> hydra.run.dir=DIR`; resume=never starts over.")
        if key == "experiment" or key.startswith("experiment."):
            raise UsageError(f"{override.input_line}: {EXPERIMENT_HINT}")
        adding = override.type in (override_type.ADD, override_type.FORCE_ADD)
        if adding and key in CONFIG_GROUPS:
            raise UsageError(f"{override.input_line}: '{key}' is a config group lossbench already has; choose its "
                             f"option without '+': {key}={override.input_line.split('=', 1)[-1]} "
                             f"(see `lossbench list {key}`).")
        if key.startswith("trainer.") and key.split(".")[1] in OWNED_TRAINER_KEYS:
            raise UsageError(OWNED_TRAINER_KEYS[key.split(".")[1]])
        if key in CONFIG_GROUPS and not override.is_delete():
            options = sorted(loader.get_group_options(key))
            for value in _values(override):
                if value not in options:
                    raise UsageError(f"{key}={value} is not an option of the '{key}' group.{closest(value, options)} "
                                     f"Available: {', '.join(options)} (see `lossbench list {key}`; your own "
                                     f"options go in <dir>/{key}/NAME.yaml with --config-dir <dir>).")
        values = _values(override)
        if override.is_sweep_override() and values:
            first_values.append(f"{override.get_key_element()}={values[0]}")
        elif not override.is_sweep_override():
            first_values.append(override.input_line)
    return first_values


def _group_sweep_variants(parsed: list, first_values: list[str]):
    """(overrides, "group=value") for each other value of a swept config group, the rest at their
    first values: `loss=focal,ce loss.gamma=2` must compose with ce too, or its job would fail in
    Hydra's own words after the others ran."""
    for override in parsed:
        if not (override.is_sweep_override() and override.key_or_group in CONFIG_GROUPS):
            continue
        values = _values(override)
        first = f"{override.get_key_element()}={values[0]}" if values else None
        for value in values[1:]:
            where = f"{override.get_key_element()}={value}"
            yield [where if o == first else o for o in first_values], where


def _compose(compose, config_name: str, first_values: list[str], hydra_error, omegaconf_error):
    try:
        return compose(config_name, overrides=first_values)
    except (hydra_error, omegaconf_error) as err:
        bad = _unknown_key(str(err))
        if bad is None:
            raise UsageError(str(err).strip().replace("\n", " ")) from None
        group_only = [o for o in first_values if o.split("=", 1)[0].lstrip("+~") in CONFIG_GROUPS]
        keys = _flat_keys(compose(config_name, overrides=group_only))
        parent = bad.rsplit(".", 1)[0] + "." if "." in bad else ""
        siblings = [k for k in keys if k.startswith(parent) and k.count(".") == bad.count(".")]
        names = {k.rsplit(".", 1)[-1]: k for k in siblings or keys}  # compare the last components
        match = closest_match(bad.rsplit(".", 1)[-1], names)
        match = f" Did you mean {names[match]!r}?" if match else ""
        raise UsageError(f"'{bad}' is not a config key.{match} Keys there: "
                         f"{', '.join(siblings) if siblings else '(none)'}. Show the whole config with "
                         f"`lossbench train --cfg job`; add a new key only on purpose, with '+{bad}=...'.") from None


def _check_read(cfg, parsed: list) -> None:
    """Every top-level key of the composed config is one a job reads (a `+` key or a user config
    may add others, which would have no effect)."""
    unread = [k for k in cfg.keys() if k not in READ_KEYS]
    if not unread:
        return
    key = unread[0]
    source = next((o.input_line for o in parsed if o.key_or_group.split(".")[0] == key), None)
    where = f"'{source}' adds" if source else "the composed config has"
    raise UsageError(f"{where} the top-level key '{key}', which nothing in lossbench reads: the job would run as if "
                     f"it were not there. The keys a job reads: {', '.join(READ_KEYS)}.{closest(key, READ_KEYS)} "
                     f"Settings of a group go below it (+trainer.KEY=..., +loss.KEY=...).")


def _unknown_key(message: str) -> str | None:
    """The key of Hydra's "Could not override 'x.y'" / "Key 'y' is not in struct" errors."""
    import re

    match = re.search(r"Could not (?:override|append to config|delete from config)\. An item is already at|"
                      r"Could not override '([^']+)'", message)
    if match and match.group(1):
        return match.group(1)
    match = re.search(r"full_key: ([\w.\[\]]+)", message)
    return match.group(1) if match and "not in struct" in message else None


def register_help_resolver() -> None:
    """`${lossbench_help_groups:}` of the --help template: each config group a user chooses from,
    with its options (Hydra's own list would show the internal loss_options group too)."""
    from omegaconf import OmegaConf

    from lossbench.paths import group_options

    def groups() -> str:
        return "\n".join(f"{g}: {', '.join(group_options(g))}" for g in CONFIG_GROUPS)

    OmegaConf.register_new_resolver("lossbench_help_groups", groups, replace=True)
