"""Sweeps at scale: the local launcher (parallel processes, a thread budget each), claim files that
keep two sweeps from running one job twice, a signal that stops the whole sweep and a re-run that
resumes it, `--status`, and the launcher's bad input."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lossbench import sweep
from lossbench.sweep.claims import CLAIM_FILE, CLAIM_LOG
from tests.conftest import run_cli

ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _records(sweep_dir: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(sweep_dir.glob("*/results.json"))}


@pytest.fixture(scope="module")
def inline_smoke(tmp_path_factory):
    """The demo smoke sweep run inline: the reference for the other launchers."""
    root = tmp_path_factory.mktemp("inline")
    proc = run_cli(["sweep", "demo", "--smoke", "--dir", str(root / "sweep"), "--no-report",
                    "trainer.threads=1"], root, env=ENV)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return _records(root / "sweep")


def test_local_launcher_runs_two_processes_with_one_thread_each(inline_smoke, runs_root):
    sweep_dir = runs_root / "sweep"
    proc = run_cli(["sweep", "demo", "--smoke", "--launcher", "local", "--parallel", "2", "--dir", str(sweep_dir),
                    "trainer.threads=1"], runs_root, env=ENV)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "2 job(s) at once, 1 torch thread(s) each" in proc.stdout
    assert proc.stdout.count(" started (pid ") == 4
    records = _records(sweep_dir)
    assert sorted(records) == sorted(inline_smoke)
    for name, record in records.items():
        assert record["status"] == "completed" and record["threads"] == 1
        # the same job in a worker process gives the same predictions as in one interpreter; NLL and
        # ECE may differ in the last float32 bits (allocation and kernel choice differ by process)
        ours, ref = record["final"], inline_smoke[name]["final"]
        assert ours["test_acc"] == ref["test_acc"] and ours["test_per_class_acc"] == ref["test_per_class_acc"]
        assert ours["test_nll"] == pytest.approx(ref["test_nll"], rel=1e-5)
    assert (sweep_dir / "report.md").is_file()


def test_local_launcher_gives_each_job_its_own_gpu_or_packs_k_per_gpu(runs_root, monkeypatch, capsys):
    """With (pretended) GPUs each worker gets CUDA_VISIBLE_DEVICES of its slot; on this CPU machine
    torch then still trains on the CPU, which is all the test needs."""
    from lossbench.sweep import local

    assert local.local_slots(None, 2, 2) == (4, [0, 0, 1, 1])
    assert local.local_slots(None, None, 3) == (3, [0, 1, 2])
    assert local.local_slots(2, None, 0) == (2, [None, None])
    monkeypatch.setattr(local, "gpu_count", lambda: 2)
    sweep_dir = runs_root / "sweep"
    assert sweep.main(["demo", "--smoke", "--launcher", "local", "--dir", str(sweep_dir), "--no-report",
                       "--methods", "ce,focal"]) == 0
    assert "GPUs [0, 1]" in capsys.readouterr().out
    records = _records(sweep_dir)
    assert sorted(r["cuda_visible_devices"] for r in records.values()) == ["0", "1"]


def test_a_job_held_by_a_live_process_is_left_alone_and_a_stale_claim_is_taken_over(runs_root, capsys):
    sweep_dir = runs_root / "sweep"
    jobs = sorted(j.name for j in sweep.plan(sweep._parser().parse_intermixed_args(["demo", "--smoke"]))[1])
    held, stale = sweep_dir / jobs[0], sweep_dir / jobs[1]
    held.mkdir(parents=True)
    stale.mkdir(parents=True)
    (held / CLAIM_FILE).write_text(json.dumps({"host": os.uname().nodename, "pid": os.getpid(), "token": "x"}))
    dead = subprocess.Popen(["true"])
    dead.wait()
    (stale / CLAIM_FILE).write_text(json.dumps({"host": os.uname().nodename, "pid": dead.pid, "token": "y"}))

    assert sweep.main(["demo", "--smoke", "--dir", str(sweep_dir), "--no-report"]) == 0
    out, err = capsys.readouterr()
    assert f"held by {os.uname().nodename}:{os.getpid()}" in out
    assert not (held / "results.json").exists()  # never touched
    assert "took over the stale claim" in err and "took over" in (stale / CLAIM_LOG).read_text()
    records = _records(sweep_dir)
    assert records[stale.name]["status"] == "completed" and len(records) == 3
    assert not (stale / CLAIM_FILE).exists()  # released when the job ended
    assert "1 job(s) are held by another process" in err


def test_two_sweeps_on_one_directory_never_run_a_job_twice(runs_root):
    sweep_dir = runs_root / "sweep"
    env = {**os.environ, "LOSSBENCH_RUNS": str(runs_root), **ENV}
    args = [sys.executable, "-m", "lossbench", "sweep", "demo", "--smoke", "--dir", str(sweep_dir), "--no-report"]
    procs = [subprocess.Popen(args, cwd=runs_root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    records = _records(sweep_dir)
    assert len(records) == 4
    for record in records.values():
        assert record["status"] == "completed" and len(record["segments"]) == 1  # trained once
    ran = sum(o[0].count(": acc ") for o in outs)
    assert ran == 4  # each job's result line comes from exactly one of the two sweeps


def _wait(predicate, timeout: float = 300.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def _last_epoch(path: Path) -> int:
    try:
        return int(json.loads(path.read_text()).get("last_epoch") or -1)
    except (OSError, ValueError):
        return -1


def test_sigterm_stops_the_whole_sweep_and_a_rerun_resumes_it(runs_root):
    sweep_dir = runs_root / "sweep"
    args = ["demo", "--seeds", "0", "--dir", str(sweep_dir), "--no-report", "trainer.max_epochs=6"]
    env = {**os.environ, "LOSSBENCH_RUNS": str(runs_root), **ENV}
    proc = subprocess.Popen([sys.executable, "-m", "lossbench", "sweep", *args], cwd=runs_root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    second = sweep_dir / "digits_lt_rho_10__focal__seed0" / "results.json"
    _wait(lambda: _last_epoch(second) >= 1 or proc.poll() is not None)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
    assert "run the same command again to resume" in err
    records = _records(sweep_dir)
    assert records["digits_lt_rho_10__ce__seed0"]["status"] == "completed"
    assert records["digits_lt_rho_10__focal__seed0"]["status"] == "interrupted"
    assert len(records) == 2  # poly1 and ldam never started

    status = run_cli(["sweep", *args, "--status"], runs_root, env=ENV)
    assert status.returncode == 0
    lines = {line.split()[0]: line.split()[1] for line in status.stdout.splitlines()[1:-1]}
    assert lines == {"digits_lt_rho_10__ce__seed0": "done", "digits_lt_rho_10__focal__seed0": "interrupted",
                     "digits_lt_rho_10__poly1__seed0": "pending", "digits_lt_rho_10__ldam__seed0": "pending"}

    again = run_cli(["sweep", *args], runs_root, env=ENV)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "digits_lt rho=10 | ce | seed 0: done before, skipped" in again.stdout
    records = _records(sweep_dir)
    assert all(r["status"] == "completed" for r in records.values()) and len(records) == 4
    focal = records["digits_lt_rho_10__focal__seed0"]
    assert [s["status"] for s in focal["segments"]] == ["interrupted", "completed"]
    assert focal["segments"][1]["resumed_from_epoch"] >= 1


@pytest.mark.parametrize("args, words", [
    (["--launcher", "local", "--parallel", "0"], ["--parallel 0", "1 or more"]),
    (["--launcher", "slurmm"], ["--launcher 'slurmm'", "Did you mean 'slurm'"]),
    (["--launcher", "local", "--jobs-per-gpu", "2"], ["--jobs-per-gpu 2", "has none"]),
    (["--parallel", "2"], ["--parallel and --jobs-per-gpu are for --launcher local"]),
    (["--launcher", "local", "launcher.partition=gpu"], ["launcher.* settings are for --launcher slurm"]),
    (["--launcher", "slurm", "launcher.partiton=gpu"], ["launcher.partiton", "Did you mean 'partition'"]),
    (["--seeds", ""], ["--seeds=''", "comma-separated integers"]),
])
def test_bad_launcher_input_is_one_paragraph_and_exit_2(tmp_path, capsys, args, words):
    assert sweep.main(["demo", "--smoke", "--dir", str(tmp_path / "s"), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lossbench: error:") and err.count("\n") == 1
    for word in words:
        assert word in err
    assert not (tmp_path / "s").exists()  # nothing was started


def test_slurm_launcher_without_sbatch_names_it_and_suggests_local(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch here
    assert sweep.main(["demo", "--smoke", "--dir", str(tmp_path / "s"), "--launcher", "slurm"]) == 2
    err = capsys.readouterr().err
    assert "`sbatch`" in err and "--launcher local" in err and "Traceback" not in err


def test_an_unwritable_runs_root_is_named_and_nothing_runs(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert sweep.main(["demo", "--smoke", "runs_root=/proc/x"]) == 2
    err = capsys.readouterr().err
    assert "/proc/x/sweeps/demo-smoke" in err and "runs_root=..." in err and "Traceback" not in err
