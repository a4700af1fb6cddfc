"""Fixture runs for the report tests: results.json (and, where asked, config.yaml and metrics.csv)
written by hand, so that every number a test expects is computed in the test, not by the report."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

COUNTS = [500, 200, 80, 30, 10]  # long-tailed training counts of the fixture runs


def _bins(acc: float) -> dict:
    count = [0] * 15
    count[12], count[14] = 6, 4
    return {"bins": 15, "count": count, "confidence": [0.0] * 12 + [0.82, 0.0, 0.97],
            "accuracy": [0.0] * 12 + [acc, 0.0, 1.0]}


def _block(acc: float, ece: float, epoch: int) -> dict:
    return {"epoch": epoch, "test_acc": acc, "test_balanced_acc": acc - 0.05, "test_nll": 1.0 - acc,
            "test_ece": ece, "test_many_acc": acc + 0.1, "test_medium_acc": acc, "test_few_acc": None,
            "test_per_class_acc": [min(1.0, acc + 0.1 - 0.05 * i) for i in range(5)]}


def write_run(root: Path, name: str, *, method: str, loss: str, seed: int, acc: float, best_acc: float | None,
              overrides: list[str], sweep: str | None = "fx", status: str = "completed", error: str | None = None,
              config: dict | None = None, setting: str = "toy rho=50", loss_scale: float = 1.0) -> dict:
    """One run directory. config: written as config.yaml (the run's resolved config)."""
    run = root / name
    run.mkdir(parents=True)
    res = {"status": status, "seed": seed, "loss": loss, "data": "toy_lt", "model": "mlp", "num_classes": 5,
           "class_counts": COUNTS, "overrides": [*overrides, f"seed={seed}"], "wall_time_s": 1.0,
           "versions": {"lossbench": "0.1.0"},
           "dataset": {"name": "toy_lt", "num_train": sum(COUNTS), "num_val": 50, "num_test": 100,
                       "note": "a re-encoded copy (checksums differ)"}}
    if sweep:
        res["sweep"] = {"name": sweep, "method": method, "setting": setting, "job": name, "seed": seed,
                        "overrides": res["overrides"]}
    if status == "completed":
        res["final"] = _block(acc, 0.1 * acc, 9)
        res["best"] = None if best_acc is None else {"selected_by": "val_acc", "val_acc": best_acc,
                                                      **_block(best_acc, 0.05, 6)}
        res["reliability"] = {"final": _bins(acc), "best": None}
        (run / "metrics.csv").write_text("epoch,lr,train_loss,val_acc\n" + "".join(
            f"{e},0.1,{loss_scale * (2.0 / (e + 1) + seed * 0.01)},{0.5 + 0.04 * e}\n" for e in range(10)))
    elif error:
        res["error"] = error
    if config is not None:
        (run / "config.yaml").write_text(yaml.safe_dump({**config, "seed": seed}))
    (run / "results.json").write_text(json.dumps(res))
    return res


@pytest.fixture
def make_run():
    return write_run


def toy_config(seed: int, **changes) -> dict:
    """A resolved config like config.yaml's; changes: {"trainer.max_epochs": 1, ...}."""
    cfg = {"data": {"name": "toy_lt", "imbalance_ratio": 50, "shuffle_seed": seed, "lt_seed": 0},
           "loss": {"_target_": "lossbench.losses.CrossEntropyLoss"},
           "trainer": {"max_epochs": 30, "devices": 1, "enable_progress_bar": False},
           "logger": {}, "runs_root": "runs", "resume": "auto"}
    for key, value in changes.items():
        node = cfg
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return cfg


@pytest.fixture
def make_config():
    return toy_config
