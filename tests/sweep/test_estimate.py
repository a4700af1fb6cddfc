"""`lossbench sweep NAME --estimate`: the prediction formula, the placement of jobs on a launcher's
slots, and the command end to end (binding JSON keys, every job named, nothing written)."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from omegaconf import OmegaConf

from lossbench.sweep.estimate import Placement, Probe, cpu_alternatives, placement, predict, wall_time
from tests.conftest import run_cli

PROBE = Probe(step_s=0.01, eval_s=0.02, epoch_s=0.5, fixed_s=3.0, num_train=1000, num_val=300, num_test=900,
              world_size=1)


def _cfg(**trainer):
    return OmegaConf.create({"trainer": {"max_epochs": 10, **trainer},
                             "data": {"batch_size": 100, "eval_batch_size": 200}})


def test_a_job_is_fixed_cost_plus_epochs_plus_two_test_passes():
    # 10 training batches, 2 validation batches, 5 test batches tested twice (final and best weights)
    expected = 3.0 + 10 * (10 * 0.01 + 2 * 0.02 + 0.5) + 2 * 5 * 0.02
    assert predict(_cfg(), PROBE) == pytest.approx(expected)


def test_limits_on_batches_are_honoured():
    expected = 3.0 + 10 * (2 * 0.01 + 1 * 0.02 + 0.5) + 2 * 1 * 0.02
    assert predict(_cfg(limit_train_batches=2, limit_val_batches=1, limit_test_batches=1), PROBE) == \
        pytest.approx(expected)
    assert predict(_cfg(limit_train_batches=0.5), PROBE) == pytest.approx(predict(_cfg(), PROBE) - 10 * 5 * 0.01)


def test_without_a_validation_set_the_test_set_is_passed_once():
    no_val = Probe(**{**vars(PROBE), "num_val": 0})
    assert predict(_cfg(), no_val) == pytest.approx(3.0 + 10 * (10 * 0.01 + 0.5) + 5 * 0.02)


def test_jobs_go_to_the_first_slot_that_frees():
    assert wall_time([3, 1, 1, 1], 2) == 3
    assert wall_time([1, 1, 1, 3], 2) == 4
    assert wall_time([2, 2, 2], 1) == 6


def test_placements_follow_the_launcher_options():
    local = SimpleNamespace(launcher="local", parallel=2, jobs_per_gpu=None, slurm={})
    assert placement(local, gpus=0, cores=2) == Placement("local", 2, 1, True)
    slurm = SimpleNamespace(launcher="slurm", parallel=None, jobs_per_gpu=None,
                            slurm={"array_parallelism": 8, "cpus_per_job": 4})
    assert placement(slurm, gpus=0, cores=2) == Placement("slurm", 8, 4, True)
    inline = placement(SimpleNamespace(launcher="inline", parallel=None, jobs_per_gpu=None, slurm={}), 0, 4)
    assert inline == Placement("inline", 1, None, False)
    # the other ways to run here: --parallel N for each N that divides the cores
    assert [(p.launcher, p.slots, p.threads) for p in cpu_alternatives(inline, 4, 0)] == \
        [("local", 2, 2), ("local", 4, 1)]
    assert cpu_alternatives(inline, 4, gpus=1) == []


def test_estimate_names_every_job_and_writes_nothing(runs_root):
    sweep_dir = runs_root / "s"
    proc = run_cli(["sweep", "demo", "--smoke", "--estimate", "--json", "--dir", str(sweep_dir)], runs_root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    dry = run_cli(["sweep", "demo", "--smoke", "--dry-run", "--dir", str(sweep_dir)], runs_root)
    names = [line.split()[1] for line in dry.stdout.splitlines() if line.strip()[:1].isdigit()]
    assert [j["name"] for j in result["jobs"]] == names
    assert {"jobs", "job_seconds", "wall_seconds"} <= set(result)
    assert all(j["seconds"] > 0 for j in result["jobs"])
    assert result["job_seconds"] == pytest.approx(sum(j["seconds"] for j in result["jobs"]), abs=0.1 * len(names))
    # inline: one job after another, plus each dataset loaded once before its first job
    assert result["wall_seconds"] >= result["job_seconds"] - 0.1 * len(names)
    assert result["recommended"] in {result["launcher"], *(a["launcher"] for a in result["alternatives"])}
    assert not sweep_dir.exists() and not list(runs_root.iterdir())


def test_json_without_estimate_is_refused(runs_root):
    proc = run_cli(["sweep", "demo", "--smoke", "--json", "--dir", str(runs_root / "s")], runs_root)
    assert proc.returncode == 2 and "--json is for --estimate" in proc.stderr


def test_probes_keep_the_jobs_max_epochs_for_its_schedule(runs_root):
    """A probe is shortened by max_steps, never by max_epochs: milestones at 20 and 25 of 30 epochs
    stay valid (a probe with max_epochs=1 was refused by the job's own check)."""
    proc = run_cli(["sweep", "demo", "--seeds", "0", "--methods", "ce", "--estimate", "--json", "scheduler=multistep",
                    "scheduler.milestones=[20,25]"], runs_root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (job,) = json.loads(proc.stdout)["jobs"]
    assert job["name"] == "digits_lt_rho_10__ce__seed0" and job["seconds"] > 0
