"""Loggers: W&B offline (one run per job, grouped by sweep, config logged) and TensorBoard."""
from __future__ import annotations

from pathlib import Path

from tests.conftest import results_under, run_cli


def test_wandb_offline_gives_one_run_per_multirun_job_with_config_and_group(runs_root):
    proc = run_cli(["train", "-m", "logger=wandb", "loss=focal", "loss.gamma=1.5,2.5", "trainer=smoke",
                    "data=synthetic"], runs_root, env={"WANDB_MODE": "offline", "WANDB_SILENT": "true"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = results_under(runs_root)
    assert len(results) == 2
    run_ids = set()
    for res in results:
        run_dir = Path(res["run_dir"])
        (offline,) = (run_dir / "wandb").glob("offline-run-*")  # exactly one W&B run in each job's directory
        (run_file,) = offline.glob("run-*.wandb")
        run_id = run_file.stem[len("run-"):]
        assert run_id.startswith(run_dir.name + "-")  # the job's name plus a random suffix: unique
        run_ids.add(run_id)
        # The run file is a stream of protobuf records; their string fields are stored verbatim.
        record_bytes = run_file.read_bytes()
        assert f'"gamma":{_gamma(res)}'.encode() in record_bytes  # the resolved config of this job
        assert run_dir.parent.name.encode() in record_bytes  # the W&B group: the sweep directory
    assert len(run_ids) == 2


def _gamma(res: dict) -> str:
    return next(o.split("=", 1)[1] for o in res["overrides"] if o.startswith("loss.gamma="))


def test_tensorboard_writes_event_files(runs_root):
    proc = run_cli(["train", "logger=tensorboard", "trainer=smoke", "data=synthetic"], runs_root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (res,) = results_under(runs_root)
    events = list((Path(res["run_dir"]) / "tensorboard").rglob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0


def test_wandb_runs_of_a_lossbench_sweep_are_grouped_by_its_name(tmp_path, monkeypatch):
    from lossbench.train import run_in_process

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    results = run_in_process(["logger=wandb", "trainer=smoke", "data=synthetic"], tmp_path / "job",
                             sweep={"name": "my_sweep"})
    assert results["status"] == "completed", results.get("error")
    (run_file,) = (tmp_path / "job" / "wandb").glob("offline-run-*/run-*.wandb")
    assert b"my_sweep" in run_file.read_bytes()
