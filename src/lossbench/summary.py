"""The terminal table after `lossbench train` (one run) and after `lossbench train -m` (a multirun):
test metrics of each run's final-epoch and best-on-validation weights.

It fits an 80-column terminal or SLURM log: metrics in % with two decimals (NLL in nats), no
dataset column (the title names the dataset when all runs share it), and the run label the only
column that wraps. A run is labelled by its loss and by the overrides that set it apart: its loss
options and every other override whose value differs between the runs (three `loss.gamma` values
give "focal gamma=0.5", "focal gamma=1", "focal gamma=2"). Failed runs are listed under the table
with their error.
"""
from __future__ import annotations

from collections.abc import Sequence

from lossbench.overrides import override_key
from lossbench.resume import RESUME_NEUTRAL_KEYS
from lossbench.results import ALL_SCALAR_TEST_METRICS, shown_metrics

_NARROW = {"test_balanced_acc": "bal", "test_medium_acc": "med", "test_gmean": "Gm", "test_auroc": "AUC", "test_auprc": "AP",
           "test_map_head": "head", "test_map_medium": "med", "test_map_tail": "tail", "test_micro_f1": "miF1",
           "test_macro_f1": "maF1"}  # 80 columns
COLUMNS = {key: _NARROW.get(key, label) for key, label in ALL_SCALAR_TEST_METRICS.items()}
LEGEND = ("acc/bal = accuracy / balanced accuracy, many/med/few = shot groups, ECE: all in %; NLL in nats; "
          "final = last epoch, best = best on validation")
BINARY_LEGEND = ("acc/bal = accuracy / balanced accuracy; F1, Gm (G-mean), AUC (AUROC), AP (AUPRC) of the positive class 1; "
                 "ECE: all in %; NLL in nats; final = last epoch, best = best on validation")
MULTILABEL_LEGEND = ("mAP = mean average precision over the classes, head/med/tail = over the classes with > 100 / "
                     "20-100 / < 20 positive training images; miF1/maF1 = micro/macro F1 at 0.5; ECE of the labels: "
                     "all in %; final = last epoch, best = best on validation")
# Overrides that say how a run is run or shown, never what it computes: not part of a label.
_QUIET_KEYS = ("seed", "hydra", *RESUME_NEUTRAL_KEYS)


def _label_overrides(res: dict) -> dict[str, str]:
    out = {}
    for o in res.get("overrides") or []:
        key = override_key(o)
        if "=" in o and not any(key == q or key.startswith(q + ".") for q in _QUIET_KEYS):
            out[key] = o.split("=", 1)[1]
    return out


def run_labels(results: Sequence[dict]) -> list[str]:
    """Each run's loss, its loss options, and the other overrides whose values differ between runs."""
    opts = [_label_overrides(r) for r in results]
    keys = list(dict.fromkeys(k for o in opts for k in o))
    varying = {k for k in keys if len({o.get(k) for o in opts}) > 1}
    labels = []
    for res, o in zip(results, opts):
        parts = [str(res.get("loss"))]
        for k in keys:
            if k in o and k not in ("loss",) and (k.startswith("loss.") or k in varying):
                parts.append(f"{k[len('loss.'):] if k.startswith('loss.') else k}={o[k]}")
        labels.append(" ".join(parts))
    return labels


def _metric_cell(value, key: str) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if key == "test_nll" else f"{100 * value:.2f}"


def _legend(metrics: list[str]) -> str:
    if "test_many_acc" in metrics:
        return LEGEND
    return MULTILABEL_LEGEND if "test_f1" not in metrics else BINARY_LEGEND


def run_metrics_table(results: Sequence[dict], title: str):
    """One row per run and evaluated checkpoint (final epoch, best on validation)."""
    from rich import box
    from rich.table import Table

    datasets = {str(r.get("data")) for r in results}
    if len(datasets) == 1:
        title += f" ({datasets.pop()})"
    # One space between columns (not rich's two) leaves the run label room to wrap in 80 columns.
    metrics = shown_metrics(res.get(which) for res in results for which in ("final", "best"))
    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                  padding=(0, 0, 0, 1), caption=_legend(metrics),
                  caption_justify="left")
    table.add_column("run", overflow="fold", min_width=12 if len(metrics) <= 7 else 7)  # 80 columns
    for column in ("seed", "ckpt", "ep", *(COLUMNS[key] for key in metrics)):
        table.add_column(column, justify="left" if column == "ckpt" else "right", no_wrap=True)
    for label, res in zip(run_labels(results), results):
        if res.get("status") != "completed":
            table.add_row(label, str(res.get("seed")), str(res.get("status", "failed")).upper())
            continue
        first = True
        for which in ("final", "best"):
            block = res.get(which)
            if block:
                table.add_row(label if first else "", str(res["seed"]) if first else "", which, str(block["epoch"]),
                              *(_metric_cell(block.get(key), key) for key in metrics))
                first = False
    return table


def failures(results: Sequence[dict]) -> list[str]:
    return [f"{label} seed {res.get('seed')}: {str(res.get('error') or res.get('status'))[:300]}"
            for label, res in zip(run_labels(results), results) if res.get("status") != "completed"]


def print_table(results: Sequence[dict], title: str, console=None) -> None:
    from rich.console import Console

    console = console or Console()
    console.print(run_metrics_table(results, title))
    for line in failures(results):
        console.print(line, markup=False)
