"""A loss with a parameter of its own (tests/learned_losses.py: a learned temperature) through real
jobs: it trains in float32 under bf16-mixed in its own optimizer group, a SIGKILLed run resumes to
the uninterrupted run's numbers and parameter, and two DDP processes end with one process's."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parent.parent
LOSS = "loss=tests.learned_losses:TemperatureCE"
ENV = {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _checkpoint(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)


def _job(run_dir: Path, *extra: str) -> list[str]:
    return ["train", LOSS, "trainer=cpu", "trainer.max_epochs=3", "trainer.enable_progress_bar=false",
            *extra, f"hydra.run.dir={run_dir}"]


def test_the_temperature_trains_in_float32_in_its_own_group_under_bf16(tmp_path):
    proc = run_cli(_job(tmp_path / "run", "trainer.precision=bf16-mixed", "+loss.lr_scale=2.0"), tmp_path, env=ENV)
    assert proc.returncode == 0, proc.stderr[-3000:]
    state = _checkpoint(tmp_path / "run")
    log_t = state["state_dict"]["loss_fn.log_t"]
    assert log_t.dtype == torch.float32 and log_t.item() != 0.0  # it moved
    network, own = state["optimizer_states"][0]["param_groups"]
    assert own["lr"] == pytest.approx(2.0 * network["lr"]) and own["weight_decay"] == 0.0
    assert len(own["params"]) == 1


def test_a_killed_run_resumes_to_the_same_numbers_and_temperature(tmp_path):
    from tests.test_resume import _test_numbers, killed_then_resumed

    whole = run_cli(_job(tmp_path / "whole"), tmp_path, env=ENV)
    assert whole.returncode == 0, whole.stderr[-3000:]
    cut = killed_then_resumed(_job(tmp_path / "cut")[1:], tmp_path / "cut", tmp_path, env=ENV)
    reference = json.loads((tmp_path / "whole" / "results.json").read_text())
    assert _test_numbers(cut) == _test_numbers(reference)
    assert torch.equal(_checkpoint(tmp_path / "cut")["state_dict"]["loss_fn.log_t"],
                       _checkpoint(tmp_path / "whole")["state_dict"]["loss_fn.log_t"])


def test_two_ddp_processes_learn_the_temperature_one_process_learns(tmp_path):
    """mlp (no BatchNorm), float32, batches of 64 in one process against 32 on each of two ranks: the
    loss's parameter is averaged over the ranks like the model's."""
    common = ["model=mlp", "data=synthetic", "data.val_fraction=0", "trainer.max_epochs=2"]
    one = run_cli(_job(tmp_path / "one", *common, "data.batch_size=64"), tmp_path, env=ENV)
    two = run_cli(_job(tmp_path / "two", *common, "data.batch_size=32", "trainer.devices=2", "trainer.strategy=ddp"),
                  tmp_path, env=ENV)
    assert one.returncode == 0 and two.returncode == 0, (one.stderr + two.stderr)[-3000:]
    a, b = (_checkpoint(tmp_path / d)["state_dict"]["loss_fn.log_t"].item() for d in ("one", "two"))
    assert a != 0.0 and a == pytest.approx(b, rel=1e-5)
