"""The report's tables: Markdown (report.md), CSV (report.csv) and the terminal (rich).

Accuracies and ECE are shown in percent, NLL in nats; every cell is mean ± sample std over seeds
(std "-" for a single seed). The CSV keeps the raw fractions.
"""
from __future__ import annotations

import csv
import io

from lossbench.report.aggregate import Row, Stat, multilabel
from lossbench.report.compare import Comparison
from lossbench.results import ALL_SCALAR_TEST_METRICS, SCALAR_TEST_METRICS, shown_metrics

LABELS = ALL_SCALAR_TEST_METRICS
# The terminal table's metric columns (report.md has them all): a multi-label sweep's mAP, tail mAP, macro F1, ECE.
TERMINAL = ("test_acc", "test_balanced_acc", "test_few_acc", "test_ece", "test_nll")
MULTILABEL_TERMINAL = ("test_map", "test_map_tail", "test_macro_f1", "test_ece")
STATS_NOTE = ("Cells are mean ± sample standard deviation (ddof = 1) over seeds; n = number of distinct seeds, "
              "std \"-\" when n = 1. A row pools only runs whose configs are equal apart from the seed; runs that "
              "differ elsewhere are separate rows, named by the differing keys in [brackets]. A seed run twice is "
              "flagged (\"dup\") and counted once. Accuracies (acc, balanced acc, many/medium/few-shot) and ECE are "
              "in %, NLL in nats.")


def fmt(s: Stat, metric: str) -> str:
    if s.mean is None:
        return "-"
    scale, digits = (1.0, 3) if metric == "test_nll" else (100.0, 2)
    std = "-" if s.std is None else f"{s.std * scale:.{digits}f}"
    return f"{s.mean * scale:.{digits}f} ± {std}"


def fmt_cmp(value: float | None, std: float | None = None, form: str = "percent") -> str:
    if value is None:
        return "-"
    digits = 4 if form == "fraction" else 2
    return f"{value:.{digits}f}" + ("" if std is None else f" ± {std:.{digits}f}")


def fmt_diff(c: Comparison, which: str | None = None) -> str:
    d = c.diff if which is None else c.diff_at(which)
    if d is None:
        return "-"
    return f"{d:+.{4 if c.form == 'fraction' else 2}f} ({c.verdict_of(d)})"


def fmt_gap(value: float | None, form: str) -> str:
    return "-" if value is None else f"{value:+.{4 if form == 'fraction' else 2}f}"


def validation_source(rows: list[Row]) -> str:
    """Where our best epoch was selected: the validation source the runs record."""
    sources = set()
    for row in rows:
        for run in row.completed:
            res = run.results
            src = (res.get("val_source") or (res.get("dataset") or {}).get("val_source")
                   or run.config.get("data.val_source"))
            sources.add({"heldout": "a class-balanced held-out validation set (unused training images)",
                         "split": "a validation split carved from the training set"}.get(str(src), None)
                        if src else None)
    sources.discard(None)
    return " / ".join(sorted(sources)) or "the validation set"


def describe_form(c: Comparison) -> str:
    what = {"error_percent": "top-1 error (%)" if c.metric == "test_acc" else f"100 × (1 − {c.metric}) (%)",
            "percent": f"{c.metric.replace('test_', '')} (%)", "fraction": c.metric.replace("test_", "")}[c.form]
    epoch = ("the paper's best epoch (its own convention, often chosen on the test set)" if c.epoch == "best"
             else "the paper's final epoch")
    return f"{what}, {epoch}"


