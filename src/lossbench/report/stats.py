"""Is a difference real? Each method against the sweep's baseline, per setting, epoch and metric.

For every (setting, method, epoch in final|best, metric in STAT_METRICS) the runs of the method and
of the baseline (the sweep's `baseline:` method where its definition names one, else CE/ERM by
name, as compare.py picks it) are matched by seed:

  paired (two or more seeds both have)   d_s = method_s - baseline_s on the common seeds;
      diff_vs_baseline  mean(d);
      ci_low, ci_high   its 1 - alpha t interval, mean(d) -/+ t(1 - alpha/2, n-1) sd(d) / sqrt(n);
      boot_low/high     a 1 - alpha percentile bootstrap interval (10,000 resamples of the seeds, seeded);
      p_ttest           paired t-test (scipy.stats.ttest_rel);
      p_wilcoxon        Wilcoxon signed-rank test (scipy.stats.wilcoxon) when n >= 6, else empty;
      min_detectable_diff  (t(1 - alpha/2, n-1) + t(0.8, n-1)) sd(d) / sqrt(n): the smallest true
                        difference a paired t-test at this n detects with 80% power, given the
                        observed spread;
  unpaired (fewer than two common seeds) Welch's t-test (scipy.stats.ttest_ind, equal_var=False) on
      all seeds of each, its Welch-Satterthwaite interval and detectable difference; `test` says
      "welch" (else "paired"), and n is the smaller of the two seed counts.

p_holm is Holm's step-down correction of p_ttest over the methods of one (setting, epoch, metric).
verdict: "better" or "worse" where p_holm < alpha (the direction: higher accuracy, lower ECE and
NLL is better), else "not distinguishable at n = k". alpha is the sweep's `significance:` (0.05,
95%, unless its paper tests at another level: the LegendreTron paper's t-test is at 99%, 0.01).
Differences are in the metric's own units (accuracies as fractions, as in results.json). Rows without two values on each side (a single seed)
get n and the difference, and no test.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from lossbench.report.aggregate import Row
from lossbench.report.compare import BASELINE_NAMES
from lossbench.results import BINARY_SCALAR_TEST_METRICS, LOWER_IS_BETTER, MULTILABEL_SCALAR_TEST_METRICS

STAT_METRICS = ("test_acc", "test_balanced_acc", "test_ece", "test_nll", *BINARY_SCALAR_TEST_METRICS,
                *MULTILABEL_SCALAR_TEST_METRICS)
EPOCHS = ("final", "best")
ALPHA, POWER = 0.05, 0.8
BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED = 10_000, 0
# The binding columns of report_stats.csv, then the extra ones.
COLUMNS = ("setting", "method", "baseline", "epoch", "metric", "n", "diff_vs_baseline", "ci_low", "ci_high",
           "p_ttest", "p_wilcoxon", "p_holm", "verdict", "min_detectable_diff", "test", "boot_low", "boot_high",
           "alpha")


@dataclass
class StatRow:
    setting: str
    method: str
    baseline: str
    epoch: str
    metric: str
    n: int
    diff_vs_baseline: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    p_ttest: float | None = None
    p_wilcoxon: float | None = None
    p_holm: float | None = None
    verdict: str = ""
    min_detectable_diff: float | None = None
    test: str = "paired"
    boot_low: float | None = None
    boot_high: float | None = None
    alpha: float = ALPHA

    def as_dict(self) -> dict:
        return asdict(self)


def _values(row: Row, epoch: str, metric: str) -> dict:
    """seed -> the metric of that seed's completed run (None-valued ones left out)."""
    out = {}
    for run in row.completed:
        value = (run.results.get(epoch) or {}).get(metric)
        if value is not None:
            out[run.seed] = float(value)
    return out


def paired(method: list[float], baseline: list[float], alpha: float = ALPHA) -> dict:
    """The paired statistics of `method - baseline` (same seeds, same order); n >= 2."""
    import numpy as np
    from scipy import stats

    d = np.asarray(method, dtype=float) - np.asarray(baseline, dtype=float)
    n = len(d)
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    half = stats.t.ppf(1 - alpha / 2, n - 1) * sd / math.sqrt(n)
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    boot = d[rng.integers(0, n, size=(BOOTSTRAP_RESAMPLES, n))].mean(axis=1)
    out = {"n": n, "diff_vs_baseline": mean, "ci_low": mean - half, "ci_high": mean + half,
           "boot_low": float(np.percentile(boot, 50 * alpha)), "boot_high": float(np.percentile(boot, 100 - 50 * alpha)),
           "min_detectable_diff": float((stats.t.ppf(1 - alpha / 2, n - 1) + stats.t.ppf(POWER, n - 1)) * sd
                                        / math.sqrt(n)),
           "test": "paired"}
    out["p_ttest"] = None if sd == 0 else float(stats.ttest_rel(method, baseline).pvalue)
    if n >= 6 and np.any(d != 0):
        out["p_wilcoxon"] = float(stats.wilcoxon(d).pvalue)
    return out


