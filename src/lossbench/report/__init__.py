"""`lossbench report DIR`: aggregate every results.json under DIR (one sweep, many sweeps, or a plain
`lossbench train -m` multirun) into report.md, report.csv and plots/ (PNG and PDF) in DIR (or --out),
and print the tables.

  collect.py    find runs, unreadable files and runs without results.json; read each run's config
  aggregate.py  rows of runs with equal configs; mean ± sample std over distinct seeds
  compare.py    published numbers beside ours (expected:), final and best epoch, gaps to CE
  stats.py      each method against the baseline: paired differences, intervals, tests, verdicts
  tables.py     Markdown / CSV / terminal tables
  markdown.py   report.md
  plots.py      per-class accuracy vs class size, reliability diagrams, curves, parameter plots

Exit codes of `lossbench report`: 0 report written; 1 written, but some files were unreadable
(named in report.md and on stderr); 2 no such directory, or nothing to report in it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lossbench.errors import EXIT_USAGE


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lossbench report", description=(
        "Aggregate the results.json files under DIR into report.md, report.csv and plots/ (PNG and PDF), and print the "
        "table. Works on a sweep directory, a folder of sweeps, or a `lossbench train -m` multirun directory."))
    p.add_argument("dir", type=Path, help="directory to search for results.json files")
    p.add_argument("--out", type=Path, help="where to write the report (default: DIR)")
    p.add_argument("--no-plots", action="store_true", help="tables only")
    p.add_argument("--quiet", action="store_true", help="do not print the table")
    return p


def collect_and_aggregate(root: str | Path):
    """(collection, experiment -> rows with their published comparisons)."""
    from lossbench.report.aggregate import aggregate
    from lossbench.report.collect import collect
    from lossbench.report.compare import add_comparisons

    coll = collect(root)
    all_rows = aggregate(coll)
    add_comparisons(all_rows, coll.sweeps)
    return coll, all_rows


def experiment_stats(coll, all_rows) -> dict:
    """experiment -> its stats.StatRows against its baseline (the sweep's `baseline:`, else CE)."""
    from lossbench.report.stats import baseline_of, compare_rows

    out = {}
    for exp, rows in all_rows.items():
        named = next((b.get("baseline") for b in (coll.sweeps.get(exp) or {}).get("expected") or []
                      if isinstance(b, dict) and b.get("baseline")), None)
        alpha = float((coll.sweeps.get(exp) or {}).get("significance") or 0.05)
        out[exp] = compare_rows(rows, baseline_of(rows, named), alpha)
    return out


def write_report(coll, all_rows, out: Path, plots: bool = True) -> dict:
    """report.md, report.csv, report_stats.csv and (with plots) plots/EXP/*.png + .pdf."""
    from lossbench.report.markdown import report_markdown
    from lossbench.report.stats import stats_csv
    from lossbench.report.tables import csv_text
    from lossbench.results import atomic_write_text

    figures = {}
    if plots:
        from lossbench.report.plots import write_plots

        figures = write_plots(all_rows, out / "plots")
    stats = experiment_stats(coll, all_rows)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "report.md", report_markdown(coll, all_rows, figures, out, stats))
    atomic_write_text(out / "report.csv", csv_text(all_rows))
    atomic_write_text(out / "report_stats.csv", stats_csv([s for rows in stats.values() for s in rows]))
    return {"markdown": out / "report.md", "csv": out / "report.csv", "stats_csv": out / "report_stats.csv",
            "stats": stats, "plots": [path for fig in figures.values() for _, path in fig]}


def print_report(coll, all_rows, console=None, stats: dict | None = None) -> None:
    """The tables (and each method against the baseline), then every unreadable file and
    incomplete job, on the terminal."""
    from rich.console import Console

    from lossbench.report.collect import INCOMPLETE_REASONS
    from lossbench.report.tables import rich_stats_table, rich_table

    if console is None:
        console = Console()
        if not console.is_terminal:
            console.width = 180
    if not all_rows:
        console.print(f"no readable run under {coll.root}: {len(coll.unreadable)} unreadable files, "
                      f"{len(coll.missing)} run directories without results.json (listed in report.md).", markup=False)
    for exp, rows in all_rows.items():
        console.print(rich_table(exp, (coll.sweeps.get(exp) or {}).get("title") or exp, rows))
        if (stats or {}).get(exp):
            console.print(rich_stats_table(stats[exp]))
    if all_rows:
        console.print("mean ± sample std (ddof=1) over seeds; n = distinct seeds; '-' = single seed; "
                      "[keys] = config keys that split a cell", markup=False)
    for run in coll.runs:
        if run.incomplete:
            console.print(f"incomplete: {run.run_dir}: {INCOMPLETE_REASONS[run.status]}", markup=False)
    for path, why in coll.missing:
        console.print(f"incomplete: {path}: {why}", markup=False)


def build_report(root: str | Path, out: str | Path | None = None, plots: bool = True, print_table: bool = True) -> dict:
    """Write report.md, report.csv (and plots/) for the runs under root; returns what it wrote.
    Raises FileNotFoundError when root holds no run at all (no results.json, readable or not, and no
    run directory)."""
    root = Path(root)
    coll, all_rows = collect_and_aggregate(root)
    if not (coll.runs or coll.unreadable or coll.missing):
        raise FileNotFoundError(root)
    for path, why in coll.unreadable:
        print(f"lossbench: warning: {path} {why}; left out of the report (listed in report.md).", file=sys.stderr)
    written = write_report(coll, all_rows, Path(out) if out else root, plots)
    if print_table:
        print_report(coll, all_rows, stats=written["stats"])
    return {**written, "rows": all_rows, "collection": coll}


def main(args: list[str]) -> int:
    parsed = _parser().parse_args(args)
    if not parsed.dir.is_dir():
        what = "does not exist" if not parsed.dir.exists() else "is not a directory"
        print(f"lossbench: error: {parsed.dir} {what}. `lossbench report DIR` reads the results.json files under a "
              f"sweep directory (e.g. runs/sweeps/demo) or a `lossbench train -m` multirun directory (e.g. "
              f"runs/multirun/DATE/TIME); pass one of those.", file=sys.stderr)
        return EXIT_USAGE
    try:
        written = build_report(parsed.dir, parsed.out, plots=not parsed.no_plots, print_table=not parsed.quiet)
    except FileNotFoundError:
        print(f"lossbench: error: no results.json and no run directory under {parsed.dir}; run `lossbench sweep "
              f"NAME` or `lossbench train -m ...` first, and pass its directory.", file=sys.stderr)
        return EXIT_USAGE
    n_plots = len(written["plots"])
    print(f"report: {written['markdown']}, {written['csv']}, {written['stats_csv']}" +
          (f", {n_plots} plots (PNG + PDF) in {Path(written['markdown']).parent / 'plots'}" if n_plots else ""))
    return 1 if written["collection"].unreadable else 0
