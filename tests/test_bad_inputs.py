"""Every bad input of issue 9's list: exit 2 with one paragraph naming the key and what to do, no
traceback, rejected before any data loads (results.json: error_type "config", no class counts) --
or, for a run that diverges, status failed with error_type "diverged" in strict JSON. The CLI runs
in this process (`lossbench.cli.main`), as `lossbench train ...` would."""
from __future__ import annotations

import dataclasses
import json
import pickle

import numpy as np
import pytest
import torch

from lossbench.cli import main

SMOKE = ["data=synthetic", "trainer=smoke"]


def _strict_json(path):
    def reject(constant):
        raise ValueError(f"{path} holds {constant}: not strict JSON")

    return json.loads(path.read_text(), parse_constant=reject)


def _train(args, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LOSSBENCH_RUNS", str(tmp_path / "runs"))
    monkeypatch.chdir(tmp_path)
    code = main(["train", *args])
    err = capsys.readouterr().err
    records = [_strict_json(p) for p in sorted((tmp_path / "runs").rglob("results.json"))]
    return code, err, records


def _assert_config_error(code, err, records, words, data_loaded=False):
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("lossbench:")]
    assert len(lines) == 1, err  # one paragraph
    for word in words:
        assert word in lines[0], (word, lines[0])
    (record,) = records
    assert record["status"] == "failed" and record["error_type"] == "config"
    if not data_loaded:
        assert "class_counts" not in record  # rejected before the data was loaded


BEFORE_DATA = [
    (["optimizer.lr=-1"], ["optimizer.lr=-1", "> 0"]),
    (["optimizer.lr=0"], ["optimizer.lr=0", "> 0"]),
    (["optimizer.weight_decay=-0.1"], ["optimizer.weight_decay=-0.1", ">= 0"]),
    (["data.batch_size=0"], ["data.batch_size=0", ">= 1"]),
    (["data.imbalance_ratio=0.5"], ["data.imbalance_ratio=0.5", ">= 1"]),
    (["data.imbalance_ratio=0"], ["data.imbalance_ratio=0", ">= 1"]),
    (["data.imbalance_ratio=-3"], ["data.imbalance_ratio=-3", ">= 1"]),
    (["data.val_fraction=1.5"], ["data.val_fraction=1.5", "[0, 1)"]),
    (["data.val_fraction=1.0"], ["data.val_fraction=1.0", "[0, 1)"]),
    (["scheduler=multistep", "scheduler.milestones=[500]", "trainer.max_epochs=10"],
     ["scheduler.milestones=[500]", "trainer.max_epochs=10", "never"]),
    (["trainer.precision=bf17"], ["trainer.precision='bf17'", "bf16-mixed", "auto"]),
    (["trainer.devices=99"], ["trainer.devices=99", "more than this machine has"]),
    (["data.label_noise.type=symmetric", "data.label_noise.rate=1.5"], ["data.label_noise.rate=1.5", "[0, 1]"]),
    (["data.label_noise.type=symetric"], ["data.label_noise.type='symetric'", "symmetric"]),
    (["data.sampler=balanced"], ["data.sampler='balanced'", "class_balanced"]),
    (["data.augment=flip_crop"], ["data.augment", "crop_flip"]),
    (["data.loader=cuda"], ["data.loader='cuda'", "auto, gpu, torch"]),
    (["seed=abc"], ["seed='abc'", "integer"]),
    (["trainer.max_epochs=1.5"], ["trainer.max_epochs=1.5", "whole number"]),
    (["trainer.max_epochs=0"], ["trainer.max_epochs=0", ">= 1"]),
    (["trainer.channels_last=yes"], ["trainer.channels_last='yes'", "true or false"]),
    (["trainer.compile=fast"], ["trainer.compile='fast'", "reduce-overhead", "max-autotune"]),
    (["data.val_source=heldout", "data.val_fraction=0"], ["data.val_source=heldout", "no long tail"]),
]