def welch(method: list[float], baseline: list[float], alpha: float = ALPHA) -> dict:
    """Welch's unpaired statistics of mean(method) - mean(baseline); each side has n >= 2."""
    import numpy as np
    from scipy import stats

    a, b = np.asarray(method, dtype=float), np.asarray(baseline, dtype=float)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    mean = float(a.mean() - b.mean())
    out = {"n": min(len(a), len(b)), "diff_vs_baseline": mean, "test": "welch"}
    if se == 0:
        return out
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = stats.t.ppf(1 - alpha / 2, df) * se
    out.update(ci_low=mean - half, ci_high=mean + half,
               p_ttest=float(stats.ttest_ind(a, b, equal_var=False).pvalue),
               min_detectable_diff=float((stats.t.ppf(1 - alpha / 2, df) + stats.t.ppf(POWER, df)) * se))
    return out


def holm(p_values: list[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values (None stays None and is not counted)."""
    present = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m, out, running = len(present), list(p_values), 0.0
    for rank, (p, i) in enumerate(present):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


def verdict(stat: StatRow) -> str:
    if stat.p_holm is not None and stat.p_holm < stat.alpha and stat.diff_vs_baseline:
        higher = stat.diff_vs_baseline > 0
        return "worse" if higher == (stat.metric in LOWER_IS_BETTER) else "better"
    return f"not distinguishable at n = {stat.n}"


def baseline_of(rows: list[Row], named: str | None) -> str | None:
    """The baseline method: the sweep's `baseline:` if it names one of these rows' methods, else
    the method called CE or ERM (any case)."""
    methods = list(dict.fromkeys(r.method for r in rows))
    if named in methods:
        return named
    return next((m for m in methods if m.strip().lower() in BASELINE_NAMES), None)


def compare_rows(rows: list[Row], baseline: str | None, alpha: float = ALPHA) -> list[StatRow]:
    """Every method's StatRows against `baseline`, setting by setting (see the module docstring)."""
    if baseline is None:
        return []
    out: list[StatRow] = []
    settings = list(dict.fromkeys(r.setting for r in rows))
    for setting in settings:
        base = next((r for r in rows if r.setting == setting and r.method == baseline and r.completed), None)
        if base is None:
            continue
        others = [r for r in rows if r.setting == setting and r is not base and r.completed]
        for epoch in EPOCHS:
            for metric in STAT_METRICS:
                group = [_stat_row(row, base, setting, baseline, epoch, metric, alpha) for row in others]
                group = [g for g in group if g is not None]
                for g, p in zip(group, holm([g.p_ttest for g in group])):
                    g.p_holm = p
                    g.verdict = verdict(g)
                out += group
    return out


def _stat_row(row: Row, base: Row, setting: str, baseline: str, epoch: str, metric: str,
              alpha: float = ALPHA) -> StatRow | None:
    mine, theirs = _values(row, epoch, metric), _values(base, epoch, metric)
    if not mine or not theirs:
        return None
    common = [s for s in mine if s in theirs]
    if len(common) >= 2:
        fields = paired([mine[s] for s in common], [theirs[s] for s in common], alpha)
    elif len(mine) >= 2 and len(theirs) >= 2:
        fields = welch(list(mine.values()), list(theirs.values()), alpha)
    else:
        fields = {"n": len(common), "diff_vs_baseline": (mine[common[0]] - theirs[common[0]]) if common else None,
                  "test": "paired" if common else "welch"}
    return StatRow(setting=setting, method=row.label, baseline=baseline, epoch=epoch, metric=metric, alpha=alpha,
                   **fields)


def stats_csv(stat_rows: list[StatRow]) -> str:
    """report_stats.csv: one line per StatRow, COLUMNS in order; empty where there is no value."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for s in stat_rows:
        writer.writerow({k: ("" if v is None else (f"{v:.6g}" if isinstance(v, float) else v))
                         for k, v in s.as_dict().items()})
    return buffer.getvalue()
