"""Sweep definitions (`experiments/NAME.yaml`): loading, validation, and expansion into jobs.

A definition holds, besides its opening comment (the question, the paper, the command, the run time):

  title:    one line for the report
  fixed:    overrides every job gets, e.g. [model=resnet32, optimizer.lr=0.1, trainer.max_epochs=200]
  settings: the data conditions: a mapping NAME -> overrides, or a list of such mappings (axes) whose
            product is taken; a product setting is named by its parts joined with a space
            ("C10-LT rho=100").
  methods:  NAME -> overrides, or NAME -> {overrides: [...], when: {AXIS_VALUE: [...]},
            param: {key: loss.epsilon, values: [-1, 0, 1]}}. `when` adds overrides in the settings
            that have that axis value (the loss parameters of a reference config per dataset);
            `param` expands the method into one method per value, named "NAME key=value".
  seeds:    [0, 1, 2]
  significance: optional, the level of the report's tests and intervals against the baseline (0.05: 95%;
            0.01 where the paper tests at 99%).
  smoke:    optional {settings: [...]} -- the settings `--smoke` keeps (default: the first one).
  expected: the published numbers (one block or a list of blocks): source, metric, form, epoch, note,
            values (method -> setting -> number or [mean, std]), unpublished (methods the paper lacks),
            references (label -> number in the block's form, the same in every setting: a line that is
            no method, e.g. the Bayes-optimal error of a synthetic distribution), baseline (the method
            the others are compared with, where it is not called CE or ERM).

The grid is not a cartesian product of loss parameters: every method carries its own. Job
overrides are merged fixed -> setting -> method -> method.when -> command line -> seed, a later value
of the same key replacing an earlier one.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

from lossbench.errors import UsageError, closest
from lossbench.overrides import merge_overrides, slug

FORMS = ("error_percent", "percent", "fraction")
EPOCHS = ("best", "final")
TOP_KEYS = {"title", "fixed", "settings", "methods", "seeds", "smoke", "expected", "significance"}


@dataclass(frozen=True)
class Job:
    """One job of a sweep: its identity. Immutable; a changed job is a new one (dataclasses.replace)."""
    method: str
    setting: str
    seed: int
    overrides: list[str]
    param: dict | None = None  # {"key": "loss.epsilon", "value": 1.0} for a parameter-grid method

    @property
    def name(self) -> str:
        """The job's directory name: deterministic, so a re-run finds (and skips) finished jobs."""
        return f"{slug(self.setting)}__{slug(self.method)}__seed{self.seed}"

    def sweep_block(self, sweep: str, smoke: bool) -> dict:
        """The `sweep` block of the job's results.json."""
        block = {"name": sweep, "method": self.method, "setting": self.setting, "job": self.name,
                 "seed": self.seed, "overrides": list(self.overrides), "smoke": smoke}
        if self.param:
            block["param"] = dict(self.param)
        return block


@dataclass
class Experiment:
    name: str
    path: Path
    header: list[str]
    title: str
    fixed: list[str]
    axes: list[dict[str, list[str]]]
    methods: dict[str, dict]  # expanded: name -> {"overrides", "when", "param"}
    seeds: list[int]
    smoke_settings: list[str]
    expected: list[dict] = field(default_factory=list)
    added: dict[str, list[str]] = field(default_factory=dict)  # methods `--method` added: name -> overrides
    significance: float = 0.05  # the report's test level against the baseline

    @property
    def settings(self) -> dict[str, tuple[list[str], tuple[str, ...]]]:
        """Setting name -> (overrides, the axis values it is made of)."""
        out = {}
        for combo in itertools.product(*(list(axis.items()) for axis in self.axes)):
            parts = tuple(name for name, _ in combo)
            out[" ".join(parts)] = ([o for _, overrides in combo for o in overrides], parts)
        return out

    def jobs(self, extra: list[str] = (), seeds: list[int] | None = None, settings: list[str] | None = None,
             methods: list[str] | None = None) -> list[Job]:
        """Every job of the grid, seed-major (so an interrupted sweep already has whole seeds)."""
        all_settings = self.settings
        jobs = []
        for seed in self.seeds if seeds is None else seeds:
            for setting, (set_overrides, parts) in all_settings.items():
                if settings is not None and setting not in settings:
                    continue
                for method, spec in self.methods.items():
                    if methods is not None and method not in methods:
                        continue
                    when = [o for part in parts for o in spec["when"].get(part, [])]
                    merged = merge_overrides(self.fixed, set_overrides, spec["overrides"], when, list(extra),
                                             [f"seed={seed}"])
                    jobs.append(Job(method, setting, int(seed), merged, spec["param"]))
        return jobs

    def as_dict(self) -> dict:
        return {"name": self.name, "title": self.title, "header": self.header, "fixed": self.fixed,
                "settings": list(self.settings), "methods": list(self.methods), "seeds": self.seeds,
                "expected": self.expected, "added_methods": dict(self.added), "significance": self.significance}

    def with_methods(self, added: dict[str, list[str]]) -> Experiment:
        """This experiment with `added` methods (name -> overrides), run under its fixed recipe and
        settings and listed in each `expected:` block as unpublished (ours, beside the paper's
        rows and gap to CE). UsageError for a name the experiment already has."""
        import dataclasses

        for name in added:
            if name in self.methods and self.added.get(name) != added[name]:
                raise UsageError(f"--method {name}=...: this sweep already has a method named {name!r} "
                                 f"({' '.join(self.methods[name]['overrides'])}); give yours another name.")
        new = {n: o for n, o in added.items() if n not in self.methods}
        methods = {**self.methods, **{n: {"overrides": list(o), "when": {}, "param": None} for n, o in new.items()}}
        expected = [{**b, "unpublished": [*(b.get("unpublished") or []), *new]} for b in self.expected]
        return dataclasses.replace(self, methods=methods, expected=expected, added={**self.added, **new})