@pytest.mark.parametrize("args,words", BEFORE_DATA, ids=[" ".join(a) for a, _ in BEFORE_DATA])
def test_bad_value_exits_2_before_data_with_one_paragraph(args, words, tmp_path, monkeypatch, capsys):
    _assert_config_error(*_train([*SMOKE, *args], tmp_path, monkeypatch, capsys), words)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_gpu_accelerator_without_a_gpu(tmp_path, monkeypatch, capsys):
    _assert_config_error(*_train([*SMOKE, "trainer.accelerator=gpu"], tmp_path, monkeypatch, capsys),
                         ["trainer.accelerator=gpu", "no CUDA GPU", "trainer.accelerator=auto"])


def test_a_long_tail_that_empties_classes_names_them(tmp_path, monkeypatch, capsys):
    # digits_lt has 128 images in its largest class: at rho = 10^6 classes 4..9 keep int(128 / rho^(i/9)) = 0.
    code, err, records = _train(["trainer=smoke", "data.imbalance_ratio=1000000"], tmp_path, monkeypatch, capsys)
    _assert_config_error(code, err, records, ["data.imbalance_ratio=1e+06", "6 of 10 classes", "4 (4), 5 (5)",
                                              "9 (9)", "data.imbalance_ratio <= 128"])


def _image_folder(args, tmp_path, monkeypatch, capsys):
    return _train(["data=image_folder", f"data.root={tmp_path / 'images'}", "trainer=smoke", "model=mlp", *args],
                  tmp_path, monkeypatch, capsys)


def test_image_folder_empty(tmp_path, monkeypatch, capsys):
    (tmp_path / "images").mkdir()
    _assert_config_error(*_image_folder([], tmp_path, monkeypatch, capsys), ["holds no class folders", "<class>"])


def test_image_folder_with_one_class(tmp_path, monkeypatch, capsys):
    from PIL import Image

    (tmp_path / "images" / "cat").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "images" / "cat" / "0.png")
    _assert_config_error(*_image_folder([], tmp_path, monkeypatch, capsys), ["one class folder", "'cat'",
                                                                             "at least two classes"])


def test_image_folder_of_non_image_files(tmp_path, monkeypatch, capsys):
    for name in ("cat", "dog"):
        (tmp_path / "images" / name).mkdir(parents=True)
        (tmp_path / "images" / name / "notes.txt").write_text("not an image")
    _assert_config_error(*_image_folder([], tmp_path, monkeypatch, capsys), ["no images", ".png", "<class>"],
                         data_loaded=True)


def test_image_folder_with_a_garbage_png(tmp_path, monkeypatch, capsys):
    from PIL import Image

    for name in ("cat", "dog"):
        (tmp_path / "images" / name).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(tmp_path / "images" / name / "0.png")
    (tmp_path / "images" / "dog" / "1.png").write_bytes(b"\x89PNG garbage")
    _assert_config_error(*_image_folder([], tmp_path, monkeypatch, capsys),
                         [str(tmp_path / "images" / "dog" / "1.png"), "not a readable image"], data_loaded=True)


