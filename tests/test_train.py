"""End-to-end training through the real CLI: a run learns and writes its outputs; multiruns,
failures, determinism and the DDP command line."""
from __future__ import annotations

import csv
import json

import pytest

from tests.conftest import results_under, run_cli

TEST_KEYS = {"epoch", "test_acc", "test_balanced_acc", "test_nll", "test_ece", "test_many_acc",
             "test_medium_acc", "test_few_acc", "test_per_class_acc"}


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    """`lossbench train` with no overrides: the embedded default (digits_lt, small CNN, CPU)."""
    root = tmp_path_factory.mktemp("runs")
    proc = run_cli(["train"], root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (results_path,) = root.rglob("results.json")
    return proc, results_path.parent, json.loads(results_path.read_text())


def test_default_run_learns_digits_lt(default_run):
    _, _, results = default_run
    assert results["status"] == "completed"
    assert results["final"]["test_acc"] > 0.8  # chance is 0.1
    assert results["final"]["test_balanced_acc"] > 0.8
    assert 0 <= results["final"]["test_ece"] <= 1 and results["final"]["test_nll"] > 0


def test_results_json_has_the_binding_keys(default_run):
    _, run_dir, results = default_run
    assert {"status", "seed", "loss", "data", "model", "num_classes", "class_counts", "final", "best",
            "wall_time_s", "versions"} <= set(results)
    assert (results["seed"], results["loss"], results["data"], results["model"]) == (0, "ce", "digits_lt", "small_cnn")
    assert set(results["final"]) == TEST_KEYS and results["final"]["epoch"] == 29
    assert set(results["best"]) == TEST_KEYS | {"selected_by", "val_acc"}
    assert results["best"]["selected_by"] == "val_acc" and 0 <= results["best"]["epoch"] <= 29
    assert set(results["versions"]) >= {"lossbench", "torch", "lightning"}
    assert len(results["final"]["test_per_class_acc"]) == results["num_classes"] == 10


def test_class_counts_and_shot_groups_follow_the_training_set(default_run):
    _, _, results = default_run
    counts = results["class_counts"]
    assert sum(counts) == results["dataset"]["num_train"]
    assert counts == sorted(counts, reverse=True) and counts[0] / counts[-1] > 5  # long-tailed, rho = 10
    per_class = results["final"]["test_per_class_acc"]
    # The groups written out from their definition (Liu et al. 2019): many > 100 training images,
    # few < 20, medium in between -- not from the code under test.
    groups = {"many": [c for c, n in enumerate(counts) if n > 100],
              "medium": [c for c, n in enumerate(counts) if 20 <= n <= 100],
              "few": [c for c, n in enumerate(counts) if n < 20]}
    assert all(groups.values()), (counts, groups)  # digits_lt fills all three, so the thresholds are tested
    for group, classes in groups.items():
        expected = sum(per_class[c] for c in classes) / len(classes)
        assert results["final"][f"test_{group}_acc"] == pytest.approx(expected)
    assert results["final"]["test_balanced_acc"] == pytest.approx(sum(per_class) / len(per_class), abs=1e-6)


def test_run_directory_holds_config_metrics_checkpoint(default_run):
    proc, run_dir, results = default_run
    assert (run_dir / "config.yaml").read_text().count("_target_: lossbench.data.DigitsDataModule") == 1
    rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == list(range(30))
    assert {"lr", "train_loss", "val_acc", "val_nll", "val_ece"} <= set(rows[0])
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])
    best_val = max(float(r["val_acc"]) for r in rows)
    assert results["best"]["val_acc"] == pytest.approx(best_val)
    assert float(rows[results["best"]["epoch"]]["val_acc"]) == pytest.approx(best_val)
    assert (run_dir / "checkpoints" / "last.ckpt").stat().st_size > 0
    assert str(run_dir / "results.json") in proc.stdout  # the CLI says where the results are
    assert "test metrics" in proc.stdout or "lossbench run" in proc.stdout