# -- loading --------------------------------------------------------------------------------------
def experiment_path(name: str) -> Path:
    """The YAML of a shipped experiment, or a path to a user's own definition."""
    from lossbench.paths import EXPERIMENTS_DIR

    if name.endswith((".yaml", ".yml")) and Path(name).is_file():
        return Path(name)
    path = EXPERIMENTS_DIR / f"{name}.yaml"
    if not path.is_file():
        names = sorted(p.stem for p in EXPERIMENTS_DIR.glob("*.yaml"))
        raise UsageError(f"no experiment named {name!r}.{closest(name, names)} Shipped experiments: "
                         f"{', '.join(names)} (see `lossbench list experiments`); or pass the path of a "
                         f"definition file ending in .yaml.")
    return path


def load_experiment(name: str) -> Experiment:
    import yaml

    path = experiment_path(name)
    text = path.read_text()
    header = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        header.append(line.lstrip("#").strip())
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        raise UsageError(f"{path}: not valid YAML ({err}).") from None
    return parse_experiment(raw, path.stem, path, header)


def parse_method_option(text: str) -> tuple[str, list[str]]:
    """`NAME=[override,override,...]` (the value of `lossbench sweep --method`) as (NAME, overrides);
    commas inside brackets (scheduler.milestones=[1,2]) stay within their override."""
    name, sep, rest = text.partition("=")
    rest = rest.strip()
    if not (sep and name.strip() and rest.startswith("[") and rest.endswith("]")):
        raise UsageError(f"--method {text!r}: give NAME=[override,...], e.g. --method 'Mine=[loss=mypkg.losses:MyLoss,"
                         f"loss.t=3]' (quoted for the shell).")
    overrides, depth, current = [], 0, ""
    for ch in rest[1:-1]:
        depth += {"[": 1, "]": -1, "(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            overrides.append(current.strip())
            current = ""
        else:
            current += ch
    overrides = [o for o in [*overrides, current.strip()] if o]
    if not overrides or not all("=" in o for o in overrides):
        raise UsageError(f"--method {text!r}: each entry in the brackets is an override key=value.")
    return name.strip(), overrides


def _fail(where: str, message: str) -> UsageError:
    return UsageError(f"experiment {where}: {message}")


def _override_list(value, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and "=" in v for v in value):
        raise _fail(where, f"expected a list of overrides like [loss=focal, loss.gamma=1.0], got {value!r}.")
    return list(value)


def _axis(value, where: str) -> dict[str, list[str]]:
    if not isinstance(value, dict) or not value:
        raise _fail(where, "settings must map setting names to override lists.")
    return {str(k): _override_list(v, f"{where}: setting {k!r}") for k, v in value.items()}


def _method(name: str, value, where: str, axis_values: set[str]) -> dict[str, dict]:
    if isinstance(value, list) or value is None:
        return {name: {"overrides": _override_list(value, where), "when": {}, "param": None}}
    if not isinstance(value, dict) or not set(value) <= {"overrides", "when", "param"}:
        raise _fail(where, "a method is a list of overrides or {overrides: [...], when: {...}, param: {...}}.")
    when = value.get("when") or {}
    if not isinstance(when, dict):
        raise _fail(where, "`when` maps setting (axis value) names to override lists.")
    for key in when:
        if key not in axis_values:
            raise _fail(where, f"`when` names {key!r}, which is not a setting.{closest(str(key), axis_values)}")
    spec = {"overrides": _override_list(value.get("overrides"), where),
            "when": {str(k): _override_list(v, f"{where}: when {k!r}") for k, v in when.items()}, "param": None}
    param = value.get("param")
    if param is None:
        return {name: spec}
    if not isinstance(param, dict) or set(param) != {"key", "values"} or not isinstance(param["values"], list):
        raise _fail(where, "`param` is {key: loss.NAME, values: [v1, v2, ...]}.")
    key = str(param["key"])
    out = {}
    for v in param["values"]:
        label = f"{name} {key.rsplit('.', 1)[-1]}={v}"
        out[label] = {"overrides": merge_overrides(spec["overrides"], [f"{key}={v}"]), "when": spec["when"],
                      "param": {"key": key, "value": v}}
    return out


def _expected(value, where: str, methods: dict, settings: dict) -> list[dict]:
    if value is None:
        return []
    blocks = value if isinstance(value, list) else [value]
    out = []
    for i, block in enumerate(blocks):
        at = f"{where}: expected[{i}]"
        if not isinstance(block, dict):
            raise _fail(at, "each expected block is a mapping.")
        missing = {"source", "metric", "form", "epoch"} - set(block)
        if missing:
            raise _fail(at, f"missing {', '.join(sorted(missing))} (source, metric, form, epoch, values).")
        if block["form"] not in FORMS:
            raise _fail(at, f"form={block['form']!r} is not one of {', '.join(FORMS)}.")
        if block["epoch"] not in EPOCHS:
            raise _fail(at, f"epoch={block['epoch']!r} is not one of {', '.join(EPOCHS)}.")
        values = block.get("values") or {}
        for method, row in values.items():
            if method not in methods:
                raise _fail(at, f"values name method {method!r}, not in methods.{closest(str(method), methods)}")
            for setting, number in (row or {}).items():
                if setting not in settings:
                    raise _fail(at, f"values[{method!r}] name setting {setting!r}, not a setting."
                                    f"{closest(str(setting), settings)}")
                ok = isinstance(number, (int, float)) or (
                    isinstance(number, list) and len(number) == 2 and all(isinstance(x, (int, float)) for x in number))
                if not ok:
                    raise _fail(at, f"values[{method!r}][{setting!r}] must be a number or [mean, std].")
        for method in block.get("unpublished", []) or []:
            if method not in methods:
                raise _fail(at, f"unpublished names method {method!r}, not in methods.")
        baseline = block.get("baseline")
        if baseline is not None and baseline not in methods:
            raise _fail(at, f"baseline names method {baseline!r}, not in methods.{closest(str(baseline), methods)}")
        references = block.get("references") or {}
        if not isinstance(references, dict) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in references.values()):
            raise _fail(at, "references maps a label to one number in the block's form, e.g. "
                            "{Bayes-optimal: 7.86}.")
        out.append({"source": str(block["source"]), "metric": str(block["metric"]), "form": block["form"],
                    "epoch": block["epoch"], "note": block.get("note"), "values": values,
                    "unpublished": list(block.get("unpublished", []) or []),
                    "references": {str(k): float(v) for k, v in references.items()},
                    **({"baseline": str(baseline)} if baseline is not None else {})})
    return out


