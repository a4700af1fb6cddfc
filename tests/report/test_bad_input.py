"""`lossbench report` on bad input: a missing or empty directory (exit 2, one paragraph), half-written
or corrupt results.json files (named in report.md and on stderr, exit 1), and runs left at
"running"/"interrupted" or without results.json (listed as incomplete, with a reason)."""
from __future__ import annotations

import json
from pathlib import Path

from lossbench import report


def test_missing_directory_is_one_paragraph_exit_2(tmp_path, capsys):
    assert report.main([str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'nope'} does not exist" in err and "sweep directory" in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_empty_directory_is_exit_2(tmp_path, capsys):
    assert report.main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no results.json" in err and str(tmp_path) in err and err.count("\n") == 1


def test_a_directory_holding_only_a_half_written_results_json_names_it(tmp_path, capsys):
    run = tmp_path / "job0"
    run.mkdir()
    (run / "results.json").write_text('{"status": "compl')  # cut off mid-write
    assert report.main([str(tmp_path), "--no-plots"]) == 1
    captured = capsys.readouterr()
    assert f"{run / 'results.json'} is not valid JSON" in captured.err
    md = (tmp_path / "report.md").read_text()
    assert "## Unreadable files" in md and f"| {run / 'results.json'} | is not valid JSON" in md
    assert "0 runs under" in md and "1 unreadable files" in md
    assert f"no readable run under {tmp_path}: 1 unreadable files" in captured.out


def test_corrupt_file_beside_good_runs_is_named_not_silently_skipped(tmp_path, make_run, capsys):
    make_run(tmp_path, "good", method="ce", loss="ce", seed=0, acc=0.7, best_acc=0.7, overrides=["loss=ce"])
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "results.json").write_text("")
    other = tmp_path / "other"
    other.mkdir()
    (other / "results.json").write_text(json.dumps([1, 2]))
    assert report.main([str(tmp_path), "--no-plots"]) == 1
    err = capsys.readouterr().err
    assert f"{bad / 'results.json'} is empty" in err and f"{other / 'results.json'} holds a JSON list" in err
    md = (tmp_path / "report.md").read_text()
    assert "1 runs under" in md and "1 completed" in md and "2 unreadable files" in md
    assert str(bad / "results.json") in md and str(other / "results.json") in md


def test_running_interrupted_and_missing_results_are_incomplete_with_a_reason(tmp_path, make_run, capsys):
    make_run(tmp_path, "done", method="ce", loss="ce", seed=0, acc=0.7, best_acc=0.7, overrides=["loss=ce"])
    make_run(tmp_path, "killed", method="ce", loss="ce", seed=1, acc=0, best_acc=None, overrides=["loss=ce"],
             status="running")
    make_run(tmp_path, "stopped", method="ce", loss="ce", seed=2, acc=0, best_acc=None, overrides=["loss=ce"],
             status="interrupted", error="stopped by SIGTERM")
    never = tmp_path / "never_wrote"
    never.mkdir()
    (never / "config.yaml").write_text("seed: 3\n")
    assert report.main([str(tmp_path), "--no-plots"]) == 0
    out = capsys.readouterr().out
    assert f"incomplete: {tmp_path / 'killed'}: results.json still says 'running'" in out
    assert f"incomplete: {tmp_path / 'stopped'}: interrupted by a stop signal" in out
    assert f"incomplete: {never}: no results.json" in out
    md = (tmp_path / "report.md").read_text()
    assert "3 runs under" in md and "1 completed, 0 failed, 3 incomplete" in md
    incomplete = md.split("### Incomplete jobs", 1)[1]
    assert "| killed | ce | toy rho=50 | 1 | results.json still says 'running'" in incomplete
    assert "| stopped | ce | toy rho=50 | 2 | interrupted by a stop signal" in incomplete
    assert f"| {never} | no results.json: the job was killed before it wrote one |" in md
    (row,) = report.collect_and_aggregate(tmp_path)[1]["fx"]
    assert row.seeds == [0] and len(row.incomplete) == 2 and row.failed == []


def test_sweep_jobs_that_never_started_are_listed(tmp_path, make_run):
    make_run(tmp_path, "toy__ce__seed0", method="ce", loss="ce", seed=0, acc=0.7, best_acc=0.7,
             overrides=["loss=ce"])
    (tmp_path / "sweep.json").write_text(json.dumps({"name": "fx", "jobs": [
        {"job": "toy__ce__seed0", "method": "ce", "setting": "toy rho=50", "seed": 0},
        {"job": "toy__ce__seed1", "method": "ce", "setting": "toy rho=50", "seed": 1}]}))
    report.main([str(tmp_path), "--no-plots", "--quiet"])
    md = (tmp_path / "report.md").read_text()
    assert f"| {tmp_path / 'toy__ce__seed1'} | not run yet (ce, toy rho=50, seed 1)" in md
    assert "toy__ce__seed0 |" not in md.split("without results.json", 1)[1]
