"""`srun -n 2 python -m lossbench train ... trainer.devices=2 trainer.strategy=ddp`: SLURM starts the
two ranks (Lightning's SLURMEnvironment), they name ONE run directory (the SLURM job and step id,
and the job's start time) and only rank 0 writes results.json and prints the summary."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO, run_cli

pytestmark = pytest.mark.slow

TRAIN = ["train", "trainer=smoke", "data=synthetic", "trainer.accelerator=cpu", "trainer.devices=2",
         "trainer.strategy=ddp"]
SCALARS = ("test_acc", "test_balanced_acc", "test_nll", "test_ece")


def _job_start(job_id: str) -> str:
    shown = subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True,
                           timeout=30).stdout
    return re.search(r"\bStartTime=\S+T(\d\d):(\d\d):(\d\d)", shown).expand(r"\1-\2-\3")


def test_srun_ranks_share_one_run_directory(slurm_cluster, tmp_path):
    runs = tmp_path / "runs"
    out = tmp_path / "job.out"
    script = tmp_path / "job.sh"
    script.write_text(f"#!/bin/bash\nsrun -n 2 {sys.executable} -m lossbench {' '.join(TRAIN)}\n")
    env = {**os.environ, "LOSSBENCH_RUNS": str(runs), "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"),
                                                                              os.environ.get("PYTHONPATH")]))}
    submitted = subprocess.run(["sbatch", "--parsable", "-n", "2", "-o", str(out), "--chdir", str(tmp_path),
                                str(script)], capture_output=True, text=True, timeout=30, env=env, check=True)
    job_id = submitted.stdout.strip().split(";")[0]
    deadline = time.monotonic() + 420
    try:
        while subprocess.run(["squeue", "-h", "-j", job_id], capture_output=True, text=True).stdout.strip():
            assert time.monotonic() < deadline, f"job {job_id} did not end: {out.read_text()[-2000:]}"
            time.sleep(2)
    finally:
        subprocess.run(["scancel", job_id], timeout=30)
    log = out.read_text()
    results = sorted(runs.rglob("results.json"))
    assert len(results) == 1, log[-3000:]
    run_dir = results[0].parent
    assert [p.parent for p in runs.rglob("config.yaml") if p.parent.name != ".hydra"] == [run_dir]
    record = json.loads(results[0].read_text())
    assert (record["status"], record["world_size"], record["final"]["epoch"]) == ("completed", 2, 1)
    assert run_dir.name.endswith(f"_slurm{job_id}.0")  # the job and step id
    # The job's start time as SLURM records it (22.05 has no SLURM_JOB_START_TIME: from scontrol).
    assert run_dir.name.startswith(_job_start(job_id))
    assert log.count("results: ") == 1  # rank 0 alone prints the summary
    # Rank 1 logs to a file of its own and leaves .hydra/ to rank 0.
    assert (run_dir / "train_srun_rank1.log").is_file() and (run_dir / ".hydra" / "config.yaml").is_file()

    # The two SLURM tasks are the two ranks of one DDP job: the same numbers as the two processes
    # Lightning starts itself for the same command.
    spawned_root = tmp_path / "spawned"
    spawned_root.mkdir()
    spawned = run_cli(TRAIN, spawned_root, env={"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    assert spawned.returncode == 0, spawned.stderr[-3000:]
    (reference,) = [json.loads(p.read_text()) for p in spawned_root.rglob("results.json")]
    for key in SCALARS:
        assert record["final"][key] == pytest.approx(reference["final"][key], rel=1e-5, abs=1e-6)
