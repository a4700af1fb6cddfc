"""The local one-node SLURM cluster runs submitit jobs and relays sbatch's own rejections."""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

submitit = pytest.importorskip("submitit", reason="submitit is in the `cluster` extra: pip install -e '.[cluster]'")

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "local-slurm.sh"
# SLURM 22.05's wording for an unknown partition (sbatch's stderr, exit code 1).
UNKNOWN_PARTITION = "sbatch: error: Batch job submission failed: Invalid partition name specified"


def _sum_of_squares_and_job_id(n: int) -> tuple[int, int]:
    # Runs in the SLURM job: the job id shows that it ran there and not in the test process.
    return sum(k * k for k in range(1, n + 1)), int(os.environ["SLURM_JOB_ID"])


def _executor(folder):
    executor = submitit.AutoExecutor(folder=folder, cluster="slurm")
    executor.update_parameters(timeout_min=5, slurm_partition="debug", cpus_per_task=1, tasks_per_node=1)
    return executor


def test_submitit_job_returns_its_result(slurm_cluster, tmp_path):
    job = _executor(tmp_path).submit(_sum_of_squares_and_job_id, 10)
    total, job_id = job.result()
    assert total == 385  # 1 + 4 + ... + 100
    assert str(job_id) == job.job_id


def test_sbatch_unknown_partition_fails_with_slurms_message(slurm_cluster):
    proc = subprocess.run(["sbatch", "-p", "nosuchpartition", "--wrap", "true"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    assert "sbatch: error: invalid partition specified: nosuchpartition" in proc.stderr
    assert UNKNOWN_PARTITION in proc.stderr


def test_submitit_relays_unknown_partition(slurm_cluster, tmp_path):
    executor = _executor(tmp_path)
    executor.update_parameters(slurm_partition="nosuchpartition")
    # submitit raises FailedJobError whose message is sbatch's stderr.
    with pytest.raises(submitit.core.utils.FailedJobError) as caught:
        executor.submit(_sum_of_squares_and_job_id, 1)
    assert UNKNOWN_PARTITION in str(caught.value)


def _wait_for_line(path, line: str, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and line in path.read_text().splitlines():
            return True
        time.sleep(0.5)
    return False


def test_requeued_job_runs_again(slurm_cluster, tmp_path):
    # What preemption does to a job: `scontrol requeue` ends the running job and starts it again,
    # counting the restart. The cluster's cred_expire=10 keeps the wait before the restart ~12 s
    # (SLURM's default is 120 s).
    marks = tmp_path / "marks.txt"
    script = tmp_path / "job.sh"
    script.write_text(f'#!/bin/bash\necho "start ${{SLURM_RESTART_COUNT:-0}}" >> {marks}\nexec sleep 120\n')
    submitted = subprocess.run(["sbatch", "--parsable", "--requeue", "-o", str(tmp_path / "job.out"), str(script)],
                               capture_output=True, text=True, timeout=30, check=True)
    job_id = submitted.stdout.strip()
    try:
        assert _wait_for_line(marks, "start 0", 20), "the job never started"
        subprocess.run(["scontrol", "requeue", job_id], check=True, timeout=30)
        assert _wait_for_line(marks, "start 1", 40), f"not restarted after requeue: {marks.read_text()!r}"
        assert marks.read_text().splitlines() == ["start 0", "start 1"]
    finally:
        subprocess.run(["scancel", job_id], timeout=30)


def test_second_start_keeps_the_running_daemons(slurm_cluster):
    pids_dir = os.path.join(os.path.dirname(slurm_cluster), "pids")
    before = {name: open(os.path.join(pids_dir, name)).read() for name in os.listdir(pids_dir)}
    again = subprocess.run(["bash", str(SCRIPT), "start"], capture_output=True, text=True, timeout=60)
    assert again.returncode == 0
    assert "already running" in again.stderr
    assert again.stdout.strip() == f"export SLURM_CONF={slurm_cluster}"
    assert {name: open(os.path.join(pids_dir, name)).read() for name in os.listdir(pids_dir)} == before


def test_start_env_sets_slurm_conf_in_the_callers_shell(slurm_cluster):
    """`eval "$(scripts/local-slurm.sh start --env)"`: the shell that evals it reaches the cluster."""
    env = {k: v for k, v in os.environ.items() if k != "SLURM_CONF"}
    shell = subprocess.run(["bash", "-c", f'eval "$(bash {SCRIPT} start --env)" && echo "$SLURM_CONF" && sinfo -h -o %P'],
                           capture_output=True, text=True, timeout=60, env=env)
    assert shell.returncode == 0, shell.stderr
    conf, partition = shell.stdout.split()
    assert conf == slurm_cluster and partition == "debug*"
