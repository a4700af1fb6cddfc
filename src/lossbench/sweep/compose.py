"""Composing job configs without running them: validation before a sweep starts, and the facts
`--smoke` needs (a dataset's number of classes, the keys the synthetic data config has)."""
from __future__ import annotations

from contextlib import contextmanager

from lossbench.errors import UsageError


@contextmanager
def hydra_context():
    """Hydra initialised on lossbench's configs, for `compose` (hydra_internals.initialized)."""
    from lossbench.hydra_internals import initialized

    with initialized("sweep"):
        yield


def compose(overrides: list[str]):
    """The composed job config (call inside `hydra_context()`); UsageError with Hydra's reason."""
    from hydra import compose as hydra_compose
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from lossbench.losses.external import expand_loss_overrides

    try:
        return hydra_compose("config", overrides=expand_loss_overrides(overrides))
    except (HydraException, OmegaConfBaseException) as err:
        raise UsageError(" ".join(str(err).split())) from None


def data_classes(cfg) -> tuple[int, str]:
    """(number of classes, task) of the composed config's dataset, without loading any data: from the
    data module as constructed (two-class pairs and tables set theirs there), which loads nothing."""
    from hydra.utils import get_class, instantiate

    cls = get_class(cfg.data._target_)
    try:
        module = instantiate(cfg.data)
    except Exception:  # a value only the job can resolve: the class's own
        module = cls
    n = int(getattr(module, "num_classes", 0) or 0)
    if n < 2:
        raise UsageError(f"cannot tell how many classes data={cfg.data.get('name')} has for --smoke; give the "
                         f"data config a num_classes field.")
    return n, str(getattr(module, "task", "multiclass"))


def validate(jobs, label: str = "job") -> None:
    """Compose every job's config: raise one UsageError naming the jobs that do not compose."""
    problems = []
    seen: dict[tuple, str | None] = {}
    with hydra_context():
        for job in jobs:
            key = tuple(o for o in job.overrides if not o.startswith("seed="))
            if key not in seen:
                try:
                    compose(job.overrides)
                    seen[key] = None
                except UsageError as err:
                    seen[key] = str(err)
            if seen[key]:
                problems.append(f"{label} {job.name}: {seen[key]}")
    if problems:
        shown = "\n  ".join(problems[:10]) + (f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else "")
        raise UsageError(f"{len(problems)} {label}(s) of the sweep do not compose; nothing was run. Fix the "
                         f"experiment file or the overrides (`lossbench list data|loss|models` shows what "
                         f"exists):\n  {shown}")