def md_table(header: list[str], rows: list[list[str]]) -> str:
    def clean(cell) -> str:
        return str(cell).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(clean(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def n_cell(row: Row) -> str:
    dup = row.duplicate_seeds
    return str(len(row.completed)) + (f" (dup seed {', '.join(map(str, dup))})" if dup else "")


def shown(rows: list[Row]) -> list[str]:
    """The metric columns of these rows (results.shown_metrics: binary ones instead of the shot groups
    for rows of binary tasks)."""
    return shown_metrics(row.final_means for row in rows if row.status == "ok")


def metric_table(rows: list[Row], which: str) -> str:
    metrics = shown(rows)
    header = ["method", "setting", "n", *(LABELS[m] for m in metrics)]
    body = []
    for row in rows:
        stats = getattr(row, which)
        if row.status != "ok":
            body.append([row.label, row.setting, "0", row.status, *([""] * (len(metrics) - 1))])
            continue
        body.append([row.label, row.setting, n_cell(row), *(fmt(stats[m], m) for m in metrics)])
    return md_table(header, body)


def comparison_rows(rows: list[Row]) -> list[tuple[Row, Comparison]]:
    return [(row, c) for row in rows for c in row.comparisons]


def _ours_cell(row: Row, c: Comparison, which: str) -> str:
    if row.status != "ok":
        return row.status
    s = getattr(c, which)
    if s.mean is None:
        return "n/a (no validation set)" if which == "best" else "-"
    return fmt_cmp(s.mean, s.std, c.form) if s.n > 1 else fmt_cmp(s.mean, None, c.form) + " ± -"


def published_table(rows: list[Row]) -> str:
    """The paper's number beside ours at the final epoch and at the best-on-validation epoch."""
    header = ["method", "setting", "paper", "ours, final epoch", "ours, best on validation", "n",
              "Δ final − paper", "Δ best − paper"]
    body = []
    for row, c in comparison_rows(rows):
        paper = fmt_cmp(c.paper, c.paper_std, c.form) if c.paper is not None else "— (lossbench measurement, not in the paper)"
        body.append([row.label, row.setting, paper, _ours_cell(row, c, "final"), _ours_cell(row, c, "best"),
                     str(len(row.completed)), fmt_diff(c, "final"), fmt_diff(c, "best")])
    return md_table(header, body)


def reference_table(rows: list[Row]) -> str:
    """Each method's final-epoch mean beside the block's reference values (e.g. Bayes-optimal)."""
    body = [[row.label, row.setting, ref.label, fmt_cmp(ref.value, None, ref.form),
             _ours_cell(row, ref, "final"), fmt_gap(ref.diff, ref.form)]
            for row in rows for ref in row.references]
    header = ["method", "setting", "reference", "reference value", "ours, final epoch", "ours − reference"]
    return md_table(header, body) if body else ""


def gap_table(rows: list[Row]) -> str:
    """Each method's gap to CE: the paper's (method − its own CE row) beside ours."""
    header = ["method", "setting", "paper", "paper's CE", "paper gap", "our CE, final", "our gap, final",
              "our CE, best", "our gap, best"]
    body = []
    for row, c in comparison_rows(rows):
        if c.baseline is None:
            continue
        base = lambda s: "-" if s is None or s.mean is None else fmt_cmp(s.mean, s.std, c.form)  # noqa: E731
        body.append([row.label, row.setting, fmt_cmp(c.paper, None, c.form), fmt_cmp(c.paper_baseline, None, c.form),
                     fmt_gap(c.paper_gap, c.form), base(c.baseline_final), fmt_gap(c.ours_gap("final"), c.form),
                     base(c.baseline_best), fmt_gap(c.ours_gap("best"), c.form)])
    return md_table(header, body) if body else ""


# -- CSV -------------------------------------------------------------------------------------------
def csv_text(all_rows: dict[str, list[Row]]) -> str:
    columns = ["experiment", "setting", "method", "differing_keys", "status", "n_seeds", "seeds", "duplicate_seeds",
               "n_failed", "n_incomplete"]
    for which in ("final", "best"):
        for m in SCALAR_TEST_METRICS:
            columns += [f"{which}_{m}_mean", f"{which}_{m}_std"]
    columns += ["expected_source", "expected_metric", "expected_form", "expected_epoch", "expected_value",
                "expected_std", "ours_value", "ours_std", "ours_n", "diff_ours_minus_expected", "verdict",
                "ours_final_value", "ours_final_std", "ours_best_value", "ours_best_std", "diff_final", "diff_best",
                "expected_baseline", "expected_baseline_value", "expected_gap", "ours_gap_final", "ours_gap_best"]
    # A binary task's metrics go after the fixed columns, and only into a CSV with binary runs.
    extra = [m for m in shown([r for rows in all_rows.values() for r in rows]) if m not in SCALAR_TEST_METRICS]
    columns += [f"{which}_{m}_{part}" for which in ("final", "best") for m in extra for part in ("mean", "std")]
    metrics = [*SCALAR_TEST_METRICS, *extra]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()

    def num(x):
        return "" if x is None else repr(float(x))

    for exp, rows in all_rows.items():
        for row in rows:
            rec = {"experiment": exp, "setting": row.setting, "method": row.method,
                   "differing_keys": " ".join(f"{k}={v}" for k, v in row.differs.items()), "status": row.status,
                   "n_seeds": len(row.completed), "seeds": " ".join(map(str, row.seeds)),
                   "duplicate_seeds": " ".join(map(str, row.duplicate_seeds)), "n_failed": len(row.failed),
                   "n_incomplete": len(row.incomplete)}
            for which in ("final", "best"):
                for m in metrics:
                    s = getattr(row, which)[m]
                    rec[f"{which}_{m}_mean"], rec[f"{which}_{m}_std"] = num(s.mean), num(s.std)
            for c in row.comparisons[:1]:
                rec.update(expected_source=c.source, expected_metric=c.metric, expected_form=c.form,
                           expected_epoch=c.epoch, expected_value=num(c.paper), expected_std=num(c.paper_std),
                           ours_value=num(c.ours.mean), ours_std=num(c.ours.std), ours_n=c.ours.n,
                           diff_ours_minus_expected=num(c.diff), verdict=c.verdict,
                           ours_final_value=num(c.final.mean), ours_final_std=num(c.final.std),
                           ours_best_value=num(c.best.mean), ours_best_std=num(c.best.std),
                           diff_final=num(c.diff_at("final")), diff_best=num(c.diff_at("best")),
                           expected_baseline=c.baseline or "", expected_baseline_value=num(c.paper_baseline),
                           expected_gap=num(c.paper_gap), ours_gap_final=num(c.ours_gap("final")),
                           ours_gap_best=num(c.ours_gap("best")))
            writer.writerow(rec)
    return buffer.getvalue()


# -- terminal ----------------------------------------------------------------------------------------
def rich_table(exp: str, title: str, rows: list[Row]):
    from rich.table import Table

    shown, main = (MULTILABEL_TERMINAL, "test_map") if multilabel(rows) else (TERMINAL, "test_acc")
    has_best = any(r.best[main].n for r in rows)
    has_cmp = any(r.comparisons for r in rows)
    table = Table(title=f"{title} -- test metrics, mean ± std over seeds (%, NLL in nats)")
    cols = ["method", "setting", "n", *(LABELS[m] for m in shown)] + ([f"best {LABELS[main]}"] if has_best else [])
    cols += ["paper", "ours final", "ours best", "Δ final", "Δ best"] if has_cmp else []
    for col in cols:
        table.add_column(col, justify="left" if col in ("method", "setting") else "right")
    for row in rows:
        if row.status != "ok":
            cells = [row.label, row.setting, "0", row.status] + [""] * (len(cols) - 4)
            table.add_row(*cells)
            continue
        f = row.final
        cells = [row.label, row.setting, n_cell(row), *(fmt(f[m], m) for m in shown)]
        if has_best:
            cells.append(fmt(row.best[main], main))
        if has_cmp:
            c = row.comparisons[0] if row.comparisons else None
            cells += [""] * 5 if c is None else [fmt_cmp(c.paper, None, c.form), fmt_cmp(c.final.mean, None, c.form),
                                                 fmt_cmp(c.best.mean, None, c.form), fmt_diff(c, "final"),
                                                 fmt_diff(c, "best")]
        table.add_row(*cells)
    return table


# -- each method against the baseline (stats.py) ----------------------------------------------------
def stats_test_note(alpha: float) -> str:
    return ("Each method minus the baseline on the seeds both have (paired; Welch's unpaired test where they "
            f"share fewer than two), at the final epoch, in percentage points (NLL in nats): the mean difference, "
            f"its {_level(alpha)} t interval and bootstrap interval, the paired t-test's p-value, the Wilcoxon "
            "signed-rank test's from six seeds on, Holm's correction over the methods of a setting (a verdict "
            f"where it is below {alpha:g}), and the smallest difference these seeds could detect (80% power, from "
            "the observed spread). report_stats.csv has every metric at both epochs.")


def _level(alpha: float) -> str:
    return f"{100 * (1 - alpha):g}%"


def _pp(value, metric: str) -> str:
    if value is None:
        return "-"
    return f"{value:+.3f}" if metric == "test_nll" else f"{100 * value:+.2f}"


def _p(value) -> str:
    return "-" if value is None else (f"{value:.2g}" if value >= 1e-4 else "<1e-4")


def _stat_cells(s) -> list[str]:
    ci = f"[{_pp(s.ci_low, s.metric)}, {_pp(s.ci_high, s.metric)}]" if s.ci_low is not None else "-"
    boot = f"[{_pp(s.boot_low, s.metric)}, {_pp(s.boot_high, s.metric)}]" if s.boot_low is not None else "-"
    mdd = "-" if s.min_detectable_diff is None else _pp(s.min_detectable_diff, s.metric).lstrip("+")
    return [s.setting, s.method, LABELS[s.metric], f"{s.n}" + (" (Welch)" if s.test == "welch" else ""),
            _pp(s.diff_vs_baseline, s.metric), ci, boot, _p(s.p_ttest), _p(s.p_wilcoxon), _p(s.p_holm), s.verdict,
            mdd]


def stats_header(alpha: float) -> list[str]:
    return ["setting", "method", "metric", "n", "diff", f"{_level(alpha)} CI (t)", f"{_level(alpha)} CI (bootstrap)",
            "p (t)", "p (Wilcoxon)", "p (Holm)", "verdict", "detectable"]


def stats_md_table(stat_rows: list) -> str:
    return md_table(stats_header(stat_rows[0].alpha), [_stat_cells(s) for s in stat_rows if s.epoch == "final"])


def rich_stats_table(stat_rows: list):
    from rich.table import Table

    table = Table(title=f"against {stat_rows[0].baseline}, final epoch (percentage points; report_stats.csv has all)")
    for name in stats_header(stat_rows[0].alpha):
        table.add_column(name, justify="left" if name in ("setting", "method", "metric", "verdict") else "right")
    # The headline metrics: a multi-label sweep's mAP overall and on the tail, else accuracy and balanced accuracy.
    of_map = any(s.metric == "test_map" and s.n for s in stat_rows)
    headline = ("test_map", "test_map_tail") if of_map else ("test_acc", "test_balanced_acc")
    for s in stat_rows:
        if s.epoch == "final" and s.metric in headline:
            table.add_row(*_stat_cells(s))
    return table
