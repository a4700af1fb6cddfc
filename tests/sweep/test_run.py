"""Running sweeps: the smoke version of every shipped sweep, resume, failures, unavailable data, dry runs."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from lossbench import sweep
from lossbench.paths import CONF_DIR, EXPERIMENTS_DIR
from lossbench.sweep.spec import load_experiment

SHIPPED = sorted(p.stem for p in EXPERIMENTS_DIR.glob("*.yaml"))


def _missing_configs(name: str) -> list[str]:
    """Config options a sweep names that this checkout lacks."""
    exp = load_experiment(name)
    wanted = {o for j in exp.jobs() for o in j.overrides if o.split("=", 1)[0] in ("data", "loss", "model")}
    return sorted(o for o in wanted if not (CONF_DIR / o.split("=")[0] / f"{o.split('=')[1]}.yaml").is_file())


def _results(d: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in d.glob("*/results.json")}


@pytest.mark.parametrize("name", SHIPPED)
def test_smoke_version_of_every_sweep_runs_every_method(name, tmp_path, capsys):
    missing = _missing_configs(name)
    assert not missing, f"sweep {name} names configs that do not exist: {', '.join(missing)}"  # a failure, never a skip
    exp = load_experiment(name)
    rc = sweep.main([name, "--smoke", "--dir", str(tmp_path), "--no-report"])
    results = _results(tmp_path)
    failed = {k: r.get("error") for k, r in results.items() if r["status"] != "completed"}
    assert rc == 0 and not failed, failed
    # every method, the smoke settings, the first seed
    assert {(r["sweep"]["method"], r["sweep"]["setting"]) for r in results.values()} == {
        (m, s) for m in exp.methods for s in exp.smoke_settings}
    assert {r["seed"] for r in results.values()} == {exp.seeds[0]}
    for res in results.values():
        job = next(j for j in exp.jobs(seeds=exp.seeds[:1]) if j.name == res["sweep"]["job"])
        loss = next(o.split("=")[1] for o in job.overrides if o.startswith("loss="))
        data = next(o.split("=")[1] for o in job.overrides if o.startswith("data="))
        binary = data in ("breast_cancer", "fashion_mnist_pair", "cifar10_pair", "synthetic_binary")
        multilabel = data.endswith("_mosaic") or data == "synthetic_multilabel"
        task = "binary" if binary else "multilabel" if multilabel else "multiclass"
        assert res["loss"] == loss and res["sweep"]["smoke"] is True
        assert res["data"] == {"binary": "synthetic_binary", "multilabel": "digits_mosaic"}.get(task, "synthetic")
        assert res["task"] == task
        classes = {"cifar100": 100, "gaussian2d": 2, "iris": 3, "wine": 3}.get(data.removesuffix("_lt"), 10)
        assert res["num_classes"] == (2 if binary else classes)
        assert res["final"]["test_acc"] is not None and len(res["final"]["test_per_class_acc"]) == res["num_classes"]
        # the method's own loss options reach the job's config unchanged (DRW moved to epoch 1 in smoke)
        cfg = yaml.safe_load((tmp_path / res["sweep"]["job"] / "config.yaml").read_text())
        for o in job.overrides:
            key, value = o.split("=", 1)
            if key.startswith("loss.") and key not in ("loss.reweight_from_epoch", "loss.start_epoch"):
                assert str(cfg["loss"][key[5:]]) == str(yaml.safe_load(value)), (key, cfg["loss"])
        # the sweep's own network (class and depth; a ResNet narrowed to smoke's width)
        model = next((o.split("=")[1] for o in job.overrides if o.startswith("model=")), None)
        if model is not None:
            declared = yaml.safe_load((CONF_DIR / "model" / f"{model}.yaml").read_text())
            assert {k: cfg["model"][k] for k in ("_target_", "depth") if k in declared} == \
                {k: declared[k] for k in ("_target_", "depth") if k in declared}
        assert (tmp_path / "sweep.json").is_file()


def test_resume_runs_only_the_job_whose_results_are_gone(tmp_path, capsys):
    assert sweep.main(["demo", "--smoke", "--dir", str(tmp_path), "--no-report"]) == 0
    first = _results(tmp_path)
    assert len(first) == 4 and all(r["status"] == "completed" for r in first.values())
    victim = sorted(first)[1]
    stamps = {k: (tmp_path / k / "results.json").stat().st_mtime_ns for k in first}
    (tmp_path / victim / "results.json").unlink()
    capsys.readouterr()
    assert sweep.main(["demo", "--smoke", "--dir", str(tmp_path), "--no-report"]) == 0
    out = capsys.readouterr().out
    assert out.count("done before, skipped") == 3
    again = _results(tmp_path)
    assert again[victim]["status"] == "completed"
    assert {k for k in first if (tmp_path / k / "results.json").stat().st_mtime_ns != stamps[k]} == {victim}


def _write_experiment(tmp_path: Path, body: dict) -> str:
    path = tmp_path / "mine.yaml"
    path.write_text("# mine: a test sweep\n" + yaml.safe_dump(body))
    return str(path)


def test_a_failing_job_does_not_stop_the_others_and_the_report_lists_it(tmp_path, capsys):
    spec = _write_experiment(tmp_path, {
        "title": "failing", "fixed": ["data=synthetic", "trainer=smoke", "model=mlp"], "settings": {"syn": []},
        "methods": {"ok": ["loss=ce"], "bad": ["loss=focal", "loss.gamma=-1.0"], "ok2": ["loss=poly1"]},
        "seeds": [0]})
    out_dir = tmp_path / "sweep"
    assert sweep.main([spec, "--dir", str(out_dir)]) == 1
    results = _results(out_dir)
    assert {r["sweep"]["method"]: r["status"] for r in results.values()} == {
        "ok": "completed", "bad": "failed", "ok2": "completed"}
    report = (out_dir / "report.md").read_text()
    failed_section = report.split("### Failed jobs", 1)[1]
    assert "syn__bad__seed0" in failed_section and "gamma" in failed_section
    # a re-run retries the failed job only
    capsys.readouterr()
    assert sweep.main([spec, "--dir", str(out_dir), "--no-report"]) == 1
    assert capsys.readouterr().out.count("done before, skipped") == 2


def test_unavailable_data_is_recorded_per_job_and_reported(tmp_path, capsys):
    spec = _write_experiment(tmp_path, {
        "fixed": ["trainer=smoke", "model=mlp", "loss=ce"],
        "settings": {"here": ["data=synthetic"],
                     "offline": ["data=cifar100", f"data.root={tmp_path / 'nothing'}", "data.download=false"]},
        "methods": {"ce": ["loss=ce"], "focal": ["loss=focal"]}, "seeds": [0]})
    out_dir = tmp_path / "sweep"
    assert sweep.main([spec, "--dir", str(out_dir)]) == 1
    results = {(r["sweep"]["setting"], r["sweep"]["method"]): r for r in _results(out_dir).values()}
    assert results[("here", "ce")]["status"] == results[("here", "focal")]["status"] == "completed"
    for method in ("ce", "focal"):
        res = results[("offline", method)]
        assert res["status"] == "failed" and res["error_type"] == "data_unavailable"
        assert res["error"].startswith("data unavailable:")
    table = (out_dir / "report.md").read_text().split("### Final epoch", 1)[1].split("###", 1)[0]
    assert re.search(r"\| ce \| offline \| 0 \| data unavailable \|", table)


def test_dry_run_lists_the_full_grid_and_runs_nothing(tmp_path, capsys):
    exp = load_experiment("ldam_drw_cifar_lt")
    assert sweep.main(["ldam_drw_cifar_lt", "--dry-run", "--dir", str(tmp_path / "x")]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("sweep ldam_drw_cifar_lt: 96 jobs = 8 methods x 4 settings x 3 seeds")
    assert sum(1 for j in exp.jobs() if f"  {j.name}\n" in out) == 96
    assert not (tmp_path / "x").exists()


def test_bad_input_is_a_usage_error(tmp_path, capsys):
    assert sweep.main(["ldam_drw_cifar", "--dry-run"]) == 2
    assert "Did you mean 'ldam_drw_cifar_lt'?" in capsys.readouterr().err
    assert sweep.main(["demo", "seed=3", "--dry-run"]) == 2
    assert "--seeds" in capsys.readouterr().err
    assert sweep.main(["demo", "loss.gammma=1", "--dry-run"]) == 2
    assert "do not compose" in capsys.readouterr().err


def test_options_and_overrides_mix_in_any_order(tmp_path, capsys):
    assert sweep.main(["demo", "--seeds", "4", "trainer.max_epochs=2", "--dry-run", "--methods", "ce"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("sweep demo: 1 jobs = 1 methods x 1 settings x 1 seeds")
    assert "trainer.max_epochs=2" in lines[2] and "seed=4" in lines[2]


def test_probe_reports_the_loading_error_not_a_warning(tmp_path):
    # Corrupt files also fail their checksums: the reason recorded must be the error (the file
    # named, "corrupt"), never the checksum warning printed on the way; a bad data value is left
    # to the job (error_type config), not called "data unavailable".
    import pickle

    import numpy as np

    from lossbench.sweep.runner import probe_data
    from lossbench.sweep.spec import Job

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    entry = pickle.dumps({b"labels": [0] * 10, b"data": np.zeros((10, 3072), dtype=np.uint8)})
    for name in ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch",
                 "batches.meta"):
        (folder / name).write_bytes(entry)
    (folder / "data_batch_2").write_bytes(entry[:100])
    job = Job(method="m", setting="s", seed=0, overrides=["data=cifar10", f"data.root={tmp_path}", "data.download=false"])
    reason = probe_data(job)
    assert str(folder / "data_batch_2") in reason and "corrupt" in reason and "MD5" not in reason
    assert probe_data(Job(method="m", setting="s", seed=0, overrides=["data=synthetic", "data.batch_size=0"])) is None
