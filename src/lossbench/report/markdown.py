"""report.md: one section per experiment (settings, methods, metric tables, published numbers and
gaps to CE, plots, failed and incomplete jobs), after a header that names every file the report could
not read."""
from __future__ import annotations

from pathlib import Path

from lossbench.report.aggregate import Row
from lossbench.report.collect import INCOMPLETE_REASONS, Collection
from lossbench.report.tables import (STATS_NOTE, comparison_rows, describe_form, gap_table, md_table,
                                     metric_table, published_table, reference_table, stats_md_table, stats_test_note,
                                     validation_source)


def _settings_table(rows: list[Row]) -> str:
    body = []
    for setting in dict.fromkeys(r.setting for r in rows):
        done = [run for r in rows if r.setting == setting for run in r.completed]
        if not done:
            reason = next((run.results.get("error", "") for r in rows if r.setting == setting for run in r.runs), "")
            body.append([setting, "-", "-", "-", "-", f"no completed run: {str(reason)[:200]}"])
            continue
        res = done[0].results
        ds = res.get("dataset") or {}
        counts = res.get("class_counts") or []
        sizes = f"{ds.get('num_train', '?')} / {ds.get('num_val', '?')} / {ds.get('num_test', '?')}"
        spread = f"{max(counts)} .. {min(counts)} ({len(counts)} classes)" if counts else "-"
        noise = res.get("label_noise")
        if isinstance(noise, dict):
            noise = "none" if noise.get("type") in (None, "none") else ", ".join(
                f"{k}={v}" for k, v in noise.items() if not isinstance(v, (list, dict)))
        notes = sorted({str((run.results.get("dataset") or {}).get("note")) for run in done
                        if (run.results.get("dataset") or {}).get("note")})
        body.append([setting, str(ds.get("name", res.get("data"))), sizes, spread, noise or "none",
                     "; ".join(notes) or "-"])
    return md_table(["setting", "dataset", "train / val / test images", "class sizes (max .. min)", "label noise",
                     "dataset note"], body)


def _methods_table(rows: list[Row], info: dict) -> str:
    fixed = set(info.get("fixed") or [])
    body = []
    for method in dict.fromkeys(r.method for r in rows):
        run = next((run for r in rows if r.method == method for run in r.runs), None)
        sweep = (run.results.get("sweep") or {}) if run else {}
        overrides = [o for o in sweep.get("overrides") or run.results.get("overrides") or []
                     if o not in fixed and not o.split("=", 1)[0].lstrip("+~").startswith(("seed", "data", "trainer"))]
        body.append([method, " ".join(f"`{o}`" for o in overrides) or "-"])
    return md_table(["method", "overrides (besides the fixed ones)"], body)


def _first_line(text, limit: int = 300) -> str:
    return str(text).splitlines()[0][:limit] if text else "?"


def _published(rows: list[Row]) -> list[str]:
    pairs = comparison_rows(rows)
    refs = reference_table(rows)
    md = ["### Reference values", "",
          "A reference line of the sweep (the same in every setting, e.g. the Bayes-optimal error of the data "
          "distribution) beside our final-epoch mean, in the same units.", "", refs, ""] if refs else []
    if not pairs:
        return md
    md += ["### Published numbers beside ours", ""]
    for source in dict.fromkeys((c.source, describe_form(c), c.note) for _, c in pairs):
        md += [f"- Source: {source[0]}. Paper's metric: {source[1]}." + (f" {source[2]}" if source[2] else "")]
    md += [f"- Ours twice, each converted per seed to the paper's metric, then averaged (mean ± sample std): "
           f"**final** = the final epoch; **best on validation** = the epoch of best accuracy on "
           f"{validation_source(rows)} (never chosen on test). The paper's number keeps its own convention.",
           "- Δ = ours − paper, in the paper's units (for an error rate, Δ > 0 means ours is worse).", "",
           published_table(rows), ""]
    gaps = gap_table(rows)
    if gaps:
        md += ["#### Gap to CE: paper and lossbench side by side", "",
               "CE alone differs by points between papers with near-identical recipes, so the gap method − CE "
               "is what a reproduction is judged on. paper gap = paper − the paper's own CE row (same table, "
               "same setting); our gap = our mean − our CE row's mean (same setting), at the final and at the "
               "best-on-validation epoch.", "", gaps, ""]
    return md


def _against_baseline(stat_rows: list) -> list[str]:
    if not stat_rows:
        return []
    return [f"### Against the baseline ({stat_rows[0].baseline}): is the difference real?", "",
            stats_test_note(stat_rows[0].alpha), "", stats_md_table(stat_rows), ""]


