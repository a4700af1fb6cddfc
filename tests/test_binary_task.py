"""A binary task end to end through the CLI (issue 19 section 1-3): the data declares the task, the
model has one output, results.json records `task` and the binary test metrics, a loss of another
task is refused in one paragraph naming the losses that fit, and `list losses --task` filters."""
from __future__ import annotations

import json

import pytest
import torch

from tests.conftest import run_cli

BINARY_KEYS = {"test_f1", "test_gmean", "test_auroc", "test_auprc"}


@pytest.fixture(scope="module")
def binary_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    proc = run_cli(["train", "data=breast_cancer", "model=mlp", "model.hidden=[16]", "loss=bce", "trainer=cpu",
                    "trainer.max_epochs=15", "data.imbalance_ratio=4"], root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (path,) = root.rglob("results.json")
    return path.parent, json.loads(path.read_text())


def test_a_binary_run_records_its_task_and_the_binary_metrics(binary_run):
    _, results = binary_run
    assert results["status"] == "completed" and results["task"] == "binary" and results["num_classes"] == 2
    final = results["final"]
    assert BINARY_KEYS <= set(final) and all(0.0 <= final[k] <= 1.0 for k in BINARY_KEYS)
    # Malignant (the positive class) thinned 4x in training: counts [benign, malignant].
    assert results["class_counts"][1] * 3 < results["class_counts"][0]
    assert final["test_auroc"] > 0.95 and final["test_acc"] > 0.85  # a linear-ish table: easy


def test_the_model_of_a_binary_task_has_one_output(binary_run):
    run_dir, _ = binary_run
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    assert state["model.classifier.weight"].shape == (1, 16)


def test_binary_metrics_agree_with_scikit_learn():
    from sklearn.metrics import average_precision_score, f1_score, recall_score, roc_auc_score

    from lossbench.metrics import classification_metrics

    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (300,), generator=g)
    s = torch.randn(300, generator=g) + 1.5 * y
    logits = torch.stack([torch.zeros(300), s], 1)
    out = classification_metrics(logits, y, [150, 150], task="binary")
    p, pred = torch.sigmoid(s).numpy(), (torch.sigmoid(s) > 0.5).long().numpy()
    assert out["auroc"] == pytest.approx(roc_auc_score(y.numpy(), p), abs=1e-6)
    assert out["auprc"] == pytest.approx(average_precision_score(y.numpy(), p), abs=1e-6)
    assert out["f1"] == pytest.approx(f1_score(y.numpy(), pred), abs=1e-6)
    gmean = (recall_score(y.numpy(), pred) * recall_score(1 - y.numpy(), 1 - pred)) ** 0.5
    assert out["gmean"] == pytest.approx(gmean, abs=1e-6)


@pytest.mark.parametrize("args,words", [
    (["data=breast_cancer", "loss=ce"], ["loss=ce is a loss for multiclass tasks", "binary task",
                                         "bce", "anyloss", "lossbench list losses --task binary"]),
    (["data=digits", "loss=hinge"], ["loss=hinge is a loss for binary tasks", "multiclass task", "focal"]),
])
def test_a_loss_of_another_task_is_a_config_error_naming_those_that_fit(args, words, tmp_path):
    proc = run_cli(["train", *args, "trainer=cpu"], tmp_path)
    assert proc.returncode == 2 and all(w in proc.stderr for w in words), proc.stderr
    assert "Traceback" not in proc.stderr
    (path,) = tmp_path.rglob("results.json")  # the failed job says why, as every config error found at build time
    results = json.loads(path.read_text())
    assert results["status"] == "failed" and results["error_type"] == "config" and words[0] in results["error"]


def test_list_losses_by_task(tmp_path):
    proc = run_cli(["list", "losses", "--task", "binary"], tmp_path)
    names = [line.split()[0] for line in proc.stdout.splitlines()]
    assert proc.returncode == 0 and names == ["anyloss", "bce", "binary_focal", "binary_mse", "ensloss", "exponential",
                                              "hinge", "sigmoid_ramp", "squared_hinge"]
    assert all("task: binary" in line for line in proc.stdout.splitlines())
    proc = run_cli(["list", "losses", "--task", "multilabl"], tmp_path)
    assert proc.returncode == 2 and "the tasks are multiclass, binary, multilabel" in proc.stderr
