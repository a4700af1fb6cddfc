"""Whether a job resumes, and from where.

Running a job again into the same run directory resumes it from `checkpoints/last.ckpt` (written at
the end of every epoch) when its resolved config is the same as the one saved in config.yaml.
`resume: auto|never` (default auto) controls it: `never` starts over, removing the old checkpoints.
A different config is refused with the keys that differ, since continuing a run under other
settings would give numbers that belong to neither.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from lossbench.errors import UsageError
from lossbench.results import RESULTS_FILE, atomic_write_text, read_results

RESUME_MODES = ("auto", "never")
CHECKPOINT_DIR = "checkpoints"
LAST_CHECKPOINT = "last.ckpt"
CONFIG_FILE = "config.yaml"
# Keys that change how a job is run or shown, not what it computes: they may differ on resume.
RESUME_NEUTRAL_KEYS = ("resume", "runs_root", "logger", "trainer.enable_progress_bar",
                       "trainer.enable_model_summary", "trainer.threads")


def flatten(tree, prefix: str = "") -> dict:
    """{"a.b": 1} from {"a": {"b": 1}}; lists are leaves."""
    out = {}
    for key, value in (tree or {}).items():
        full = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, full + "."))
        else:
            out[full] = value
    return out


def config_differences(saved: dict, current: dict) -> list[str]:
    """"key: old -> new" for every key whose value differs, ignoring RESUME_NEUTRAL_KEYS."""
    old, new = flatten(saved), flatten(current)
    neutral = lambda k: any(k == n or k.startswith(n + ".") for n in RESUME_NEUTRAL_KEYS)  # noqa: E731
    return [f"{k}: {old.get(k, '<absent>')!r} -> {new.get(k, '<absent>')!r}"
            for k in sorted(set(old) | set(new)) if not neutral(k) and old.get(k) != new.get(k)]


@dataclass
class ResumePlan:
    config: dict                     # the resolved config of this job
    ckpt_path: Path | None = None    # the checkpoint fit() resumes from; None = from scratch
    resumed_from_epoch: int | None = None
    previous_segments: list = field(default_factory=list)

    def prepare(self, run_dir: Path) -> None:
        """Make the run directory ready (global rank 0 only): a fresh start removes old checkpoints
        (there is nothing to resume in them); the config is written either way."""
        if self.ckpt_path is None:
            shutil.rmtree(run_dir / CHECKPOINT_DIR, ignore_errors=True)
        atomic_write_text(run_dir / CONFIG_FILE, yaml.safe_dump(self.config, sort_keys=False))


def plan_resume(run_dir: Path, config: dict, mode: str) -> ResumePlan:
    """The ResumePlan for a job with resolved `config` in `run_dir`; UsageError if `mode` is
    unknown or the directory holds a resumable run of another config."""
    if mode not in RESUME_MODES:
        raise UsageError(f"resume={mode!r} is not one of {', '.join(RESUME_MODES)}: auto resumes a run directory "
                         f"that holds a checkpoint of the same config, never starts over.")
    ckpt = run_dir / CHECKPOINT_DIR / LAST_CHECKPOINT
    if mode == "never" or not ckpt.is_file():
        return ResumePlan(config)
    saved_path = run_dir / CONFIG_FILE
    try:
        saved = yaml.safe_load(saved_path.read_text())
    except (OSError, yaml.YAMLError):
        saved = None
    differences = config_differences(saved, config) if isinstance(saved, dict) else [f"{CONFIG_FILE} is missing"]
    if differences:
        shown = "; ".join(differences[:8]) + (f"; and {len(differences) - 8} more" if len(differences) > 8 else "")
        raise UsageError(f"{run_dir} holds a run of a different config, so it cannot be resumed ({shown}). Pass "
                         f"resume=never to start over there (its checkpoints are removed), or choose another "
                         f"run directory.")
    previous = read_results(run_dir / RESULTS_FILE) or {}
    from lossbench.untrusted import load_checkpoint

    epoch = int(load_checkpoint(ckpt)["epoch"])  # weights only: a planted checkpoint is refused, never run
    return ResumePlan(config, ckpt, epoch, list(previous.get("segments") or []))
