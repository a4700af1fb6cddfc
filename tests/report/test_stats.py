"""report/stats.py on fixed numbers: the paired and Welch statistics against scipy.stats and against
values worked out by hand, Holm's correction, the verdicts, and report_stats.csv from a sweep."""
from __future__ import annotations

import csv
import io
import math

import pytest
from scipy import stats as sps

from lossbench.report.stats import COLUMNS, StatRow, holm, paired, verdict, welch

# Five seeds of a method and of CE (test accuracy as fractions).
METHOD = [0.712, 0.705, 0.731, 0.698, 0.720]
CE = [0.701, 0.699, 0.716, 0.690, 0.707]
DIFFS = [0.011, 0.006, 0.015, 0.008, 0.013]
T975_4, T80_4 = 2.7764451051977934, 0.9409645772351816  # t quantiles, 4 degrees of freedom (tables: 2.776, 0.941)


def test_paired_statistics_by_hand_and_against_scipy():
    out = paired(METHOD, CE)
    mean = sum(DIFFS) / 5
    sd = math.sqrt(sum((d - mean) ** 2 for d in DIFFS) / 4)
    assert out["n"] == 5 and out["test"] == "paired"
    assert out["diff_vs_baseline"] == pytest.approx(0.0106, abs=1e-12)
    assert out["ci_low"] == pytest.approx(mean - T975_4 * sd / math.sqrt(5), rel=1e-9)
    assert out["ci_high"] == pytest.approx(mean + T975_4 * sd / math.sqrt(5), rel=1e-9)
    assert out["p_ttest"] == pytest.approx(sps.ttest_rel(METHOD, CE).pvalue, rel=1e-12)
    t = mean / (sd / math.sqrt(5))
    assert out["p_ttest"] == pytest.approx(2 * sps.t.sf(t, 4), rel=1e-9)
    assert out["min_detectable_diff"] == pytest.approx((T975_4 + T80_4) * sd / math.sqrt(5), rel=1e-9)
    assert "p_wilcoxon" not in out  # n < 6
    assert out["boot_low"] <= mean <= out["boot_high"]
    assert min(DIFFS) <= out["boot_low"] and out["boot_high"] <= max(DIFFS)  # resampled means stay in range


def test_at_a_99_percent_level_the_interval_widens_to_t_0995_and_a_verdict_needs_p_below_001():
    # The LegendreTron paper tests at 99% (its sweep's `significance: 0.01`).
    T995_4 = 4.604094871415897  # t(0.995, 4 degrees of freedom); tables: 4.604
    out = paired(METHOD, CE, alpha=0.01)
    mean = sum(DIFFS) / 5
    sd = math.sqrt(sum((d - mean) ** 2 for d in DIFFS) / 4)
    assert out["ci_low"] == pytest.approx(mean - T995_4 * sd / math.sqrt(5), rel=1e-9)
    assert out["min_detectable_diff"] == pytest.approx((T995_4 + T80_4) * sd / math.sqrt(5), rel=1e-9)
    assert out["p_ttest"] == pytest.approx(sps.ttest_rel(METHOD, CE).pvalue, rel=1e-12)  # the test is the same
    assert verdict(StatRow("s", "m", "MLR", "final", "test_acc", 5, 0.01, p_holm=0.02, alpha=0.01)).startswith("not")
    assert verdict(StatRow("s", "m", "MLR", "final", "test_acc", 5, 0.01, p_holm=0.005, alpha=0.01)) == "better"


def test_wilcoxon_from_six_seeds():
    method, ce = METHOD + [0.709], CE + [0.712]  # one seed where the method is worse
    out = paired(method, ce)
    assert out["p_wilcoxon"] == pytest.approx(sps.wilcoxon([m - c for m, c in zip(method, ce)]).pvalue, rel=1e-12)


