"""Checks of the command line before Hydra starts a job: a misspelled option or key is reported
with the available choices and the closest match, and no run directory is created."""
from __future__ import annotations

from lossbench.errors import UsageError, closest, closest_match
from lossbench.paths import CONF_DIR, CONFIG_GROUPS, group_options


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


def check_overrides(overrides: list[str]) -> None:
    """Raise UsageError for an unknown group option or an unknown key (Hydra would say less)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException as err:
        raise UsageError(f"cannot parse the overrides: {err}") from None

    first_values: list[str] = []
    for override in parsed:
        key = override.key_or_group
        if key in ("ckpt_path", "trainer.ckpt_path", "resume_from_checkpoint"):
            raise UsageError(f"{key} is not a lossbench key: a job resumes by itself when it is run again into its "
                             f"run directory with the same config (resume=auto, the default), e.g. `lossbench train "
                             f"<the same overrides> hydra.run.dir=DIR`; resume=never starts over.")
        if key in CONFIG_GROUPS and not override.is_delete():
            options = group_options(key)
            for value in _values(override):
                if value not in options:
                    raise UsageError(f"{key}={value} is not an option of the '{key}' group.{closest(value, options)} "
                                     f"Available: {', '.join(options)} (see `lossbench list {key}`).")
        values = _values(override)
        if override.is_sweep_override() and values:
            first_values.append(f"{override.get_key_element()}={values[0]}")
        elif not override.is_sweep_override():
            first_values.append(override.input_line)

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3", job_name="check"):
        try:
            compose("config", overrides=first_values)
        except (HydraException, OmegaConfBaseException) as err:
            bad = _unknown_key(str(err))
            if bad is None:
                raise UsageError(str(err).strip().replace("\n", " ")) from None
            group_only = [o for o in first_values if o.split("=", 1)[0].lstrip("+~") in CONFIG_GROUPS]
            keys = _flat_keys(compose("config", overrides=group_only))
            parent = bad.rsplit(".", 1)[0] + "." if "." in bad else ""
            siblings = [k for k in keys if k.startswith(parent) and k.count(".") == bad.count(".")]
            names = {k.rsplit(".", 1)[-1]: k for k in siblings or keys}  # compare the last components
            match = closest_match(bad.rsplit(".", 1)[-1], names)
            match = f" Did you mean {names[match]!r}?" if match else ""
            raise UsageError(f"'{bad}' is not a config key.{match} Keys there: "
                             f"{', '.join(siblings) if siblings else '(none)'}. Show the whole config with "
                             f"`lossbench train --cfg job`; add a new key only on purpose, with '+{bad}=...'.") from None
        finally:
            GlobalHydra.instance().clear()


def _unknown_key(message: str) -> str | None:
    """The key of Hydra's "Could not override 'x.y'" / "Key 'y' is not in struct" errors."""
    import re

    match = re.search(r"Could not (?:override|append to config|delete from config)\. An item is already at|"
                      r"Could not override '([^']+)'", message)
    if match and match.group(1):
        return match.group(1)
    match = re.search(r"full_key: ([\w.\[\]]+)", message)
    return match.group(1) if match and "not in struct" in message else None
