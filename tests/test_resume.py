"""Resume: a job killed (SIGKILL) or stopped (SIGTERM, SIGINT) at any epoch and run again into its
directory ends with test metrics identical (==) to an uninterrupted run; a different config is
refused; the record keeps every segment."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import run_cli

# Random state that a resumed run must restore: torchvision crops drawn from torch's global
# generator (the torch loader), and label noise; validation on, so `best` is exercised too.
JOB = ["trainer=cpu", "trainer.max_epochs=6", "data.loader=torch", "data.augment=crop",
       "data.label_noise.type=symmetric", "data.label_noise.rate=0.2", "trainer.enable_progress_bar=false"]
ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _start(args: list[str], runs_root: Path, env: dict | None = None) -> subprocess.Popen:
    env = {**os.environ, "LOSSBENCH_RUNS": str(runs_root), **ENV, **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "lossbench", "train", *args], cwd=runs_root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def killed_then_resumed(args: list[str], run_dir: Path, runs_root: Path, env: dict | None = None) -> dict:
    """`lossbench train ARGS` (ARGS put it in run_dir) SIGKILLed once its first epoch has finished,
    then run again to the end: its results.json (for the tests of other modules that resume)."""
    proc = _start(args, runs_root, env)
    _wait_for_epoch(run_dir, 0, proc)
    proc.kill()
    proc.communicate()
    again = run_cli(["train", *args], runs_root, env={**ENV, **(env or {})})
    assert again.returncode == 0, again.stderr[-3000:]
    record = _results(run_dir)
    assert record["segments"][-1]["resumed_from_epoch"] is not None
    return record


def _wait_for_epoch(run_dir: Path, epoch: int, proc: subprocess.Popen, timeout: float = 240) -> None:
    """Until results.json says `epoch` has finished (its last.ckpt is then on disk)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, f"the job ended before epoch {epoch}: {proc.communicate()[1][-2000:]}"
        try:
            record = json.loads((run_dir / "results.json").read_text())
            if (record.get("last_epoch") or -1) >= epoch:
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.02)
    raise AssertionError(f"epoch {epoch} did not finish within {timeout} s")


def _results(run_dir: Path) -> dict:
    return json.loads((run_dir / "results.json").read_text())