def _problem_jobs(rows: list[Row]) -> list[str]:
    md = []
    failed = [run for r in rows for run in r.failed]
    if failed:
        body = [[run.run_dir.name, run.method, run.setting, str(run.seed),
                 _first_line(run.results.get("error"))] for run in failed]
        md += ["### Failed jobs", "", md_table(["job", "method", "setting", "seed", "reason"], body), ""]
    incomplete = [run for r in rows for run in r.incomplete]
    dups = [(r, run) for r in rows for run in r.duplicates]
    if incomplete:
        body = [[run.run_dir.name, run.method, run.setting, str(run.seed), INCOMPLETE_REASONS[run.status]]
                for run in incomplete]
        md += ["### Incomplete jobs", "", md_table(["job", "method", "setting", "seed", "reason"], body), ""]
    if dups:
        body = [[str(run.run_dir), r.label, r.setting, str(run.seed)] for r, run in dups]
        md += ["### Duplicate seeds (flagged, not averaged: the row uses the first run of each seed)", "",
               md_table(["job", "method", "setting", "seed"], body), ""]
    return md


def problems_header(coll: Collection) -> list[str]:
    md = []
    if coll.unreadable:
        md += ["## Unreadable files (not in any table)", "",
               md_table(["file", "problem"], [[str(p), why] for p, why in coll.unreadable]), ""]
    if coll.missing:
        md += ["## Incomplete jobs without results.json", "",
               md_table(["run directory", "reason"], [[str(p), why] for p, why in coll.missing]), ""]
    return md


def selected_by(rows) -> str:
    """What the runs' best epochs were selected by (results.json best.selected_by), e.g. val_map."""
    keys = sorted({str((run.results.get("best") or {}).get("selected_by")) for row in rows for run in row.completed
                   if (run.results.get("best") or {}).get("selected_by")})
    return " / ".join(keys) or "validation accuracy"


def report_markdown(coll: Collection, all_rows: dict[str, list[Row]], figures: dict[str, list[tuple[str, Path]]],
                    out: Path, stats: dict | None = None) -> str:
    """figures: experiment -> [(caption, plot path)] (the PNGs; a PDF sits beside each); stats:
    experiment -> its stats.StatRows."""
    runs = coll.runs
    n_done = sum(r.completed for r in runs)
    n_incomplete = sum(r.incomplete for r in runs) + len(coll.missing)
    versions = sorted({" ".join(f"{k} {v}" for k, v in (r.results.get("versions") or {}).items()) for r in runs
                       if r.results.get("versions")})
    md = [f"# lossbench report: {coll.root.resolve().name}", "",
          f"{len(runs)} runs under `{coll.root}`: {n_done} completed, "
          f"{sum(not r.completed and not r.incomplete for r in runs)} failed, {n_incomplete} incomplete; "
          f"{len(coll.unreadable)} unreadable files. Versions: {'; '.join(versions) or 'unknown'}.", "",
          STATS_NOTE, "", *problems_header(coll)]
    for exp, rows in all_rows.items():
        info = coll.sweeps.get(exp) or {}
        md += [f"## {info.get('title') or exp}" + (f" (`{exp}`)" if info.get("title") else ""), ""]
        header = [line for line in info.get("header") or [] if line]
        md += [f"> {line}" for line in header] + ([""] if header else [])
        if info.get("smoke"):
            md += ["**Smoke run**: tiny synthetic data, two batches per epoch: the numbers test the plumbing, "
                   "they say nothing about the losses.", ""]
        if info.get("command"):
            md += [f"Command: `{info['command']}`", ""]
        if info.get("fixed"):
            md += ["Fixed settings: " + " ".join(f"`{o}`" for o in info["fixed"]), ""]
        md += ["### Settings and data", "", _settings_table(rows), ""]
        if info:
            md += ["### Methods", "", _methods_table(rows, info), ""]
        md += ["### Final epoch (test set)", "", metric_table(rows, "final"), ""]
        if any(r.best["test_acc"].n for r in rows):
            md += [f"### Best on validation (test set at the epoch of the best {selected_by(rows)} on "
                   f"{validation_source(rows)}; never selected on test)", "", metric_table(rows, "best"), ""]
        md += _published(rows)
        md += _against_baseline((stats or {}).get(exp) or [])
        if figures.get(exp):
            md += ["### Plots", "", *[f"![{caption}]({path.relative_to(out).as_posix()})\n"
                                      for caption, path in figures[exp]]]
        md += _problem_jobs(rows)
    return "\n".join(md).rstrip() + "\n"
