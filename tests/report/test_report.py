"""`lossbench report`: numbers against mean/std computed here from fixture results.json files,
the published-number comparison (final and best epoch) and its sign, plots, failed jobs, plain
multirun directories."""
from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

import pytest
import torch

from lossbench import report
from lossbench.metrics import classification_metrics

ACCS = {"ce": [0.70, 0.74, 0.75], "ldam": [0.80, 0.78, 0.83]}
BEST = {"ce": [0.72, 0.73, 0.77], "ldam": [0.81, 0.80, 0.82]}
PAPER = {"ce": 30.0, "ldam": 17.5}  # published top-1 error (%), best epoch


@pytest.fixture
def sweep_dir(tmp_path: Path, make_run) -> Path:
    _write_run = make_run
    root = tmp_path / "fx"
    for method, accs in ACCS.items():
        for seed, (acc, best) in enumerate(zip(accs, BEST[method])):
            _write_run(root, f"toy__{method}__seed{seed}", method=method, loss=method, seed=seed, acc=acc,
                       best_acc=best, overrides=[f"loss={method}"])
    _write_run(root, "toy__poly1__seed0", method="poly1", loss="poly1", seed=0, acc=0.77, best_acc=0.76,
               overrides=["loss=poly1"])
    _write_run(root, "toy__poly1__seed1", method="poly1", loss="poly1", seed=1, acc=0.0, best_acc=None,
               overrides=["loss=poly1"], status="failed", error="RuntimeError: out of memory\ntraceback...")
    (root / "sweep.json").write_text(json.dumps({
        "name": "fx", "title": "Fixture sweep", "header": ["fx: the question"], "fixed": ["model=mlp"],
        "settings": ["toy rho=50"], "methods": ["ce", "ldam", "poly1"], "seeds": [0, 1, 2], "smoke": False,
        "expected": [{"source": "Paper, Table 9", "metric": "test_acc", "form": "error_percent", "epoch": "best",
                      "note": None, "values": {m: {"toy rho=50": v} for m, v in PAPER.items()},
                      "unpublished": ["poly1"]}]}))
    return root


def _csv_rows(path: Path) -> dict[str, dict]:
    with path.open() as f:
        return {row["method"]: row for row in csv.DictReader(f)}


def test_csv_holds_mean_and_sample_std_over_seeds(sweep_dir):
    assert report.main([str(sweep_dir), "--quiet"]) == 0
    rows = _csv_rows(sweep_dir / "report.csv")
    for method, accs in ACCS.items():
        row = rows[method]
        assert row["n_seeds"] == "3" and row["seeds"] == "0 1 2"
        assert float(row["final_test_acc_mean"]) == pytest.approx(statistics.mean(accs))
        assert float(row["final_test_acc_std"]) == pytest.approx(statistics.stdev(accs))
        assert float(row["best_test_acc_mean"]) == pytest.approx(statistics.mean(BEST[method]))
        assert float(row["final_test_nll_mean"]) == pytest.approx(statistics.mean(1 - a for a in accs))
        assert row["final_test_few_acc_mean"] == ""  # null in every run: no number
    # one completed seed: a mean, no std
    assert rows["poly1"]["n_seeds"] == "1" and rows["poly1"]["final_test_acc_std"] == ""
    assert float(rows["poly1"]["final_test_acc_mean"]) == pytest.approx(0.77) and rows["poly1"]["n_failed"] == "1"