def _test_numbers(record: dict) -> dict:
    return {which: {k: v for k, v in (record[which] or {}).items() if k.startswith("test_") or k == "epoch"}
            for which in ("final", "best")}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The reference: the same job, never stopped; and the same with no validation split."""
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for name, extra in (("val", []), ("noval", ["data.val_fraction=0"])):
        proc = run_cli(["train", *JOB, *extra, f"hydra.run.dir={root / name}"], root, env=ENV)
        assert proc.returncode == 0, proc.stderr[-3000:]
        out[name] = _results(root / name)
    return out


@pytest.mark.parametrize("kill_after_epoch", [0, 3])
def test_sigkill_then_resume_gives_identical_test_metrics(uninterrupted, runs_root, kill_after_epoch):
    run_dir = runs_root / "job"
    proc = _start([*JOB, f"hydra.run.dir={run_dir}"], runs_root)
    _wait_for_epoch(run_dir, kill_after_epoch, proc)
    proc.kill()
    proc.wait()
    killed = _results(run_dir)
    assert killed["status"] == "running" and killed["last_epoch"] >= kill_after_epoch
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()

    again = run_cli(["train", *JOB, f"hydra.run.dir={run_dir}"], runs_root, env=ENV)
    assert again.returncode == 0, again.stderr[-3000:]
    resumed = _results(run_dir)
    assert resumed["status"] == "completed"
    assert _test_numbers(resumed) == _test_numbers(uninterrupted["val"])
    first, second = resumed["segments"]
    assert first["status"] == "killed" and first["resumed_from_epoch"] is None
    assert second["status"] == "completed" and second["resumed_from_epoch"] >= kill_after_epoch
    assert resumed["wall_time_s"] == pytest.approx(first["wall_time_s"] + second["wall_time_s"], abs=2e-3)
    rows = (run_dir / "metrics.csv").read_text().splitlines()
    assert [int(r.split(",")[0]) for r in rows[1:]] == list(range(6))  # one row per epoch, none twice


def test_without_validation_last_ckpt_is_written_every_epoch_and_resumes(uninterrupted, runs_root):
    run_dir = runs_root / "job"
    args = [*JOB, "data.val_fraction=0", f"hydra.run.dir={run_dir}"]
    proc = _start(args, runs_root)
    _wait_for_epoch(run_dir, 2, proc)
    proc.kill()
    proc.wait()
    import torch

    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["epoch"] >= 2
    again = run_cli(["train", *args], runs_root, env=ENV)
    assert again.returncode == 0, again.stderr[-3000:]
    resumed = _results(run_dir)
    assert resumed["best"] is None
    assert _test_numbers(resumed) == _test_numbers(uninterrupted["noval"])


def test_sigterm_stops_at_a_batch_boundary_as_interrupted_then_resumes(uninterrupted, runs_root):
    run_dir = runs_root / "job"
    proc = _start([*JOB, f"hydra.run.dir={run_dir}"], runs_root)
    _wait_for_epoch(run_dir, 2, proc)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM
    stopped = _results(run_dir)
    assert stopped["status"] == "interrupted" and stopped["error_type"] == "interrupted"
    assert stopped["signal"] == signal.SIGTERM and "SIGTERM" in stopped["error"]
    assert f"the last finished epoch, {stopped['last_epoch']}" in stopped["error"]
    assert "resume" in stderr

    again = run_cli(["train", *JOB, f"hydra.run.dir={run_dir}"], runs_root, env=ENV)
    assert again.returncode == 0, again.stderr[-3000:]
    resumed = _results(run_dir)
    assert _test_numbers(resumed) == _test_numbers(uninterrupted["val"])
    assert [s["status"] for s in resumed["segments"]] == ["interrupted", "completed"]
    assert resumed["segments"][1]["resumed_from_epoch"] == stopped["last_epoch"]


def test_sigint_says_how_to_resume(runs_root):
    run_dir = runs_root / "job"
    proc = _start([*JOB, f"hydra.run.dir={run_dir}"], runs_root)
    _wait_for_epoch(run_dir, 1, proc)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGINT
    assert "SIGINT" in stderr and "run the same command again to resume" in stderr.lower()
    assert "Traceback" not in stderr
    assert _results(run_dir)["status"] == "interrupted"


def test_a_different_config_is_refused_and_nothing_is_overwritten(runs_root):
    run_dir = runs_root / "job"
    short = ["trainer=cpu", "trainer.max_epochs=2", "trainer.enable_progress_bar=false", f"hydra.run.dir={run_dir}"]
    assert run_cli(["train", *short], runs_root, env=ENV).returncode == 0
    before = (run_dir / "results.json").read_text()
    proc = run_cli(["train", *short, "optimizer.lr=0.02", "loss=focal"], runs_root, env=ENV)
    assert proc.returncode == 2
    assert "optimizer.lr: 0.05 -> 0.02" in proc.stderr and "resume=never" in proc.stderr
    assert "loss._target_" in proc.stderr and "Traceback" not in proc.stderr
    assert (run_dir / "results.json").read_text() == before  # the other run's record is untouched

    fresh = run_cli(["train", *short, "optimizer.lr=0.05", "resume=never"], runs_root, env=ENV)
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    record = _results(run_dir)
    assert record["status"] == "completed" and len(record["segments"]) == 1
    assert record["segments"][0]["resumed_from_epoch"] is None


def test_resume_mode_and_ckpt_path_are_checked(runs_root):
    bad = run_cli(["train", "resume=sometimes", "trainer=smoke", "data=synthetic"], runs_root, env=ENV)
    assert bad.returncode == 2 and "resume='sometimes' is not one of auto, never" in bad.stderr
    for key in ("ckpt_path=x.ckpt", "+ckpt_path=x.ckpt"):
        proc = run_cli(["train", key], runs_root, env=ENV)
        assert proc.returncode == 2 and "resume=auto" in proc.stderr and "Traceback" not in proc.stderr
