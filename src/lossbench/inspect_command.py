"""`lossbench inspect-loss [loss=NAME loss.KEY=V ...] [--all] [--run RUN_DIR] [--json] [--markdown [PATH]]`:
the command line of inspect_loss.py (which measures); prints a table, JSON, or writes the Markdown
table of every shipped loss (docs/LOSS_PROPERTIES.md). `--run` measures the loss a finished run
trained, at the state of its last checkpoint (a learned link as learned) and at the run's C."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lossbench.errors import EXIT_USAGE, UsageError

MARKDOWN_PATH = "docs/LOSS_PROPERTIES.md"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lossbench inspect-loss", description=(
        "Measure a loss's properties numerically: finite values and gradients, gradcheck, properness and "
        "classification calibration, symmetry, boundedness, prior dependence, and cost against cross-entropy."))
    p.add_argument("overrides", nargs="*", help="the loss, as for train: loss=focal loss.gamma=2, "
                   "loss=mypkg.losses:MyLoss loss.t=3 (default: loss=ce)")
    p.add_argument("--all", action="store_true", help="every shipped loss at its defaults")
    p.add_argument("--run", metavar="RUN_DIR", help="the loss a run trained, as its checkpoints/last.ckpt left it "
                   "(a learned loss at its learned parameters), measured at the run's number of classes")
    p.add_argument("--json", action="store_true", help="print JSON: loss -> its properties")
    p.add_argument("--markdown", nargs="?", const=MARKDOWN_PATH, metavar="PATH",
                   help=f"write the table as Markdown (default {MARKDOWN_PATH})")
    return p


def loss_factory(overrides: list[str], multiclass_only: bool = True, checked: bool = True):
    """(name, factory(num_classes, class_counts)) of the loss the overrides compose; a loss of another
    task is refused unless multiclass_only=False (its factory then wants that task's num_classes).
    checked=False skips the misspelling check (a second compose), for overrides lossbench wrote itself."""
    from lossbench.losses.external import build_from_config
    from lossbench.overrides import override_key, override_value
    from lossbench.sweep.compose import compose, hydra_context

    others = [o for o in overrides if not override_key(o).startswith("loss")]
    if others:
        raise UsageError(f"{others[0]}: inspect-loss takes the loss and its options only (loss=NAME loss.KEY=VALUE).")
    from lossbench.config_check import check_overrides
    from lossbench.losses.external import expand_loss_overrides

    if checked:
        check_overrides(expand_loss_overrides(overrides))  # a misspelling: the options, closest
    with hydra_context():
        node = compose(list(overrides)).loss
    name = next((override_value(o) for o in reversed(overrides) if override_key(o) == "loss"), "ce")
    options = [o for o in overrides if override_key(o) != "loss"]
    label = " ".join([name, *options])

    def factory(num_classes: int, class_counts):
        try:
            return build_from_config(node, num_classes=num_classes, class_counts=class_counts)
        except Exception as err:  # Hydra wraps a constructor's ValueError in InstantiationException
            cause = err.__cause__ if err.__cause__ is not None else err
            if isinstance(cause, (ValueError, TypeError)):
                raise UsageError(f"{label}: {cause}") from None
            raise

    from lossbench.losses import get_loss_class, list_losses

    # A registered loss of another task (an external one is multi-class).
    other_task = name in list_losses() and name not in list_losses("multiclass")
    if other_task and multiclass_only:
        tasks = " and ".join(sorted(get_loss_class(name).tasks))
        raise UsageError(f"loss={name} is a loss for {tasks} tasks; inspect-loss measures multi-class losses "
                         f"(C = 2 to 1000 logits of one softmax) and has no measurements of binary or multi-label "
                         f"losses yet: see `lossbench list losses --task multiclass`.")
    classes = 2 if name in list_losses("binary") else 5  # a binary loss takes two classes
    factory(classes, [1] * classes)  # a bad value is reported before anything is measured
    return label, factory


def run_loss_factory(run_dir: str):
    """(label, factory, num_classes) of the loss the run at `run_dir` trained, its state (learned
    parameters, data-initialised buffers) loaded from checkpoints/last.ckpt."""
    import torch
    from omegaconf import OmegaConf

    from lossbench.losses.external import build_from_config

    run = Path(run_dir)
    files = [run / "config.yaml", run / "results.json", run / "checkpoints" / "last.ckpt"]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise UsageError(f"--run {run_dir}: {', '.join(missing)} not found; give the directory of a run that "
                         f"trained (it holds config.yaml, results.json and checkpoints/last.ckpt).")
    node = OmegaConf.load(files[0]).loss
    num_classes = int(json.loads(files[1].read_text())["num_classes"])
    checkpoint = torch.load(files[2], map_location="cpu", weights_only=True)
    state = {k[len("loss_fn."):]: v for k, v in checkpoint["state_dict"].items() if k.startswith("loss_fn.")}

    def factory(c: int, class_counts):
        loss = build_from_config(node, num_classes=c, class_counts=class_counts)
        loss.load_state_dict(state, strict=False)
        return loss

    try:
        factory(num_classes, [1] * num_classes).load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise UsageError(f"--run {run_dir}: the checkpoint's loss state does not fit the loss its config builds "
                         f"({str(err).splitlines()[0]}).") from None
    return f"{run.name} (last.ckpt)", factory, num_classes


def main(args: list[str]) -> int:
    from lossbench import inspect_loss
    from lossbench.losses import list_losses

    parsed = _parser().parse_args(args)
    try:
        if parsed.all and parsed.overrides:
            raise UsageError("--all inspects every shipped loss at its defaults: give it without loss overrides.")
        if parsed.markdown and not parsed.all:
            raise UsageError(f"--markdown writes the table of every shipped loss ({MARKDOWN_PATH}): add --all.")
        if parsed.run and (parsed.all or parsed.overrides):
            raise UsageError("--run measures the loss a run trained, as its config and checkpoint say: give it "
                             "without --all or loss overrides.")
        if parsed.run:
            label, factory, num_classes = run_loss_factory(parsed.run)
            factories = [(label, factory, num_classes)]
        else:
            wanted = [[f"loss={name}"] for name in list_losses("multiclass")] if parsed.all else [parsed.overrides]
            factories = [(*loss_factory(overrides, checked=not parsed.all), None) for overrides in wanted]
        results = {}
        for name, factory, num_classes in factories:
            if not parsed.json:
                print(f"inspecting {name} ...", file=sys.stderr, flush=True)
            results[name] = inspect_loss.inspect(factory, num_classes)
    except UsageError as err:
        print(f"lossbench: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    if parsed.markdown:
        from lossbench.results import atomic_write_text

        atomic_write_text(Path(parsed.markdown), inspect_loss.markdown(results))
        print(f"written: {parsed.markdown}")
    if parsed.json:
        print(json.dumps({name: {k: r[k] for k in inspect_loss.KEYS} for name, r in results.items()}, indent=2))
        return 0
    _print_table(results)
    return 0


def _print_table(results: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    from lossbench import inspect_loss

    table = Table(title="loss properties, measured (lossbench inspect-loss; what each column means: --help, README)")
    header = list(inspect_loss.TABLE_HEADER)
    header.insert(-2, "time vs CE")
    for column in header:
        table.add_column(column)
    for name, r in results.items():
        table.add_row(*inspect_loss.table_cells(name, r, with_time=True))
    console = Console()
    if not console.is_terminal:
        console.width = 200
    console.print(table)