def test_expected_vs_ours_at_final_and_best_epoch_with_sign(sweep_dir):
    report.main([str(sweep_dir), "--quiet"])
    rows = _csv_rows(sweep_dir / "report.csv")
    for method, paper in PAPER.items():
        final = [100 * (1 - a) for a in ACCS[method]]  # top-1 error %, our final epoch
        best = [100 * (1 - a) for a in BEST[method]]   # top-1 error %, our best-on-validation epoch
        row = rows[method]
        assert (row["expected_form"], row["expected_epoch"]) == ("error_percent", "best")
        assert float(row["ours_final_value"]) == pytest.approx(statistics.mean(final))
        assert float(row["ours_final_std"]) == pytest.approx(statistics.stdev(final))
        assert float(row["ours_best_value"]) == pytest.approx(statistics.mean(best))
        assert float(row["ours_best_std"]) == pytest.approx(statistics.stdev(best))
        assert float(row["diff_final"]) == pytest.approx(statistics.mean(final) - paper)
        assert float(row["diff_best"]) == pytest.approx(statistics.mean(best) - paper)
        # ours_value: at the paper's own convention (best)
        assert float(row["ours_value"]) == pytest.approx(statistics.mean(best))
    # CE: ours 26.0 % error (best) vs 30.0 -> -4.0, better; LDAM: ours 19.0 % vs 17.5 -> +1.5, worse
    assert (rows["ce"]["verdict"], rows["ldam"]["verdict"]) == ("better", "worse")
    md = (sweep_dir / "report.md").read_text()
    # final errors: ce 30, 26, 25 -> 27.00 ± 2.65; ldam 20, 22, 17 -> 19.67 ± 2.52
    assert "| ce | toy rho=50 | 30.00 | 27.00 ± 2.65 | 26.00 ± 2.65 | 3 | -3.00 (better) | -4.00 (better) |" in md
    assert "| ldam | toy rho=50 | 17.50 | 19.67 ± 2.52 | 19.00 ± 1.00 | 3 | +2.17 (worse) | +1.50 (worse) |" in md
    assert ("| poly1 | toy rho=50 | — (lossbench measurement, not in the paper) | 23.00 ± - | 24.00 ± - | 1 | - | - |"
            in md)
    assert "top-1 error (%), the paper's best epoch" in md and "Δ = ours − paper" in md
    assert "**final** = the final epoch" in md and "**best on validation**" in md


def test_gap_to_ce_for_the_paper_and_for_us_side_by_side(sweep_dir):
    report.main([str(sweep_dir), "--quiet"])
    rows = _csv_rows(sweep_dir / "report.csv")
    ce_final = statistics.mean(100 * (1 - a) for a in ACCS["ce"])
    ce_best = statistics.mean(100 * (1 - a) for a in BEST["ce"])
    ldam = rows["ldam"]
    assert ldam["expected_baseline"] == "ce" and float(ldam["expected_baseline_value"]) == 30.0
    assert float(ldam["expected_gap"]) == pytest.approx(17.5 - 30.0)
    assert float(ldam["ours_gap_final"]) == pytest.approx(statistics.mean(100 * (1 - a) for a in ACCS["ldam"]) - ce_final)
    assert float(ldam["ours_gap_best"]) == pytest.approx(statistics.mean(100 * (1 - a) for a in BEST["ldam"]) - ce_best)
    assert float(rows["ce"]["ours_gap_final"]) == 0.0
    md = (sweep_dir / "report.md").read_text()
    gaps = md.split("#### Gap to CE", 1)[1]
    # ldam: paper 17.50 - 30.00 = -12.50; ours final 19.67 - 27.00 = -7.33, best 19.00 - 26.00 = -7.00
    assert "| ldam | toy rho=50 | 17.50 | 30.00 | -12.50 | 27.00 ± 2.65 | -7.33 | 26.00 ± 2.65 | -7.00 |" in gaps
    # poly1, unpublished: no paper gap, ours 23 - 27 = -4.00 and 24 - 26 = -2.00
    assert "| poly1 | toy rho=50 | - | 30.00 | - | 27.00 ± 2.65 | -4.00 | 26.00 ± 2.65 | -2.00 |" in gaps


def test_markdown_table_cells_stats_note_and_dataset_note(sweep_dir):
    report.main([str(sweep_dir), "--quiet"])
    md = (sweep_dir / "report.md").read_text()
    ce = ACCS["ce"]
    cell = f"{100 * statistics.mean(ce):.2f} ± {100 * statistics.stdev(ce):.2f}"
    assert f"| ce | toy rho=50 | 3 | {cell} |" in md
    assert "sample standard deviation (ddof = 1)" in md
    assert "a re-encoded copy (checksums differ)" in md and "# lossbench report" in md and "Fixture sweep" in md
    failed = md.split("### Failed jobs", 1)[1]
    assert "| toy__poly1__seed1 | poly1 | toy rho=50 | 1 | RuntimeError: out of memory |" in failed


