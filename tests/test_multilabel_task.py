"""A multi-label task end to end through the CLI (issue 19 sections 1-3): the data declares the task,
the model has a sigmoid per class, results.json records `task` and the multi-label test metrics, the
best epoch can be selected by validation mAP, a loss of another task or a single-label selection
metric is refused in one paragraph; and the metrics agree with scikit-learn."""
from __future__ import annotations

import json

import pytest
import torch

from tests.conftest import run_cli

MULTILABEL_KEYS = {"test_map", "test_micro_f1", "test_macro_f1", "test_map_head", "test_map_medium", "test_map_tail"}


@pytest.fixture(scope="module")
def multilabel_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    proc = run_cli(["train", "data=digits_mosaic", "model=small_cnn", "loss=asl_multilabel", "trainer=cpu",
                    "trainer.max_epochs=8", "optimizer=adam", "optimizer.lr=3e-3", "selection_metric=val_map"], root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (path,) = root.rglob("results.json")
    return path.parent, json.loads(path.read_text()), proc.stdout


def test_a_multilabel_run_records_its_task_and_the_multilabel_metrics(multilabel_run):
    _, results, stdout = multilabel_run
    assert results["status"] == "completed" and results["task"] == "multilabel" and results["num_classes"] == 10
    final = results["final"]
    assert MULTILABEL_KEYS <= set(final) and all(0.0 <= final[k] <= 1.0 for k in MULTILABEL_KEYS)
    assert len(final["test_per_class_ap"]) == 10 and final["test_balanced_acc"] is None
    # digits_mosaic's long tail: 141 positive training images of class 0 down to 5 of class 9.
    counts = results["class_counts"]
    assert counts[0] > 100 and counts[-1] < 20 and results["dataset"]["labels_per_example"] > 2
    # learned far above a random ranking (mAP ~ the labels' frequency, ~0.3)
    assert final["test_map"] > 0.6, final
    assert results["best"]["selected_by"] == "val_map" and 0 < results["best"]["val_map"] <= 1
    assert "mAP" in stdout and "tail" in stdout and "maF1" in stdout  # the summary's multi-label columns


def test_the_model_of_a_multilabel_task_has_a_score_per_class(multilabel_run):
    run_dir, _, _ = multilabel_run
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    assert state["model.classifier.weight"].shape[0] == 10


def test_multilabel_metrics_agree_with_scikit_learn():
    from sklearn.metrics import accuracy_score, average_precision_score, f1_score

    from lossbench.metrics import multilabel_metrics

    g = torch.Generator().manual_seed(0)
    y = (torch.rand(400, 5, generator=g) < 0.3).long()
    y[:, 4] = 0  # a class without a positive in this split: no AP, left out of the means
    logits = torch.randn(400, 5, generator=g) + 2.0 * y - 1.0
    counts = [500, 150, 60, 10, 3]  # head: 0-1, medium: 2, tail: 3-4
    out = multilabel_metrics(logits, y, counts)
    p, pred = torch.sigmoid(logits).numpy(), (torch.sigmoid(logits) > 0.5).long().numpy()
    ap = [average_precision_score(y[:, c].numpy(), p[:, c]) for c in range(4)]
    assert out["per_class_ap"][:4] == pytest.approx(ap, abs=1e-6) and out["per_class_ap"][4] is None
    assert out["map"] == pytest.approx(sum(ap) / 4, abs=1e-6)
    assert out["map_head"] == pytest.approx((ap[0] + ap[1]) / 2, abs=1e-6)
    assert out["map_medium"] == pytest.approx(ap[2], abs=1e-6) and out["map_tail"] == pytest.approx(ap[3], abs=1e-6)
    assert out["micro_f1"] == pytest.approx(f1_score(y.numpy(), pred, average="micro"), abs=1e-6)
    assert out["macro_f1"] == pytest.approx(f1_score(y.numpy(), pred, average="macro", zero_division=0), abs=1e-6)
    assert out["acc"] == pytest.approx(accuracy_score(y.numpy(), pred), abs=1e-6)  # subset accuracy
    # ECE of the 2,000 label decisions, each a prediction with confidence max(p, 1 - p)
    conf = torch.maximum(torch.sigmoid(logits), 1 - torch.sigmoid(logits)).flatten().double()
    right = ((torch.sigmoid(logits) > 0.5).long() == y).flatten().double()
    bins = torch.clamp((conf * 15).floor().long(), max=14)
    ece = sum((bins == b).sum() / len(conf) * abs(right[bins == b].mean() - conf[bins == b].mean())
              for b in range(15) if (bins == b).any())
    assert out["ece"] == pytest.approx(float(ece), abs=1e-5) and sum(out["reliability"]["count"]) == 2000


@pytest.mark.parametrize("args,words", [
    (["data=digits_mosaic", "loss=ce"], ["loss=ce is a loss for multiclass tasks", "multilabel task",
                                         "asl_multilabel", "db", "lossbench list losses --task multilabel"]),
    (["data=digits", "loss=db"], ["loss=db is a loss for multilabel tasks", "multiclass task"]),
    (["data=digits_mosaic", "loss=db", "selection_metric=val_balanced_acc"],
     ["selection_metric=val_balanced_acc is not computed for data=digits_mosaic, a multilabel task", "val_map"]),
    (["data=digits", "selection_metric=val_map"], ["selection_metric=val_map is not computed", "val_acc"]),
])
def test_a_loss_or_selection_of_another_task_is_a_config_error(args, words, tmp_path):
    proc = run_cli(["train", *args, "trainer=cpu"], tmp_path)
    assert proc.returncode == 2 and all(w in proc.stderr for w in words), proc.stderr
    assert "Traceback" not in proc.stderr


def test_list_losses_for_multilabel_tasks(tmp_path):
    proc = run_cli(["list", "losses", "--task", "multilabel"], tmp_path)
    names = [line.split()[0] for line in proc.stdout.splitlines()]
    assert proc.returncode == 0 and names == ["asl_multilabel", "bce_multilabel", "db", "dice", "focal_multilabel",
                                              "gumbel_bce"]