CIFAR_FILES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch",
               "batches.meta")


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_corrupt_cifar_batch_is_named(damage, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "cifar" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    entry = pickle.dumps({b"labels": [0] * 10, b"data": np.zeros((10, 3072), dtype=np.uint8)})
    for name in CIFAR_FILES:
        (folder / name).write_bytes(entry)
    (folder / "data_batch_3").write_bytes(entry[: len(entry) // 2] if damage == "truncated" else b"\x00garbage" * 9)
    code, err, records = _train(["data=cifar10", f"data.root={tmp_path / 'cifar'}", "data.download=false",
                                 "trainer=smoke", "model=mlp"], tmp_path, monkeypatch, capsys)
    _assert_config_error(code, err, records, [str(folder / "data_batch_3"), "corrupt", "download the dataset again"],
                         data_loaded=True)


@pytest.mark.parametrize("lr", ["1e6", "nan"])
def test_a_diverging_run_fails_as_diverged_in_strict_json(lr, runs_root):
    # In a subprocess: Lightning's console logging outlives pytest's captured streams in-process.
    from tests.conftest import run_cli

    proc = run_cli(["train", *SMOKE, f"optimizer.lr={lr}"], runs_root)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "training diverged" in proc.stderr and "lower learning rate" in proc.stderr
    (path,) = runs_root.rglob("results.json")
    record = _strict_json(path)  # no bare NaN in the file
    assert record["status"] == "failed" and record["error_type"] == "diverged"
    assert record["diverged"]["epoch"] == 0 and record["diverged"]["step"] >= 0
    assert record["diverged"]["value"] in ("nan", "inf", "-inf")
    assert "lower learning rate" in record["error"] and "epoch 0" in record["error"]
    assert "final" not in record  # never tested as if it had completed


@pytest.mark.parametrize("where", ["override", "environment"])
def test_an_unwritable_runs_root_is_named_before_anything_runs(where, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = ["train", *SMOKE]
    if where == "override":
        args.append("runs_root=/proc/lossbench-x")
        monkeypatch.delenv("LOSSBENCH_RUNS", raising=False)
    else:
        monkeypatch.setenv("LOSSBENCH_RUNS", "/proc/lossbench-x")
    with pytest.raises(SystemExit) as exit_:
        main(args)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "Traceback" not in err
    assert "'/proc/lossbench-x'" in err and ("runs_root" if where == "override" else "LOSSBENCH_RUNS") in err
    assert "folder you can write" in err


def test_a_sweep_job_stopped_by_a_signal_requeues_itself_under_slurm(tmp_path, monkeypatch):
    # runner.py's SystemExit path is reached: a SLURM job that got a stop signal and requeued itself
    # leaves with SystemExit (so submitit writes no result and the requeued job runs again).
    import lossbench.sweep.runner as runner
    import lossbench.train
    from lossbench.interrupts import JobInterrupted
    from lossbench.sweep.spec import Job

    def interrupted(*args, **kwargs):
        raise JobInterrupted(15, " in epoch 3")

    monkeypatch.setattr(lossbench.train, "run_in_process", interrupted)
    requeued = []
    monkeypatch.setattr(runner, "_requeue_self", lambda max_requeues: requeued.append(max_requeues) or True)
    job = Job(method="m", setting="s", seed=0, overrides=["data=synthetic"])
    spec = runner.SweepJob(job=job, sweep={}, job_dir=str(tmp_path / "job"), requeue_on_signal=True, max_requeues=2)
    with pytest.raises(SystemExit) as exit_:
        runner.run_sweep_job(spec)
    assert exit_.value.code == JobInterrupted(15, "").exit_code and requeued == [2]
    spec = dataclasses.replace(spec, requeue_on_signal=False)  # outside SLURM the interruption is passed on as it is
    with pytest.raises(JobInterrupted):
        runner.run_sweep_job(spec)


@pytest.mark.parametrize("data,shape", [("cifar10", (3, 32)), ("fashion_mnist", (1, 28)), ("digits_lt", (1, 8)),
                                        ("synthetic", (1, 8))])
def test_the_pre_run_check_builds_the_model_on_the_datasets_declared_shape(data, shape, tmp_path, monkeypatch):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    import lossbench.models
    from lossbench.paths import CONF_DIR
    from lossbench.train import _build_components

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        root = [f"data.root={tmp_path}"] if data in ("cifar10", "fashion_mnist") else []
        cfg = compose("config", overrides=[f"data={data}", *root, "model=mlp"])
    seen = []
    real = lossbench.models.MLP

    def spy(**kwargs):
        seen.append((kwargs["in_channels"], kwargs["image_size"]))
        return real(**kwargs)

    monkeypatch.setattr(lossbench.models, "MLP", spy)
    datamodule = _build_components(cfg, {"data": data, "loss": "ce", "model": "mlp"})
    assert seen == [shape] and not hasattr(datamodule, "train_x")  # nothing was loaded
