"""`lossbench sweep --launcher slurm` against the real one-node cluster: a sweep runs as a job array
through sbatch, a job that SLURM requeues or signals resumes and ends with the metrics of an
uninterrupted run, and sbatch's own refusal reaches the user."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import run_cli

ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
SLURM = ["--launcher", "slurm", "launcher.cpus_per_job=1", "launcher.mem_gb=2", "launcher.timeout_min=30"]


def _records(sweep_dir: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(sweep_dir.glob("*/results.json"))}


def test_demo_sweep_runs_as_a_slurm_job_array(slurm_cluster, runs_root):
    sweep_dir = runs_root / "sweep"
    proc = run_cli(["sweep", "demo", "--seeds", "0", "--dir", str(sweep_dir), *SLURM, "trainer.max_epochs=3"],
                   runs_root, env={**ENV, "SLURM_CONF": slurm_cluster}, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = _records(sweep_dir)
    assert len(records) == 4 and all(r["status"] == "completed" for r in records.values())
    assert all(r["threads"] == 1 for r in records.values())  # launcher.cpus_per_job
    array = proc.stdout.split("as array ")[1].split(";")[0]
    assert proc.stdout.count(f"(SLURM {array}_") == 4
    report = (sweep_dir / "report.md").read_text()
    for method in ("ce", "focal", "poly1", "ldam"):
        assert f"| {method} |" in report


def _last_epoch(path: Path) -> int:
    try:
        return json.loads(path.read_text()).get("last_epoch") or -1
    except (OSError, ValueError):
        return -1


# The two ways SLURM stops a job, one per job of the same two-job sweep (seed 0 and seed 1), which
# the two-CPU test node runs side by side: one sweep, one wait for SLURM's requeue, both checked.
STOPS = {"scontrol requeue": 0, "scancel --signal=TERM": 1}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The same jobs, run inline with one thread and never interrupted: job name -> record."""
    root = tmp_path_factory.mktemp("ref")
    proc = run_cli(["sweep", "demo", "--seeds", "0,1", "--methods", "ce", "--dir", str(root / "s"), "--no-report",
                    "trainer.max_epochs=12", "trainer.threads=1"], root, env=ENV)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return _records(root / "s")


@pytest.fixture(scope="module")
def stopped_sweep(slurm_cluster, tmp_path_factory):
    """The sweep run as a SLURM job array, its seed-0 job requeued (`scontrol requeue`) and its seed-1
    job signalled (`scancel --signal=TERM`) after epoch 2: (the command's exit code and stderr, the
    job directories' records)."""
    runs_root = tmp_path_factory.mktemp("stopped")
    sweep_dir = runs_root / "sweep"
    env = {**os.environ, "LOSSBENCH_RUNS": str(runs_root), "SLURM_CONF": slurm_cluster, **ENV}
    proc = subprocess.Popen([sys.executable, "-m", "lossbench", "sweep", "demo", "--seeds", "0,1", "--methods", "ce",
                             "--dir", str(sweep_dir), "--no-report", "trainer.max_epochs=12", "trainer.threads=1",
                             *SLURM], cwd=runs_root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Both jobs are watched in one loop and each is stopped the moment it passes epoch 2: waiting for
    # one and then the other let the second finish all its epochs before its signal came (seen in CI).
    waiting, deadline = dict(STOPS), time.time() + 300
    while waiting and time.time() < deadline:
        for how, seed in list(waiting.items()):
            name = f"digits_lt_rho_10__ce__seed{seed}"
            if _last_epoch(sweep_dir / name / "results.json") >= 2:
                job_id = json.loads((sweep_dir / ".submitit" / "slurm_jobs.json").read_text())[name]
                subprocess.run([*how.split(), job_id], check=True, env=env, capture_output=True)
                del waiting[how]
        time.sleep(0.05)
    assert not waiting, f"these jobs never reached epoch 2: {waiting}"
    _, err = proc.communicate(timeout=600)
    return proc.returncode, err, _records(sweep_dir)


@pytest.mark.parametrize("how", list(STOPS))
def test_a_requeued_or_signalled_job_resumes_to_the_same_metrics(stopped_sweep, reference, how):
    returncode, err, records = stopped_sweep
    assert returncode == 0, err[-3000:]
    name = f"digits_lt_rho_10__ce__seed{STOPS[how]}"
    record = records[name]
    assert record["status"] == "completed"
    assert len(record["segments"]) == 2, f"one segment: the job ended before its stop arrived: {record['segments']}"
    assert record["segments"][1]["resumed_from_epoch"] >= 2
    assert record["segments"][0]["status"] in ("interrupted", "killed")
    for which in ("final", "best"):
        assert {k: v for k, v in record[which].items() if k.startswith("test_")} == \
            {k: v for k, v in reference[name][which].items() if k.startswith("test_")}


def test_sbatch_refusal_is_relayed_in_one_paragraph(slurm_cluster, runs_root):
    proc = run_cli(["sweep", "demo", "--smoke", "--dir", str(runs_root / "s"), *SLURM,
                    "launcher.partition=nosuchpartition"], runs_root, env={**ENV, "SLURM_CONF": slurm_cluster})
    assert proc.returncode == 2
    assert "sbatch refused" in proc.stderr and "invalid partition" in proc.stderr.lower()
    assert "Traceback" not in proc.stderr


@pytest.mark.skipif(shutil.which("sbatch") is None, reason="sbatch is not installed")
@pytest.mark.skipif(Path("/etc/slurm/slurm.conf").exists(), reason="this machine has a system slurm.conf")
def test_a_missing_slurm_conf_is_named_with_what_to_set(runs_root):
    """No SLURM_CONF and no system slurm.conf: sbatch's DNS lookups fail; lossbench says what to set."""
    env = {k: v for k, v in os.environ.items() if k != "SLURM_CONF"}
    proc = subprocess.run([sys.executable, "-m", "lossbench", "sweep", "demo", "--smoke", "--dir", str(runs_root / "s"),
                           *SLURM], cwd=runs_root, env={**env, **ENV}, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("lossbench:")]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "found no SLURM configuration" in lines[0] and "SLURM_CONF" in lines[0]
    assert 'eval "$(scripts/local-slurm.sh start --env)"' in lines[0]