def test_welch_when_the_seeds_differ():
    a, b = [0.70, 0.72, 0.71], [0.69, 0.70, 0.68, 0.70]
    out = welch(a, b)
    assert out["test"] == "welch" and out["n"] == 3
    assert out["p_ttest"] == pytest.approx(sps.ttest_ind(a, b, equal_var=False).pvalue, rel=1e-12)
    va, vb = 0.0001 / 3, (sum((x - 0.6925) ** 2 for x in b) / 3) / 4
    df = (va + vb) ** 2 / (va ** 2 / 2 + vb ** 2 / 3)
    half = sps.t.ppf(0.975, df) * math.sqrt(va + vb)
    assert out["ci_low"] == pytest.approx(0.71 - 0.6925 - half, rel=1e-9)
    assert out["ci_high"] == pytest.approx(0.71 - 0.6925 + half, rel=1e-9)


def test_holm_step_down():
    # m = 4: sorted p 0.01, 0.02, 0.03, 0.5 -> 0.04, 0.06, 0.06 (monotone), 0.5
    assert holm([0.03, None, 0.01, 0.5, 0.02]) == pytest.approx([0.06, None, 0.04, 0.5, 0.06])
    assert holm([0.4, 0.4]) == [0.8, 0.8] and holm([0.9, 0.8]) == [1.0, 1.0]


@pytest.mark.parametrize("metric,diff,p,expected", [
    ("test_acc", 0.01, 0.01, "better"), ("test_acc", -0.01, 0.01, "worse"),
    ("test_nll", -0.1, 0.01, "better"), ("test_ece", 0.02, 0.001, "worse"),
    ("test_acc", 0.01, 0.2, "not distinguishable at n = 3"), ("test_acc", 0.01, None, "not distinguishable at n = 3"),
])
def test_verdict(metric, diff, p, expected):
    row = StatRow("s", "m", "CE", "final", metric, 3, diff, p_holm=p)
    assert verdict(row) == expected


def test_report_writes_report_stats_csv_with_the_binding_columns(tmp_path, make_run):
    from lossbench.report import build_report

    seeds = range(5)
    for seed, (m, c) in zip(seeds, zip(METHOD, CE)):
        make_run(tmp_path, f"ce_{seed}", method="CE", loss="ce", seed=seed, acc=c, best_acc=c, overrides=["loss=ce"])
        make_run(tmp_path, f"mine_{seed}", method="mine", loss="focal", seed=seed, acc=m, best_acc=m,
                 overrides=["loss=focal"])
    # no seed in common with CE, a single run: no test
    make_run(tmp_path, "other_9", method="other", loss="poly1", seed=9, acc=0.75, best_acc=0.75,
             overrides=["loss=poly1"])
    written = build_report(tmp_path, print_table=False)
    rows = list(csv.DictReader(io.StringIO((tmp_path / "report_stats.csv").read_text())))
    assert tuple(rows[0])[:14] == COLUMNS[:14] == (
        "setting", "method", "baseline", "epoch", "metric", "n", "diff_vs_baseline", "ci_low", "ci_high", "p_ttest",
        "p_wilcoxon", "p_holm", "verdict", "min_detectable_diff")
    mine = {(r["epoch"], r["metric"]): r for r in rows if r["method"] == "mine"}
    assert set(mine) == {(e, m) for e in ("final", "best")
                         for m in ("test_acc", "test_balanced_acc", "test_ece", "test_nll")}
    acc = mine["final", "test_acc"]
    assert acc["baseline"] == "CE" and acc["n"] == "5" and acc["test"] == "paired"
    assert float(acc["diff_vs_baseline"]) == pytest.approx(0.0106, abs=1e-6)
    assert float(acc["p_ttest"]) == pytest.approx(sps.ttest_rel(METHOD, CE).pvalue, rel=1e-5)
    assert acc["verdict"] == ("better" if float(acc["p_holm"]) < 0.05 else "not distinguishable at n = 5")
    other = next(r for r in rows if r["method"] == "other" and r["metric"] == "test_acc" and r["epoch"] == "final")
    assert other["n"] == "0" and other["p_ttest"] == "" and other["verdict"] == "not distinguishable at n = 0"
    md = (tmp_path / "report.md").read_text()
    assert "Against the baseline" in md and "| mine |" in md
    assert written["stats"]
