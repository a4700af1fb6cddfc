"""Distributed evaluation counts every image once: two CPU processes (gloo, Lightning's DDP) test
the same weights on a 21-image test set (odd, so the shards are 11 and 10 images, and with 5-image
batches the ranks even run a different number of batches) and must agree with one process on every
metric, the per-class accuracies and the reliability-bin counts. A binary task (one score, BCE, 14
images in 4-image batches: 7 a rank) must too, its F1, G-mean, AUROC and AUPRC included, and a
multi-label task (4 sigmoids, 21 test points in 5-point batches) with its mAP over the whole split."""
from __future__ import annotations

import json
import os
import socket

import pytest
import torch

from lossbench.data import SyntheticBinaryDataModule, SyntheticDataModule, SyntheticMultiLabelDataModule
from lossbench.losses import build_loss
from lossbench.module import ClassificationModule
from tests.conftest import spawn_and_join

NUM_CLASSES, TEST_PER_CLASS = 3, 7  # 21 test images
ML_CLASSES = 4


def _multilabel_module_and_data(loader: str):
    """BCE over 4 sigmoids on scikit-learn's multi-label points: 21 test points."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(20, ML_CLASSES))
    module = ClassificationModule(model=model, loss=build_loss("bce_multilabel", num_classes=ML_CLASSES),
                                  optimizer=lambda params: torch.optim.SGD(params, lr=0.1), scheduler=None,
                                  class_counts=[10] * ML_CLASSES, task="multilabel")
    data = SyntheticMultiLabelDataModule(name="synthetic_multilabel", num_classes=ML_CLASSES, train_size=40,
                                         test_size=NUM_CLASSES * TEST_PER_CLASS, val_fraction=0.0, eval_batch_size=5,
                                         loader=loader, mean=[0.0], std=[1.0])
    return module, data


def _module_and_data(loader: str, task: str = "multiclass"):
    if task == "multilabel":
        return _multilabel_module_and_data(loader)
    """The multi-class case (CE, 3 classes), or a binary task (BCE, one score, 2 x 7 test images)."""
    torch.manual_seed(0)
    classes = NUM_CLASSES if task == "multiclass" else 2
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, classes if task == "multiclass" else 1))
    module = ClassificationModule(model=model, loss=build_loss("ce" if task == "multiclass" else "bce",
                                                               num_classes=classes),
                                  optimizer=lambda params: torch.optim.SGD(params, lr=0.1), scheduler=None,
                                  class_counts=[10] * classes, task=task)
    data_class = SyntheticDataModule if task == "multiclass" else SyntheticBinaryDataModule
    data = data_class(name="synthetic", num_classes=classes, train_per_class=10, test_per_class=TEST_PER_CLASS,
                      val_fraction=0.0, eval_batch_size=5 if task == "multiclass" else 4, loader=loader)
    return module, data


def _test_metrics(devices: int, loader: str, out_path, task: str = "multiclass") -> None:
    import lightning as L

    module, data = _module_and_data(loader, task)
    trainer = L.Trainer(accelerator="cpu", devices=devices, strategy="ddp" if devices > 1 else "auto",
                        use_distributed_sampler=False, logger=False, enable_progress_bar=False,
                        enable_checkpointing=False, enable_model_summary=False)
    trainer.test(module, datamodule=data, verbose=False)
    if trainer.global_rank == 0:
        out_path.write_text(json.dumps(module.test_metrics))


def _rank(rank: int, port: int, loader: str, out_path, task: str = "multiclass") -> None:
    # What Lightning's DDP launcher sets in the processes it starts: with LOCAL_RANK present the
    # Trainer joins the group instead of launching children.
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), LOCAL_RANK=str(rank), NODE_RANK="0",
                      WORLD_SIZE="2")
    torch.set_num_threads(1)
    try:
        _test_metrics(2, loader, out_path, task)
    finally:
        # As a lossbench job does (train.py): a rank that exits with its gloo group alive can abort
        # in gloo's threads at interpreter shutdown ("terminate called without an active exception",
        # SIGABRT; seen once in CI after both ranks had written their results).
        from lossbench.distributed import release_process_group

        release_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("loader,task", [("torch", "multiclass"), ("gpu", "multiclass"), ("torch", "binary"),
                                         ("torch", "multilabel")])
def test_two_processes_evaluate_each_image_once_and_match_one_process(loader, task, tmp_path):
    port = _free_port()
    spawn_and_join(_rank, [(rank, port, loader, tmp_path / "ddp.json", task) for rank in (0, 1)], timeout=240)
    ddp = json.loads((tmp_path / "ddp.json").read_text())
    _test_metrics(1, loader, tmp_path / "one.json", task)
    one = json.loads((tmp_path / "one.json").read_text())

    # Every test image (multi-label: every one of its 4 label decisions) is in the reliability bins once.
    decisions = {"multiclass": NUM_CLASSES * TEST_PER_CLASS, "binary": 2 * TEST_PER_CLASS,
                 "multilabel": ML_CLASSES * NUM_CLASSES * TEST_PER_CLASS}[task]
    assert sum(one["reliability"]["count"]) == decisions
    if task == "binary":  # the population metrics of the whole test set, not of a shard
        assert {"f1", "gmean", "auroc", "auprc"} <= set(one)
    if task == "multilabel":
        assert {"map", "micro_f1", "macro_f1", "map_head", "per_class_ap"} <= set(one) and one["map"] is not None
    assert ddp["reliability"]["count"] == one["reliability"]["count"]  # each once: no padding, nothing twice
    if task != "multilabel":  # per-class accuracy is a count out of 7 per class: equal counts, equal fractions
        assert [round(a * TEST_PER_CLASS) for a in ddp["per_class_acc"]] == \
            [round(a * TEST_PER_CLASS) for a in one["per_class_acc"]]
    for key, value in one.items():
        if key == "reliability":
            for part in ("confidence", "accuracy"):
                assert ddp[key][part] == pytest.approx(value[part], abs=1e-6)
        elif isinstance(value, list):
            assert ddp[key] == pytest.approx(value, abs=1e-6), key
        elif value is None:
            assert ddp[key] is None, key
        else:
            assert ddp[key] == pytest.approx(value, abs=1e-6), key
