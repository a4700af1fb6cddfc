"""Published numbers beside ours, and each method's gap to the paper's own CE row.

Published numbers come from the sweep's `expected:` blocks (experiments/NAME.yaml, recorded in
sweep.json): each names its metric, its form (error_percent: 100 (1 - x); percent: 100 x;
fraction: x) and the paper's epoch convention (often the best *test* epoch). Ours are given twice,
each converted per seed into the paper's form and then averaged:

  final  the final epoch;
  best   the epoch of best validation accuracy (the held-out or split validation set that the run
         records; never selected on test).

Δ = ours − paper, in the paper's units. CE alone differs by several points between papers with
near-identical recipes, so each row also carries the paper's own CE row of the same block and
setting and the gap method − CE, for the paper and for lossbench (difference of the means over
seeds; our CE row is the one of the same setting whose config is closest to the method's).

The CE row of a block is its `baseline:` method where the block names one, else the method called
CE or ERM (any case).
"""
from __future__ import annotations

from dataclasses import dataclass

from lossbench.report.aggregate import Row, Stat, block_values, stat
from lossbench.results import LOWER_IS_BETTER

BASELINE_NAMES = ("ce", "erm", "cross-entropy", "cross entropy")


def convert(value: float, form: str) -> float:
    """A fraction in [0, 1] in the form a paper reports it."""
    if form == "error_percent":
        return 100.0 * (1.0 - value)
    if form == "percent":
        return 100.0 * value
    return value


@dataclass
class Comparison:
    source: str
    metric: str
    form: str
    epoch: str          # the paper's convention: best | final
    note: str | None
    paper: float | None  # None: no published number (lossbench's own measurement)
    paper_std: float | None
    final: Stat          # ours at the final epoch, in the paper's form
    best: Stat           # ours at the best-on-validation epoch, in the paper's form
    baseline: str | None = None          # the paper's CE method name
    paper_baseline: float | None = None  # the paper's CE number for this setting
    baseline_final: Stat | None = None   # our CE row, final epoch
    baseline_best: Stat | None = None    # our CE row, best-on-validation epoch

    @property
    def ours(self) -> Stat:
        """Ours at the paper's epoch convention."""
        return self.best if self.epoch == "best" else self.final

    @property
    def diff(self) -> float | None:
        return self.diff_at(self.epoch)

    def diff_at(self, which: str) -> float | None:
        ours = getattr(self, which)
        return None if self.paper is None or ours.mean is None else ours.mean - self.paper

    @property
    def paper_gap(self) -> float | None:
        return None if self.paper is None or self.paper_baseline is None else self.paper - self.paper_baseline

    def ours_gap(self, which: str) -> float | None:
        ours, base = getattr(self, which), getattr(self, f"baseline_{which}")
        return None if base is None or ours.mean is None or base.mean is None else ours.mean - base.mean

    @property
    def lower_is_better(self) -> bool:
        return self.form == "error_percent" or self.metric in LOWER_IS_BETTER

    def verdict_of(self, d: float | None) -> str:
        if d is None:
            return ""
        if abs(d) < 1e-12:
            return "equal"
        return "worse" if (d > 0) == self.lower_is_better else "better"

    @property
    def verdict(self) -> str:
        return self.verdict_of(self.diff)


def baseline_method(block: dict) -> str | None:
    if block.get("baseline"):
        return str(block["baseline"])
    names = list(block.get("values") or {}) + list(block.get("unpublished") or [])
    return next((n for n in names if str(n).strip().lower() in BASELINE_NAMES), None)


def _ours(row: Row, which: str, block: dict) -> Stat:
    return stat(convert(v, block["form"]) for v in block_values(row.completed, which, block["metric"])
                if v is not None)


def _closest(row: Row, candidates: list[Row]) -> Row | None:
    """The candidate whose config shares most key values with the row's (loss keys aside)."""
    if not candidates or not row.runs:
        return candidates[0] if candidates else None
    mine = {k: repr(v) for k, v in row.runs[0].config.items() if not k.startswith("loss.")}

    def shared(c: Row) -> int:
        theirs = c.runs[0].config if c.runs else {}
        return sum(1 for k, v in theirs.items() if mine.get(k) == repr(v))
    return max(candidates, key=shared)


def compare(row: Row, blocks: list[dict], rows: list[Row]) -> list[Comparison]:
    out = []
    for block in blocks:
        values = (block.get("values") or {}).get(row.method) or {}
        unpublished = row.method in (block.get("unpublished") or [])
        if row.setting not in values and not unpublished:
            continue
        number = values.get(row.setting)
        paper, paper_std = (number if isinstance(number, list) else (number, None)) if number is not None else (None, None)
        base = baseline_method(block)
        base_number = ((block.get("values") or {}).get(base) or {}).get(row.setting) if base else None
        if isinstance(base_number, list):
            base_number = base_number[0]
        base_row = _closest(row, [r for r in rows if r.setting == row.setting and r.method == base and r.completed])
        c = Comparison(block["source"], block["metric"], block["form"], block["epoch"], block.get("note"),
                       None if paper is None else float(paper), None if paper_std is None else float(paper_std),
                       _ours(row, "final", block), _ours(row, "best", block), base,
                       None if base_number is None else float(base_number))
        if base_row is not None:
            c.baseline_final, c.baseline_best = _ours(base_row, "final", block), _ours(base_row, "best", block)
        out.append(c)
    return out


@dataclass
class Reference:
    """A reference value of an `expected:` block (e.g. the Bayes-optimal error of la_synthetic),
    the same in every setting, beside a method row's final-epoch mean in the block's form."""
    label: str
    value: float
    form: str
    metric: str
    final: Stat

    @property
    def diff(self) -> float | None:
        return None if self.final.mean is None else self.final.mean - self.value


def references(row: Row, blocks: list[dict]) -> list[Reference]:
    return [Reference(label, float(value), block["form"], block["metric"], _ours(row, "final", block))
            for block in blocks for label, value in (block.get("references") or {}).items()]


def add_comparisons(all_rows: dict[str, list[Row]], sweeps: dict[str, dict]) -> None:
    for exp, rows in all_rows.items():
        blocks = (sweeps.get(exp) or {}).get("expected") or []
        for row in rows:
            row.comparisons = compare(row, blocks, rows)
            row.references = references(row, blocks)