def parse_experiment(raw: dict, name: str, path: Path, header: list[str]) -> Experiment:
    where = str(path)
    if not isinstance(raw, dict):
        raise _fail(where, "the file must hold a mapping.")
    unknown = set(raw) - TOP_KEYS
    if unknown:
        bad = sorted(unknown)[0]
        raise _fail(where, f"unknown key {bad!r}.{closest(bad, TOP_KEYS)} Keys: {', '.join(sorted(TOP_KEYS))}.")
    for key in ("settings", "methods", "seeds"):
        if key not in raw:
            raise _fail(where, f"missing `{key}`.")
    axes_raw = raw["settings"] if isinstance(raw["settings"], list) else [raw["settings"]]
    axes = [_axis(a, where) for a in axes_raw]
    axis_values = {v for axis in axes for v in axis}
    methods: dict[str, dict] = {}
    if not isinstance(raw["methods"], dict) or not raw["methods"]:
        raise _fail(where, "methods must map method names to overrides.")
    for mname, value in raw["methods"].items():
        for label, spec in _method(str(mname), value, f"{where}: method {mname!r}", axis_values).items():
            if label in methods:
                raise _fail(where, f"two methods are named {label!r}.")
            methods[label] = spec
    seeds = raw["seeds"]
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise _fail(where, f"seeds must be a non-empty list of integers, got {seeds!r}.")
    exp = Experiment(name=name, path=path, header=header, title=str(raw.get("title") or name),
                     fixed=_override_list(raw.get("fixed"), f"{where}: fixed"), axes=axes, methods=methods,
                     seeds=list(seeds), smoke_settings=[])
    settings = exp.settings
    smoke = (raw.get("smoke") or {}).get("settings")
    if smoke is None:
        smoke = [next(iter(settings))]
    for s in smoke:
        if s not in settings:
            raise _fail(where, f"smoke.settings names {s!r}, not a setting.{closest(str(s), settings)}")
    exp.smoke_settings = list(smoke)
    significance = raw.get("significance", 0.05)
    if isinstance(significance, bool) or not isinstance(significance, float) or not 0 < significance < 0.5:
        raise _fail(where, f"significance must be a number in (0, 0.5), the tests' level (0.05 for 95%), got "
                           f"{significance!r}.")
    exp.significance = significance
    exp.expected = _expected(raw.get("expected"), where, methods, settings)
    names = [j.name for j in exp.jobs()]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise _fail(where, f"two jobs would share the directory {dup!r}: rename a method or setting.")
    return exp