def test_terminal_table_is_printed(sweep_dir, capsys):
    report.main([str(sweep_dir)])
    out = capsys.readouterr().out
    assert "Fixture sweep" in out and "74.00 ± 2.65" in out and "-4.00 (better)" in out and "-3.00 (better)" in out


def _is_png(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 1000 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plots_are_written_as_png_and_pdf_at_200_dpi_and_linked(sweep_dir):
    from PIL import Image

    written = report.build_report(sweep_dir, print_table=False)
    names = sorted(p.name for p in written["plots"])
    assert names == ["toy_rho_50_curves.png", "toy_rho_50_per_class.png", "toy_rho_50_reliability.png"]
    md = (sweep_dir / "report.md").read_text()
    for path in written["plots"]:
        assert _is_png(path)
        with Image.open(path) as image:
            assert min(image.info["dpi"]) >= 299.9  # stored in the PNG's pHYs chunk (pixels per metre)
        pdf = path.with_name(path.stem + ".pdf")
        assert pdf.read_bytes()[:5] == b"%PDF-"
        assert f"]({path.relative_to(sweep_dir).as_posix()})" in md


def test_plain_multirun_directory_and_parameter_plot(tmp_path, make_run):
    """No sweep block: method = loss + its overridden options; >= 3 values of one option give a param plot."""
    root = tmp_path / "multirun"
    accs = {-1.0: [0.60, 0.62], 0.0: [0.70, 0.71], 2.0: [0.75, 0.79]}
    for eps, values in accs.items():
        for seed, acc in enumerate(values):
            make_run(root, f"{eps}_{seed}", method="", loss="poly1", seed=seed, acc=acc, best_acc=None,
                       overrides=["loss=poly1", f"loss.epsilon={eps}", "data.imbalance_ratio=50"], sweep=None)
    written = report.build_report(root, print_table=False)
    rows = _csv_rows(root / "report.csv")
    assert set(rows) == {"poly1 epsilon=-1.0", "poly1 epsilon=0.0", "poly1 epsilon=2.0"}
    assert {r["setting"] for r in rows.values()} == {"toy_lt data.imbalance_ratio=50"}
    for eps, values in accs.items():
        assert float(rows[f"poly1 epsilon={eps}"]["final_test_acc_mean"]) == pytest.approx(statistics.mean(values))
    param = [p for p in written["plots"] if p.name.endswith("_param.png")]
    assert len(param) == 1 and _is_png(param[0])


def test_empty_directory_is_a_usage_error(tmp_path, capsys):
    assert report.main([str(tmp_path)]) == 2
    assert "no results.json" in capsys.readouterr().err


def test_reliability_bins_reproduce_the_ece():
    """The bins stored for the reliability diagrams give back torchmetrics' ECE."""
    torch.manual_seed(0)
    logits, targets = 3 * torch.randn(400, 7), torch.randint(0, 7, (400,))
    m = classification_metrics(logits, targets, [60] * 7)
    r = m["reliability"]
    assert sum(r["count"]) == 400 and r["bins"] == 15
    ece = sum(c * abs(a - f) for c, a, f in zip(r["count"], r["accuracy"], r["confidence"])) / 400
    assert ece == pytest.approx(m["ece"], abs=1e-6)


def test_reference_values_sit_beside_our_final_epoch(sweep_dir):
    """An expected block's `references` (la_synthetic's Bayes-optimal error) is one number in the
    block's form for every setting; the report shows each method's final-epoch mean beside it."""
    info = json.loads((sweep_dir / "sweep.json").read_text())
    info["expected"][0]["references"] = {"Bayes-optimal": 20.0}
    (sweep_dir / "sweep.json").write_text(json.dumps(info))
    report.build_report(sweep_dir)
    md = (sweep_dir / "report.md").read_text()
    ce_error = [100 * (1 - a) for a in ACCS["ce"]]
    mean, std = statistics.mean(ce_error), statistics.stdev(ce_error)
    line = next(li for li in md.splitlines() if li.startswith("| ce | toy rho=50 | Bayes-optimal |"))
    assert f"| 20.00 | {mean:.2f} ± {std:.2f} | {mean - 20:+.2f} |" in line
