"""Loggers: W&B offline (one run per job, grouped by sweep, config logged) and TensorBoard, alone
and composed (`logger=[tensorboard,wandb]`), each receiving the test results and the lr."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from tests.conftest import results_under, run_cli
from tests.wandb_records import history, run_info

OFFLINE = {"WANDB_MODE": "offline", "WANDB_SILENT": "true"}


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
        assert run_info(run_file).run_group == run_dir.parent.name  # the W&B group: the sweep directory
        # The run file is a stream of protobuf records; their string fields are stored verbatim.
        assert _written(run_file, f'"gamma":{_gamma(res)}'.encode())  # the resolved config of this job
    assert len(run_ids) == 2


def _written(path: Path, needle: bytes, timeout_s: float = 60.0) -> bool:
    """Whether `needle` appears in the file within timeout_s: wandb's service process writes it, and
    may still be writing when the job has returned (tests/wandb_records.run_info)."""
    import time

    deadline = time.monotonic() + timeout_s
    while needle not in path.read_bytes():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def _gamma(res: dict) -> str:
    return next(o.split("=", 1)[1] for o in res["overrides"] if o.startswith("loss.gamma="))


@pytest.fixture(scope="module")
def both_loggers(tmp_path_factory):
    """One smoke job with TensorBoard and W&B (offline) together; its results.json."""
    runs_root = tmp_path_factory.mktemp("runs")
    proc = run_cli(["train", "logger=[tensorboard,wandb]", "trainer=smoke", "data=synthetic"], runs_root,
                   env=OFFLINE)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (res,) = results_under(runs_root)
    return res


def _tensorboard(run_dir: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0, "histograms": 0,
                                                                          "images": 0, "tensors": 0})
    return events.Reload()


def _expected_lrs() -> list[float]:
    # The default config: SGD at lr 0.05 with a cosine schedule over trainer=smoke's 2 epochs.
    return [0.05 * (1 + math.cos(math.pi * epoch / 2)) / 2 for epoch in range(2)]


def test_tensorboard_gets_test_metrics_per_class_reliability_and_lr(both_loggers):
    run_dir = Path(both_loggers["run_dir"])
    events = _tensorboard(run_dir)
    tags = events.Tags()
    for which in ("final", "best"):
        for key in ("test_acc", "test_balanced_acc", "test_nll", "test_ece"):
            (point,) = events.Scalars(f"{which}/{key}")
            assert point.value == pytest.approx(both_loggers[which][key], rel=1e-6)
        (hist,) = events.Histograms(f"{which}/test_per_class_acc")
        per_class = both_loggers[which]["test_per_class_acc"]
        assert hist.histogram_value.num == len(per_class)
        assert hist.histogram_value.sum == pytest.approx(sum(per_class), rel=1e-6)
        assert f"{which}/test_reliability" in tags["images"]
    assert "test/per_class_acc/text_summary" in tags["tensors"]  # the per-class table as text
    assert [p.value for p in events.Scalars("lr-SGD")] == pytest.approx(_expected_lrs())


def test_wandb_beside_tensorboard_is_configured_as_alone(both_loggers):
    run_dir = Path(both_loggers["run_dir"])
    (run_file,) = (run_dir / "wandb").glob("offline-run-*/run-*.wandb")
    run = run_info(run_file)
    assert run.display_name == run_dir.name and run.run_id.startswith(run_dir.name)  # not "tensorboard"
    assert run.project == "lossbench"
    rows = history(run_file)
    logged = {k: v for row in rows for k, v in row.items()}
    for which in ("final", "best"):
        for key in ("test_acc", "test_balanced_acc", "test_nll", "test_ece"):
            assert logged[f"{which}/{key}"] == pytest.approx(both_loggers[which][key], rel=1e-6)
        assert logged[f"{which}/test_reliability/_type"] == "image-file"
    assert [row["lr-SGD"] for row in rows if "lr-SGD" in row] == pytest.approx(_expected_lrs())
    (table_file,) = run_file.parent.glob("files/media/table/test/per_class_acc_*.table.json")
    table = json.loads(table_file.read_text())
    assert table["columns"] == ["class", "training_images", "final_acc", "best_acc"]
    assert [row[0] for row in table["data"]] == list(range(both_loggers["num_classes"]))
    assert [row[1] for row in table["data"]] == both_loggers["class_counts"]
    assert [row[2] for row in table["data"]] == pytest.approx(both_loggers["final"]["test_per_class_acc"])
    assert [row[3] for row in table["data"]] == pytest.approx(both_loggers["best"]["test_per_class_acc"])


def test_metrics_csv_does_not_depend_on_the_loggers(both_loggers):
    with open(Path(both_loggers["run_dir"]) / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert not [c for c in rows[0] if c.startswith("lr-")]  # LearningRateMonitor's column: lr has it
    assert [float(r["lr"]) for r in rows] == pytest.approx(_expected_lrs())


def test_tensorboard_alone_writes_event_files(runs_root):
    proc = run_cli(["train", "logger=tensorboard", "trainer=smoke", "data=synthetic"], runs_root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (res,) = results_under(runs_root)
    assert "final/test_acc" in _tensorboard(Path(res["run_dir"])).Tags()["scalars"]
    assert not (Path(res["run_dir"]) / "wandb").exists()


def test_without_wandb_installed_logger_wandb_says_what_to_install(runs_root, tmp_path):
    """wandb is optional (lossbench[wandb]): a job that asks for it where it is missing fails as a
    config error in one paragraph. A `wandb` that cannot be imported stands in for a missing one."""
    shadow = tmp_path / "shadow" / "wandb"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'wandb'\", name='wandb')\n")
    proc = run_cli(["train", "logger=wandb", "trainer=smoke", "data=synthetic"], runs_root, fresh=True,
                   env={"PYTHONPATH": str(shadow.parent), **OFFLINE})
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "logger=wandb needs the wandb package" in proc.stderr and "Traceback" not in proc.stderr
    (res,) = results_under(runs_root)
    assert res["status"] == "failed" and res["error_type"] == "config"


def test_wandb_honours_its_environment_variables(tmp_path, monkeypatch):
    from lossbench.train import run_in_process

    for key, value in {**OFFLINE, "WANDB_PROJECT": "from_env", "WANDB_ENTITY": "team_env",
                       "WANDB_DIR": str(tmp_path / "wandb_dir")}.items():
        monkeypatch.setenv(key, value)
    (tmp_path / "wandb_dir").mkdir()
    results = run_in_process(["logger=wandb", "trainer=smoke", "data=synthetic"], tmp_path / "job")
    assert results["status"] == "completed", results.get("error")
    assert not (tmp_path / "job" / "wandb").exists()  # WANDB_DIR, not the run directory
    (run_file,) = (tmp_path / "wandb_dir" / "wandb").glob("offline-run-*/run-*.wandb")
    run = run_info(run_file)
    assert (run.project, run.entity) == ("from_env", "team_env")


def test_wandb_project_in_the_config_wins_over_the_environment(tmp_path, monkeypatch):
    from lossbench.train import run_in_process

    for key, value in {**OFFLINE, "WANDB_PROJECT": "from_env"}.items():
        monkeypatch.setenv(key, value)
    results = run_in_process(["logger=wandb", "logger.wandb.project=mine", "trainer=smoke", "data=synthetic"],
                             tmp_path / "job")
    assert results["status"] == "completed", results.get("error")
    (run_file,) = (tmp_path / "job" / "wandb").glob("offline-run-*/run-*.wandb")
    assert run_info(run_file).project == "mine"


def test_wandb_runs_of_a_lossbench_sweep_are_grouped_by_its_name(tmp_path, monkeypatch):
    from lossbench.train import run_in_process

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    results = run_in_process(["logger=wandb", "trainer=smoke", "data=synthetic"], tmp_path / "job",
                             sweep={"name": "my_sweep"})
    assert results["status"] == "completed", results.get("error")
    (run_file,) = (tmp_path / "job" / "wandb").glob("offline-run-*/run-*.wandb")
    assert run_info(run_file).run_group == "my_sweep"  # read until wandb's service has written it
