"""SAM through real jobs: BatchNorm's running statistics move once per step, a SIGKILLed SAM run
resumes to the uninterrupted one's numbers, and two DDP processes on the CPU train as one does."""
from __future__ import annotations

import json

import pytest
import torch

from tests.conftest import run_cli


def _job(tmp, *extra: str) -> list[str]:
    return ["train", "optimizer=sam", "optimizer.rho=0.1", "trainer=cpu", "trainer.max_epochs=3",
            "trainer.enable_progress_bar=false", "data.val_fraction=0.1", *extra, f"hydra.run.dir={tmp}"]


def test_batchnorm_moves_once_per_step_in_a_sam_job(tmp_path):
    proc = run_cli(_job(tmp_path / "run", "model=small_cnn"), tmp_path, env={"OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads((tmp_path / "run" / "results.json").read_text())
    state = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=False)
    counts = {v.item() for k, v in state["state_dict"].items() if k.endswith("num_batches_tracked")}
    assert counts == {state["global_step"]} and state["global_step"] > 0
    assert record["status"] == "completed"


def test_a_killed_sam_job_resumes_to_the_uninterrupted_numbers(tmp_path):
    from tests.test_resume import _test_numbers, killed_then_resumed

    env = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    whole = run_cli(_job(tmp_path / "whole"), tmp_path, env=env)
    assert whole.returncode == 0, whole.stderr[-3000:]
    cut = killed_then_resumed(_job(tmp_path / "cut")[1:], tmp_path / "cut", tmp_path)
    reference = json.loads((tmp_path / "whole" / "results.json").read_text())
    assert _test_numbers(cut) == _test_numbers(reference)


def test_two_ddp_processes_train_as_one_with_sam(tmp_path):
    """mlp (no BatchNorm), float32, batches of 64 in one process against 32 on each of two ranks: the
    ranks' batches together are the one process's, and SAM's perturbation comes from the gradient
    averaged over both, in each pass."""
    common = ["train", "optimizer=sam", "optimizer.rho=0.1", "model=mlp", "data=synthetic", "data.val_fraction=0",
              "trainer=cpu", "trainer.max_epochs=2", "trainer.enable_progress_bar=false", "loss=ce"]
    one = run_cli([*common, "data.batch_size=64", f"hydra.run.dir={tmp_path / 'one'}"], tmp_path)
    two = run_cli([*common, "data.batch_size=32", "trainer.devices=2", "trainer.strategy=ddp",
                   f"hydra.run.dir={tmp_path / 'two'}"], tmp_path)
    assert one.returncode == 0 and two.returncode == 0, (one.stderr + two.stderr)[-3000:]
    a, b = (json.loads((tmp_path / d / "results.json").read_text()) for d in ("one", "two"))
    assert b["world_size"] == 2
    assert a["final"]["test_nll"] == pytest.approx(b["final"]["test_nll"], rel=1e-4)
    assert a["final"]["test_acc"] == pytest.approx(b["final"]["test_acc"], abs=1.5 / b["dataset"]["num_test"])
