"""Finding runs under a directory, reading what each one computed, and naming what they compare.

A run of a sweep carries its experiment, method and setting in results.json (`sweep` block). A run
of a plain `lossbench train -m ...` multirun does not: its method is the loss name plus the loss
options it overrode ("focal gamma=1"), its setting the dataset plus the other overrides it set
("digits_lt data.imbalance_ratio=20"), and its experiment the multirun directory it sits in.

Nothing is skipped without a word: a results.json that cannot be parsed is listed in `unreadable`
(with the parser's reason), and a run directory (one holding config.yaml or metrics.csv) without
results.json is listed in `missing`. Runs left at "running" or "interrupted" are kept as runs; the
aggregation lists them as incomplete.

Each run also carries the config it computed with (`config`): its config.yaml, flattened, without
the keys that do not change what is computed (`NEUTRAL_KEYS`); where config.yaml is missing, the
overrides of results.json stand in for it. The aggregation pools only runs whose configs are equal.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from lossbench.overrides import override_key
from lossbench.resume import CONFIG_FILE, RESUME_NEUTRAL_KEYS, flatten
from lossbench.results import RESULTS_FILE, SWEEP_FILE

# Keys that never change what a run computes (how it is run, shown or logged, where it is written),
# plus the seed, which is what a report cell pools over.
NEUTRAL_KEYS = (*RESUME_NEUTRAL_KEYS, "hydra", "seed")
INCOMPLETE_REASONS = {
    "running": "results.json still says 'running': the job was killed (or is still running); re-run the "
               "command to resume it",
    "interrupted": "interrupted by a stop signal; re-run the command to resume it",
}


def is_neutral(key: str) -> bool:
    key = key.lstrip("+~")
    return any(key == n or key.startswith(n + ".") for n in NEUTRAL_KEYS)


@dataclass
class Run:
    results: dict
    run_dir: Path
    experiment: str
    method: str
    setting: str
    config: dict = field(default_factory=dict)  # flattened config without NEUTRAL_KEYS
    config_complete: bool = True  # False: no config.yaml, `config` holds the overrides only

    @property
    def seed(self):
        return self.results.get("seed")

    @property
    def status(self) -> str:
        return str(self.results.get("status"))

    @property
    def completed(self) -> bool:
        return self.status == "completed"

    @property
    def incomplete(self) -> bool:
        return self.status in INCOMPLETE_REASONS

    @property
    def loss_overrides(self) -> dict[str, str]:
        """The loss options this run set explicitly: {"epsilon": "2"}."""
        out = {}
        for o in self.results.get("overrides") or []:
            key, _, value = o.partition("=")
            key = key.lstrip("+~")
            if key.startswith("loss."):
                out[key[len("loss."):]] = value
        return out


@dataclass
class Collection:
    root: Path
    runs: list[Run] = field(default_factory=list)
    sweeps: dict[str, dict] = field(default_factory=dict)  # experiment name -> sweep.json
    unreadable: list[tuple[Path, str]] = field(default_factory=list)  # (file, why it could not be read)
    missing: list[tuple[Path, str]] = field(default_factory=list)  # (run directory without results.json, why)


def plain_method(results: dict) -> str:
    loss = str(results.get("loss") or "?")
    opts = [o.split("=", 1) for o in results.get("overrides") or [] if override_key(o).startswith("loss.")]
    return " ".join([loss, *(f"{override_key(k)[len('loss.'):]}={v}" for k, v in opts)])


def plain_setting(results: dict) -> str:
    data = str(results.get("data") or "?")
    rest = [o.lstrip("+~") for o in results.get("overrides") or []
            if not (override_key(o) in ("loss", "data") or override_key(o).startswith("loss.") or is_neutral(override_key(o)))]
    return " ".join([data, *rest])


def read_json(path: Path) -> tuple[dict | None, str | None]:
    """(the JSON object, None) or (None, why it could not be read)."""
    try:
        text = path.read_text()
    except OSError as err:
        return None, f"cannot be read ({err.strerror or err})"
    if not text.strip():
        return None, "is empty (a half-written file?)"
    try:
        value = json.loads(text)
    except ValueError as err:
        return None, f"is not valid JSON ({err}; a half-written file?)"
    if not isinstance(value, dict):
        return None, f"holds a JSON {type(value).__name__}, not an object"
    return value, None


def _value(text: str):
    """An override's value as config.yaml would hold it ("30" -> 30)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def run_config(run_dir: Path, results: dict) -> tuple[dict, bool]:
    """(the flattened config the run computed with, without NEUTRAL_KEYS; whether it is complete):
    config.yaml if readable, else the `key=value` overrides of results.json (a job that failed
    before it wrote config.yaml)."""
    try:
        tree = yaml.safe_load((run_dir / CONFIG_FILE).read_text())
    except (OSError, yaml.YAMLError):
        tree = None
    if isinstance(tree, dict):
        flat, complete = flatten(tree), True
    else:
        flat = {override_key(o): _value(o.split("=", 1)[1]) for o in results.get("overrides") or [] if "=" in o}
        complete = False
    return {k: v for k, v in flat.items() if not is_neutral(k)}, complete


