"""Which processes belong to one job, and how many jobs share the machine: the SLURM step's tasks
per node (for Lightning), the run-directory stamp the tasks of one `srun` step agree on, and how
many jobs a Hydra launcher runs at once (for the torch threads of each)."""
from __future__ import annotations

import os
import sys
import time

import pytest
from omegaconf import OmegaConf

from lossbench import distributed, hydra_hooks, hydra_internals

SLURM_VARS = ("SLURM_JOB_ID", "SLURM_STEP_ID", "SLURM_STEPID", "SLURM_PROCID", "SLURM_STEP_NUM_TASKS",
              "SLURM_NTASKS", "SLURM_STEP_TASKS_PER_NODE", "SLURM_NTASKS_PER_NODE", "SLURM_JOB_START_TIME",
              "RANK", "PMI_RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", hydra_hooks.STAMP_ENV,
              hydra_hooks.UID_ENV, hydra_internals.MULTIRUN_BATCH_ENV)


@pytest.fixture
def clean_env(monkeypatch):
    for var in SLURM_VARS:
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def _srun_step(monkeypatch, procid: int, per_node: str = "2") -> None:
    monkeypatch.setenv("SLURM_JOB_ID", "77")
    monkeypatch.setenv("SLURM_STEP_ID", "3")
    monkeypatch.setenv("SLURM_STEP_NUM_TASKS", "2")
    monkeypatch.setenv("SLURM_STEP_TASKS_PER_NODE", per_node)
    monkeypatch.setenv("SLURM_PROCID", str(procid))


@pytest.mark.parametrize("per_node, expected", [("2", 2), ("4(x3)", 4), ("2(x2),2", 2), ("2,1", None)])
def test_tasks_per_node_of_the_srun_step(clean_env, per_node, expected):
    _srun_step(clean_env, 0, per_node)
    assert distributed.srun_tasks_per_node() == expected


def test_no_tasks_per_node_outside_a_step(clean_env):
    clean_env.setenv("SLURM_JOB_ID", "77")  # inside an allocation (sbatch's batch script), no step
    clean_env.setenv("SLURM_NTASKS", "2")
    assert distributed.srun_tasks_per_node() is None
    assert distributed.global_rank() == 0


def test_srun_rank_comes_from_the_task_id(clean_env):
    _srun_step(clean_env, 1)
    assert distributed.global_rank() == 1 and not distributed.is_global_zero()


def test_job_scope_tells_lightning_the_tasks_per_node_and_puts_everything_back(clean_env, tmp_path):
    # Lightning refuses `srun -n 2` without SLURM_NTASKS_PER_NODE ("--ntasks is not supported").
    _srun_step(clean_env, 0)
    argv = list(sys.argv)
    with distributed.ddp_job_scope(["loss=ce", "hydra.run.dir=elsewhere"], tmp_path):
        assert os.environ["SLURM_NTASKS_PER_NODE"] == "2"
        assert sys.argv[1:] == ["train", "loss=ce", f"hydra.run.dir={tmp_path}"]
    assert "SLURM_NTASKS_PER_NODE" not in os.environ
    assert sys.argv == argv


def _fake_scontrol(monkeypatch, tmp_path, start: str) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "scontrol"
    # The one-line form of SLURM 22.05's `scontrol show job -o ID` (abridged).
    script.write_text(f"#!/bin/sh\necho 'JobId=$4 JobName=wrap JobState=RUNNING SubmitTime=2026-12-01T11:38:00 "
                      f"StartTime={start} EndTime=Unknown'\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def test_job_start_from_the_environment_first(clean_env, tmp_path):
    _fake_scontrol(clean_env, tmp_path, "2026-12-01T11:38:07")
    clean_env.setenv("SLURM_JOB_START_TIME", "1700000000")
    assert hydra_hooks.slurm_job_start("77") == "1700000000"


def test_job_start_from_scontrol_on_slurm_22(clean_env, tmp_path):
    _fake_scontrol(clean_env, tmp_path, "2026-12-01T11:38:07")
    expected = int(time.mktime((2026, 12, 1, 11, 38, 7, 0, 0, -1)))  # local time, as scontrol prints it
    assert hydra_hooks.slurm_job_start("77") == str(expected)


def test_job_start_unknown_without_scontrol(clean_env, tmp_path):
    clean_env.setenv("PATH", str(tmp_path))  # no scontrol here
    assert hydra_hooks.slurm_job_start("77") is None


def test_tasks_of_one_step_name_the_same_directory(clean_env, tmp_path):
    _fake_scontrol(clean_env, tmp_path, "2026-12-01T11:38:07")
    names = []
    for procid in (0, 1):
        _srun_step(clean_env, procid)
        with hydra_hooks.command_identity():
            names.append((os.environ[hydra_hooks.STAMP_ENV], os.environ[hydra_hooks.UID_ENV]))
        assert hydra_hooks.STAMP_ENV not in os.environ  # restored after the command
    expected_stamp = str(int(time.mktime((2026, 12, 1, 11, 38, 7, 0, 0, -1))))
    assert names == [(expected_stamp, "slurm77.3")] * 2


@pytest.mark.parametrize("launcher, batch, cores, expected", [
    ({"_target_": hydra_hooks.JOBLIB_LAUNCHER, "n_jobs": 2}, 5, 2, 2),
    ({"_target_": hydra_hooks.JOBLIB_LAUNCHER, "n_jobs": 4}, 3, 2, 3),   # no more than the batch
    ({"_target_": hydra_hooks.JOBLIB_LAUNCHER, "n_jobs": -1}, 0, 2, 2),  # joblib's -1: one per core
    ({"_target_": hydra_hooks.JOBLIB_LAUNCHER, "n_jobs": -1}, 0, 8, 8),
    ({"_target_": hydra_hooks.JOBLIB_LAUNCHER, "n_jobs": -2}, 0, 8, 7),  # -2: all cores but one
    ({"_target_": hydra_hooks.SUBMITIT_LOCAL_LAUNCHER}, 3, 2, 3),        # the whole batch at once
    ({"_target_": hydra_hooks.SUBMITIT_LOCAL_LAUNCHER}, 0, 2, 1),
    ({"_target_": hydra_internals.BASIC_LAUNCHER}, 3, 2, 1),
])
def test_jobs_a_launcher_runs_at_once(launcher, batch, cores, expected):
    assert hydra_hooks.jobs_at_once(OmegaConf.create(launcher), batch, cores) == expected


def test_batch_size_counts_the_sweep_like_hydra():
    task = ["loss=ce,focal", "seed=0,1,2", "trainer=smoke"]
    assert hydra_internals.first_batch_size(task, None) == 6
    assert hydra_internals.first_batch_size(task, 4) == 4


def test_the_multirun_facts_reach_the_command_once(clean_env):
    hydra_internals.record_multirun("/runs/multirun/x", 6)
    assert hydra_internals.multirun_batch() == 6
    assert hydra_internals.take_multirun_dir() == "/runs/multirun/x"
    assert hydra_internals.take_multirun_dir() is None and hydra_internals.multirun_batch() == 0
