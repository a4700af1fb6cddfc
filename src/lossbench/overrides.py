"""Override strings (`key=value`, `+key=value`, `~key`) and the names made from them: one leaf
module (it imports nothing from lossbench) that the CLI, the sweeps, the summary and the report
share, so that a key or a file name is read the same way everywhere."""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

DEFAULT_RUNS_ROOT = "runs"
RUNS_ENV = "LOSSBENCH_RUNS"


def override_key(override: str) -> str:
    """`loss.gamma` of `loss.gamma=2`, `+loss.gamma=2` or `~loss.gamma`."""
    return override.split("=", 1)[0].lstrip("+~")


def override_value(override: str) -> str | None:
    """The text after the first `=`, or None for an override without one (`~key`)."""
    return override.split("=", 1)[1] if "=" in override else None


def merge_overrides(*groups: Iterable[str]) -> list[str]:
    """Concatenate override lists; a later value of a key replaces the earlier one in place."""
    merged: dict[str, str] = {}
    for group in groups:
        for override in group:
            merged[override_key(override)] = override
    return list(merged.values())


def slug(text: str) -> str:
    """A file-name-safe form of a setting, method or experiment name (job directories, plot files)."""
    return re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9.+-]", "_", text)).strip("_") or "x"


def runs_root(overrides: Iterable[str], environ: Mapping[str, str]) -> tuple[Path, str]:
    """(the folder run and sweep directories go into, where that came from): the last `runs_root=...`
    override, else `environ`'s LOSSBENCH_RUNS, else `runs`. The caller passes the environment."""
    given = [override_value(o) for o in overrides if override_key(o) == "runs_root" and "=" in o]
    if given:
        return Path(given[-1]).expanduser(), "runs_root"
    if environ.get(RUNS_ENV):
        return Path(environ[RUNS_ENV]).expanduser(), RUNS_ENV
    return Path(DEFAULT_RUNS_ROOT), "runs_root (default)"