def _sweep_files(root: Path) -> list[Path]:
    found = sorted(root.rglob(SWEEP_FILE))
    for parent in list(root.resolve().parents)[:2]:  # a report on one job directory of a sweep
        if (parent / SWEEP_FILE).is_file():
            found.append(parent / SWEEP_FILE)
    return found


def _experiment_of(path: Path, root: Path) -> str:
    parent = path.parent.parent
    try:
        rel = parent.resolve().relative_to(root.resolve())
        return str(rel) if str(rel) != "." else root.resolve().name
    except ValueError:
        return parent.name


def _is_run_dir(path: Path) -> bool:
    return (path / CONFIG_FILE).is_file() or (path / "metrics.csv").is_file()


def collect(root: str | Path) -> Collection:
    root = Path(root)
    coll = Collection(root=root)
    for path in _sweep_files(root):
        info, why = read_json(path)
        if info is None:
            coll.unreadable.append((path, why))
        elif info.get("name"):
            coll.sweeps.setdefault(info["name"], {**info, "dir": str(path.parent)})
    for path in sorted(root.rglob(RESULTS_FILE)):
        if "checkpoints" in path.parts:
            continue
        results, why = read_json(path)
        if results is None or "status" not in results:
            coll.unreadable.append((path, why or "has no 'status' (not a lossbench results.json)"))
            continue
        sweep = results.get("sweep") or {}
        if sweep.get("name"):
            run = Run(results, path.parent, sweep["name"], str(sweep.get("method")), str(sweep.get("setting")))
        else:
            run = Run(results, path.parent, _experiment_of(path, root), plain_method(results), plain_setting(results))
        run.config, run.config_complete = run_config(path.parent, results)
        coll.runs.append(run)
    have = {r.run_dir.resolve() for r in coll.runs} | {p.parent.resolve() for p, _ in coll.unreadable}
    for config in sorted(root.rglob(CONFIG_FILE)):
        run_dir = config.parent
        if "checkpoints" in config.parts or ".hydra" in config.parts or run_dir.resolve() in have:
            continue
        if _is_run_dir(run_dir):
            coll.missing.append((run_dir, "no results.json: the job was killed before it wrote one"))
    for info in coll.sweeps.values():  # jobs a sweep planned that never started
        for job in info.get("jobs") or []:
            run_dir = Path(info["dir"]) / str(job.get("job"))
            if isinstance(job, dict) and job.get("job") and not run_dir.exists():
                coll.missing.append((run_dir, f"not run yet ({job.get('method')}, {job.get('setting')}, "
                                              f"seed {job.get('seed')}): re-run the sweep command"))
    return coll
