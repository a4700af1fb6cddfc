"""The thread budget of a job: never more torch threads than the cores it was given."""
from __future__ import annotations

import os

import pytest

from lossbench.train import default_threads, run_in_process


@pytest.fixture
def four_cores(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.delenv("SLURM_CPUS_PER_TASK", raising=False)


def test_a_job_takes_the_cores_it_may_run_on(four_cores):
    assert default_threads({"accelerator": "auto", "devices": "auto"}) == 4


def test_cpu_ddp_ranks_share_the_cores(four_cores):
    assert default_threads({"accelerator": "cpu", "devices": 2}) == 2
    assert default_threads({"accelerator": "cpu", "devices": 8}) == 1


def test_slurm_cpus_per_task_is_the_budget(four_cores, monkeypatch):
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "3")
    assert default_threads({"accelerator": "cpu", "devices": 1}) == 3


def test_trainer_threads_is_recorded(tmp_path):
    record = run_in_process(["trainer=smoke", "data=synthetic", "trainer.threads=1"], tmp_path / "job")
    assert record["status"] == "completed" and record["threads"] == 1


def test_a_seed_that_is_not_an_integer_fails_as_config_without_raising(tmp_path):
    record = run_in_process(["trainer=smoke", "data=synthetic", "seed=abc"], tmp_path / "job")
    assert record["status"] == "failed" and record["error_type"] == "config"
    assert "seed='abc' is not a seed" in record["error"]
