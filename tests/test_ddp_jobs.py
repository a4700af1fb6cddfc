"""Every job of a multirun or sweep can use DDP (two CPU processes, gloo): each job's ranks train
in the job's own directory, one job after another in one interpreter (basic launcher, inline
sweep) or in workers (submitit_local), and nothing is written anywhere else."""
from __future__ import annotations

import json

import pytest

from tests.conftest import results_under, run_cli, run_table

pytestmark = pytest.mark.slow

ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
DDP = ["trainer.devices=2", "trainer.strategy=ddp"]
DDP_MULTIRUN = ["train", "-m", "loss=ce,focal", "trainer=smoke", "data=synthetic", *DDP]
SCALARS = ("test_acc", "test_balanced_acc", "test_nll", "test_ece")


@pytest.fixture(scope="module")
def ddp_multirun(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    proc = run_cli(DDP_MULTIRUN, root, env=ONE_THREAD)
    return proc, root


def test_multirun_of_ddp_jobs_completes_in_the_job_directories(ddp_multirun):
    proc, root = ddp_multirun
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = results_under(root)
    assert sorted(r["loss"] for r in results) == ["ce", "focal"]
    assert all(r["status"] == "completed" and r["world_size"] == 2 and r["final"]["epoch"] == 1 for r in results)
    assert [p.name for p in root.iterdir()] == ["multirun"]  # no stray single-run directory
    for record in results:  # rank 1 logged into its job's directory (Lightning names its log so)
        assert (root / record["run_dir"] / "train_ddp_process_1.log").is_file()
    assert sorted((r["run"], r["ckpt"]) for r in run_table(proc.stdout)) == [
        ("ce", "best"), ("ce", "final"), ("focal", "best"), ("focal", "final")]


def test_submitit_local_runs_ddp_jobs(runs_root, ddp_multirun):
    # Used to stop with `_submit.py: error: unrecognized arguments`: the children re-ran submitit.
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="the `cluster` extra")
    proc = run_cli([*DDP_MULTIRUN, "hydra/launcher=submitit_local"], runs_root, env=ONE_THREAD)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "unrecognized arguments" not in proc.stderr
    results = {r["loss"]: r for r in results_under(runs_root)}
    reference = {r["loss"]: r for r in results_under(ddp_multirun[1])}
    assert sorted(results) == ["ce", "focal"]
    for loss, record in results.items():
        assert record["status"] == "completed" and record["world_size"] == 2
        for key in SCALARS:  # the same two-rank job as under the basic launcher
            assert record["final"][key] == pytest.approx(reference[loss]["final"][key], rel=1e-5, abs=1e-6)
    assert [p.name for p in runs_root.iterdir()] == ["multirun"]


def test_sweep_of_ddp_jobs_completes_every_job(tmp_path, runs_root):
    sweep_dir = tmp_path / "sweep"
    proc = run_cli(["sweep", "demo", "--seeds", "0", "trainer=smoke", "trainer.max_epochs=2", "data=synthetic", *DDP,
                    "--dir", str(sweep_dir)], runs_root, env=ONE_THREAD, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    job_dirs = sorted(p.name for p in sweep_dir.iterdir() if p.is_dir() and "__seed" in p.name)
    assert job_dirs == [f"digits_lt_rho_10__{m}__seed0" for m in ("ce", "focal", "ldam", "poly1")]
    records = [json.loads((sweep_dir / d / "results.json").read_text()) for d in job_dirs]
    assert [(r["status"], r["world_size"]) for r in records] == [("completed", 2)] * 4
    assert not any(runs_root.iterdir())  # the DDP children wrote nothing outside the sweep


def test_smoke_sweep_keeps_the_command_lines_trainer_overrides(tmp_path, runs_root):
    proc = run_cli(["sweep", "demo", "--smoke", *DDP, "--dry-run", "--dir", str(tmp_path / "s")], runs_root,
                   env=ONE_THREAD)
    assert proc.returncode == 0, proc.stderr[-3000:]
    job_lines = [line.split() for line in proc.stdout.splitlines() if "trainer=smoke" in line]
    assert len(job_lines) == 4
    assert all(set(DDP) <= set(line) for line in job_lines)
