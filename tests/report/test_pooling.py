"""A report cell pools only runs with equal configs (seed aside); other runs are separate rows named by
the keys that differ; n counts distinct seeds; a seed run twice is flagged and counted once. Means and
stds are computed here by hand."""
from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from lossbench import report


def _rows(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


def _std(values: list[float]) -> float:
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def test_runs_that_differ_in_epochs_or_devices_are_separate_rows_named_by_the_keys(tmp_path, make_run, make_config):
    root = tmp_path / "runs"
    # the same sweep name, method and setting twice: a 30-epoch sweep and a 1-epoch, 2-device one
    long = {0: 0.80, 1: 0.84}
    short = {0: 0.30, 1: 0.36}
    for seed, acc in long.items():
        make_run(root / "a", f"ce_s{seed}", method="ce", loss="ce", seed=seed, acc=acc, best_acc=acc,
                 overrides=["loss=ce"], config=make_config(seed))
    for seed, acc in short.items():
        make_run(root / "b", f"ce_s{seed}", method="ce", loss="ce", seed=seed, acc=acc, best_acc=acc,
                 overrides=["loss=ce"], config=make_config(seed, **{"trainer.max_epochs": 1, "trainer.devices": 2}))
    written = report.build_report(root, plots=False, print_table=False)
    (rows,) = written["rows"].values()
    assert len(rows) == 2
    by_epochs = {r.differs["trainer.max_epochs"]: r for r in rows}
    assert set(by_epochs) == {30, 1}
    assert by_epochs[1].differs == {"trainer.devices": 2, "trainer.max_epochs": 1}
    assert by_epochs[30].label == "ce [trainer.devices=1, trainer.max_epochs=30]"
    # each row: mean and sample std of its own two seeds only (0.80, 0.84) -> 0.82 ± 0.0283
    assert by_epochs[30].final["test_acc"].mean == pytest.approx(0.82)
    assert by_epochs[30].final["test_acc"].std == pytest.approx(_std([0.80, 0.84]))
    assert by_epochs[1].final["test_acc"].mean == pytest.approx(0.33)
    csv_rows = {r["differing_keys"]: r for r in _rows(root / "report.csv")}
    assert set(csv_rows) == {"trainer.devices=1 trainer.max_epochs=30", "trainer.devices=2 trainer.max_epochs=1"}
    assert csv_rows["trainer.devices=2 trainer.max_epochs=1"]["n_seeds"] == "2"
    md = (root / "report.md").read_text()
    assert "| ce [trainer.devices=2, trainer.max_epochs=1] | toy rho=50 | 2 | 33.00 ± 4.24 |" in md


def test_keys_that_never_change_what_is_computed_do_not_split(tmp_path, make_run, make_config):
    """Progress bar, logger, runs_root, resume differ; data.shuffle_seed follows the seed: one row."""
    root = tmp_path / "runs"
    accs = [0.70, 0.74, 0.75]
    for seed, acc in enumerate(accs):
        cfg = make_config(seed, **{"trainer.enable_progress_bar": seed == 1, "runs_root": f"/tmp/r{seed}",
                                   "resume": "never" if seed else "auto", "logger": {"wandb": {"project": "p"}}
                                   if seed == 2 else {}})
        make_run(root, f"ce_s{seed}", method="ce", loss="ce", seed=seed, acc=acc, best_acc=acc,
                 overrides=["loss=ce", f"trainer.enable_progress_bar={seed == 1}"], config=cfg)
    (rows,) = report.build_report(root, plots=False, print_table=False)["rows"].values()
    assert len(rows) == 1 and rows[0].differs == {} and rows[0].label == "ce"
    assert rows[0].seeds == [0, 1, 2]
    assert rows[0].final["test_acc"].mean == pytest.approx(sum(accs) / 3)
    assert rows[0].final["test_acc"].std == pytest.approx(_std(accs))


def test_a_fixed_seed_key_that_differs_does_split(tmp_path, make_run, make_config):
    """data.lt_seed is not the run seed: a run with another long-tail draw is another row."""
    root = tmp_path / "runs"
    for seed in (0, 1):
        make_run(root, f"ce_s{seed}", method="ce", loss="ce", seed=seed, acc=0.7, best_acc=0.7,
                 overrides=["loss=ce"], config=make_config(seed))
    make_run(root, "ce_lt1", method="ce", loss="ce", seed=2, acc=0.7, best_acc=0.7, overrides=["loss=ce"],
             config=make_config(2, **{"data.lt_seed": 1}))
    (rows,) = report.build_report(root, plots=False, print_table=False)["rows"].values()
    assert sorted(r.label for r in rows) == ["ce [data.lt_seed=0]", "ce [data.lt_seed=1]"]


def test_the_same_seed_twice_is_flagged_and_counted_once(tmp_path, make_run, make_config):
    root = tmp_path / "runs"
    make_run(root, "a_ce_s0", method="ce", loss="ce", seed=0, acc=0.60, best_acc=0.60, overrides=["loss=ce"],
             config=make_config(0))
    make_run(root, "b_ce_s0_again", method="ce", loss="ce", seed=0, acc=0.90, best_acc=0.90, overrides=["loss=ce"],
             config=make_config(0))
    make_run(root, "c_ce_s1", method="ce", loss="ce", seed=1, acc=0.70, best_acc=0.70, overrides=["loss=ce"],
             config=make_config(1))
    (rows,) = report.build_report(root, plots=False, print_table=False)["rows"].values()
    (row,) = rows
    assert row.seeds == [0, 1] and row.duplicate_seeds == [0]
    assert [r.run_dir.name for r in row.duplicates] == ["b_ce_s0_again"]
    # the first run of seed 0 (0.60) and seed 1 (0.70): 0.65 ± 0.0707, never the 0.90 duplicate
    assert row.final["test_acc"].mean == pytest.approx(0.65)
    assert row.final["test_acc"].std == pytest.approx(_std([0.60, 0.70]))
    (csv_row,) = _rows(root / "report.csv")
    assert (csv_row["n_seeds"], csv_row["seeds"], csv_row["duplicate_seeds"]) == ("2", "0 1", "0")
    md = (root / "report.md").read_text()
    assert "| ce | toy rho=50 | 2 (dup seed 0) | 65.00 ± 7.07 |" in md
    assert "Duplicate seeds (flagged, not averaged" in md and "b_ce_s0_again" in md


def test_without_config_yaml_the_overrides_decide(tmp_path, make_run):
    root = tmp_path / "runs"
    for seed, epochs in ((0, 5), (1, 5), (2, 50)):
        make_run(root, f"ce_s{seed}", method="ce", loss="ce", seed=seed, acc=0.5 + 0.1 * seed, best_acc=None,
                 overrides=["loss=ce", f"trainer.max_epochs={epochs}"])
    (rows,) = report.build_report(root, plots=False, print_table=False)["rows"].values()
    assert sorted(r.label for r in rows) == ["ce [trainer.max_epochs=50]", "ce [trainer.max_epochs=5]"]


def test_a_job_that_failed_before_writing_config_yaml_joins_its_cell(tmp_path, make_run, make_config):
    root = tmp_path / "runs"
    for seed in (0, 1):
        make_run(root, f"ce_s{seed}", method="ce", loss="ce", seed=seed, acc=0.7, best_acc=0.7,
                 overrides=["loss=ce", "trainer.max_epochs=30"], config=make_config(seed))
    make_run(root, "ce_s2", method="ce", loss="ce", seed=2, acc=0, best_acc=None, status="failed",
             error="ValueError: bad", overrides=["loss=ce", "trainer.max_epochs=30"])
    (rows,) = report.build_report(root, plots=False, print_table=False)["rows"].values()
    (row,) = rows
    assert row.seeds == [0, 1] and [r.run_dir.name for r in row.failed] == ["ce_s2"]