def test_multirun_over_two_losses_writes_two_results(runs_root):
    proc = run_cli(["train", "-m", "loss=ce,focal", "trainer=smoke", "data=synthetic"], runs_root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = results_under(runs_root)
    assert sorted(r["loss"] for r in results) == ["ce", "focal"]
    assert len({r["run_dir"] for r in results}) == 2
    assert all(r["status"] == "completed" and r["final"]["epoch"] == 1 for r in results)
    assert "ce" in proc.stdout and "focal" in proc.stdout  # the comparison table


def test_override_first_means_train_as_ddp_children_run_it(runs_root):
    # Lightning's DDP launcher re-runs the command line; lossbench keeps it a training job.
    proc = run_cli(["loss=poly1", "trainer=smoke", "data=synthetic", "seed=3"], runs_root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (results,) = results_under(runs_root)
    assert (results["loss"], results["seed"], results["status"]) == ("poly1", 3, "completed")


def test_same_seed_gives_same_metrics_on_cpu(tmp_path):
    from lossbench.train import run_in_process

    overrides = ["trainer=cpu", "trainer.max_epochs=3", "data=synthetic", "seed=0"]
    first = run_in_process(overrides, tmp_path / "a")
    second = run_in_process(overrides, tmp_path / "b")
    other_seed = run_in_process(overrides[:-1] + ["seed=1"], tmp_path / "c")
    assert first["status"] == second["status"] == "completed"
    assert first["final"] == second["final"] and first["best"] == second["best"]
    assert other_seed["final"]["test_nll"] != first["final"]["test_nll"]


def test_runs_started_together_never_share_a_directory(runs_root):
    import os
    import subprocess
    import sys

    env = {**os.environ, "LOSSBENCH_RUNS": str(runs_root)}
    cmd = [sys.executable, "-m", "lossbench", "train", "trainer=smoke", "data=synthetic"]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(2)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    assert len(results_under(runs_root)) == 2


def test_crash_inside_training_is_recorded(tmp_path, monkeypatch):
    # A crash that is not the user's input (a bug, here injected into the optimiser set-up) fails
    # the job as an "exception", with its traceback in results.json.
    from lossbench.module import ClassificationModule
    from lossbench.train import run_in_process

    def broken(self):
        raise RuntimeError("injected failure in configure_optimizers")

    monkeypatch.setattr(ClassificationModule, "configure_optimizers", broken)
    results = run_in_process(["trainer=smoke", "data=synthetic"], tmp_path)
    assert results["status"] == "failed" and results["error_type"] == "exception"
    assert results["error"] == "RuntimeError: injected failure in configure_optimizers"
    assert "Traceback" in results["traceback"] and "configure_optimizers" in results["traceback"]
    assert json.loads((tmp_path / "results.json").read_text())["error_type"] == "exception"


def test_ddp_on_two_cpu_processes_runs_one_job(runs_root):
    # The DDP launcher re-runs the command line in a child process: it must train (not re-launch a
    # sweep, not lose `train`), and only rank 0 writes results and prints the summary.
    proc = run_cli(["train", "trainer=smoke", "trainer.devices=2", "trainer.strategy=ddp", "data=synthetic"],
                   runs_root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (results,) = results_under(runs_root)
    assert results["status"] == "completed" and results["final"]["epoch"] == 1
    assert proc.stdout.count("results: ") == 1


@pytest.mark.parametrize("loader", ["gpu", "torch"])
def test_both_loaders_train_through_lightning(loader, tmp_path):
    # data.loader=gpu works on any device, the CPU included; both paths must run inside the Trainer.
    from lossbench.train import run_in_process

    results = run_in_process(["trainer=cpu", "trainer.max_epochs=8", f"data.loader={loader}"], tmp_path)
    assert results["status"] == "completed", results.get("error")
    assert results["dataset"]["loader"] == loader
    assert results["final"]["test_acc"] > 0.6  # digits_lt, chance 0.1


def test_best_epoch_can_be_selected_by_balanced_validation_accuracy(tmp_path):
    from lossbench.train import run_in_process

    results = run_in_process(["trainer=cpu", "trainer.max_epochs=6", "selection_metric=val_balanced_acc"], tmp_path)
    assert results["status"] == "completed", results.get("error")
    best = results["best"]
    assert best["selected_by"] == "val_balanced_acc"
    rows = list(csv.DictReader((tmp_path / "metrics.csv").open()))
    scores = [float(r["val_balanced_acc"]) for r in rows]
    assert best["val_balanced_acc"] == pytest.approx(max(scores))
    assert best["epoch"] == scores.index(max(scores))  # the first epoch reaching the best score


def test_unknown_selection_metric_is_rejected_before_data(tmp_path):
    from lossbench.train import run_in_process

    results = run_in_process(["selection_metric=test_acc"], tmp_path)
    assert results["status"] == "failed" and results["error_type"] == "config"
    assert "val_balanced_acc" in results["error"] and "class_counts" not in results
