"""Aggregation over seeds: one row per (experiment, setting, method, config).

A row pools only runs whose configs (`Run.config`: the resolved config without the keys that never
change what is computed, and without the seed) are equal. Runs of one (setting, method) that differ
anywhere else (epochs, devices, any override) become separate rows; each such row names the keys
that differ (`Row.differs`: key -> this row's value). A key whose value is the run's own seed in
every run of the cell (data.shuffle_seed: ${seed}) counts as the seed.

`n` counts distinct seeds. A seed that completed twice in one row is flagged (`Row.duplicate_seeds`)
and only its first run (in run-directory order) is used: it is never averaged in twice.

Every row gets, for the final-epoch and the best-epoch test metrics, the mean and the sample
standard deviation (ddof = 1, `statistics.stdev`) over its seeds; with one seed the std is None
(shown as "-"). A metric that is null in a run (an empty shot group) is averaged over the runs that
have it.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from lossbench.report.collect import Collection, Run
from lossbench.results import ALL_SCALAR_TEST_METRICS, block_task

METRICS = tuple(ALL_SCALAR_TEST_METRICS)  # a binary task's among them (None for the others)


@dataclass
class Stat:
    mean: float | None
    std: float | None
    n: int


def stat(values) -> Stat:
    values = [float(v) for v in values if v is not None]
    if not values:
        return Stat(None, None, 0)
    return Stat(statistics.mean(values), statistics.stdev(values) if len(values) > 1 else None, len(values))


@dataclass
class Row:
    experiment: str
    setting: str
    method: str
    runs: list[Run]
    differs: dict[str, object] = field(default_factory=dict)  # keys that split this cell -> this row's value
    final: dict[str, Stat] = field(default_factory=dict)
    best: dict[str, Stat] = field(default_factory=dict)
    comparisons: list = field(default_factory=list)  # compare.Comparison, filled by compare.add_comparisons
    references: list = field(default_factory=list)   # compare.Reference, filled by compare.add_comparisons

    @property
    def label(self) -> str:
        """The method, plus the keys that set this row apart from the others of its cell."""
        if not self.differs:
            return self.method
        return f"{self.method} [{', '.join(f'{k}={v}' for k, v in self.differs.items())}]"

    @property
    def final_means(self) -> dict[str, float | None]:
        """The final block's mean of each metric over seeds (None where no seed has it): a results block's shape."""
        return {m: (s.mean if s.n else None) for m, s in self.final.items()}

    @property
    def completed(self) -> list[Run]:
        """One completed run per seed (the first in run-directory order)."""
        seen, out = set(), []
        for run in self.runs:
            if run.completed and run.seed not in seen:
                seen.add(run.seed)
                out.append(run)
        return out

    @property
    def duplicates(self) -> list[Run]:
        """Completed runs of a seed this row already has: flagged, not averaged."""
        kept = {id(r) for r in self.completed}
        return [r for r in self.runs if r.completed and id(r) not in kept]

    @property
    def duplicate_seeds(self) -> list:
        return sorted({r.seed for r in self.duplicates}, key=str)

    @property
    def failed(self) -> list[Run]:
        return [r for r in self.runs if not r.completed and not r.incomplete]

    @property
    def incomplete(self) -> list[Run]:
        return [r for r in self.runs if r.incomplete]

    @property
    def seeds(self) -> list:
        return sorted((r.seed for r in self.completed), key=str)

    @property
    def status(self) -> str:
        """'ok', 'data unavailable' (every run lacked its data), 'incomplete' (none finished, some
        still running or interrupted) or 'failed' (no run completed)."""
        if self.completed:
            return "ok"
        if self.runs and all(r.results.get("error_type") == "data_unavailable" for r in self.runs):
            return "data unavailable"
        if self.incomplete:
            return "incomplete"
        return "failed"


def block_values(runs: list[Run], which: str, metric: str) -> list:
    return [(r.results.get(which) or {}).get(metric) for r in runs if r.results.get(which)]


def _order(coll: Collection, runs: list[Run], attr: str) -> list[str]:
    """Methods/settings in the sweep's order where there is one, else in order of appearance."""
    names = list(dict.fromkeys(getattr(r, attr) for r in runs))
    declared = (coll.sweeps.get(runs[0].experiment) or {}).get(attr + "s") or []
    return sorted(names, key=lambda n: (declared.index(n) if n in declared else len(declared), names.index(n)))


def _seed_keys(runs: list[Run]) -> set[str]:
    """Keys whose value is the run's own seed in every run of the cell (e.g. data.shuffle_seed)."""
    keys = set.intersection(*(set(r.config) for r in runs)) if runs else set()
    return {k for k in keys if all(r.seed is not None and r.config.get(k) == r.seed for r in runs)}


def _fits(partial: dict, config: dict) -> bool:
    """A run known only by its overrides fits a full config that agrees on every key both have
    (an override like `data=cifar10` names a config group, not a key of the flattened config)."""
    return all(k not in config or repr(config[k]) == repr(v) for k, v in partial.items())


def split_by_config(runs: list[Run]) -> list[tuple[dict, list[Run]]]:
    """[(differing keys -> value, runs)]: runs grouped by equal configs (seed aside). A run without
    config.yaml (failed before writing it) joins the first group its overrides agree with."""
    seedlike = _seed_keys([r for r in runs if r.config_complete]) or _seed_keys(runs)
    groups: dict[tuple, list[Run]] = {}
    configs: dict[tuple, dict] = {}
    partial = []
    for run in runs:
        config = {k: v for k, v in run.config.items() if k not in seedlike}
        if not run.config_complete and any(r.config_complete for r in runs):
            partial.append((run, config))
            continue
        key = tuple(sorted((k, repr(v)) for k, v in config.items()))
        groups.setdefault(key, []).append(run)
        configs[key] = config
    for run, config in partial:
        home = next((key for key in groups if _fits(config, configs[key])), None)
        if home is None:
            home = ("overrides only",) + tuple(sorted((k, repr(v)) for k, v in config.items()))
            configs[home] = config
        groups.setdefault(home, []).append(run)
    if len(groups) == 1:
        return [({}, runs)]
    all_keys = set().union(*(set(c) for c in configs.values()))
    differing = sorted(k for k in all_keys if len({repr(c.get(k, "<absent>")) for c in configs.values()}) > 1)
    return [({k: configs[key].get(k, "<absent>") for k in differing}, group) for key, group in groups.items()]


def aggregate(coll: Collection) -> dict[str, list[Row]]:
    """experiment -> rows (setting-major, in the sweep's order)."""
    by_exp: dict[str, list[Run]] = {}
    for run in coll.runs:
        by_exp.setdefault(run.experiment, []).append(run)
    out = {}
    for exp, runs in by_exp.items():
        rows = []
        for setting in _order(coll, runs, "setting"):
            in_setting = [r for r in runs if r.setting == setting]
            for method in _order(coll, in_setting, "method"):
                cell = sorted((r for r in in_setting if r.method == method), key=lambda r: (str(r.seed), str(r.run_dir)))
                for differs, group in split_by_config(cell):
                    row = Row(exp, setting, method, sorted(group, key=lambda r: str(r.run_dir)), differs)
                    done = row.completed
                    row.final = {m: stat(block_values(done, "final", m)) for m in METRICS}
                    row.best = {m: stat(block_values(done, "best", m)) for m in METRICS}
                    rows.append(row)
        out[exp] = rows
    return out


def multilabel(rows: list[Row]) -> bool:
    """Whether these rows are a multi-label task's: its tables and plots show mAP and average precision
    where the others show accuracy."""
    return any(block_task(row.final_means) == "multilabel" for row in rows)
