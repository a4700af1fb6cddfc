"""Files from elsewhere never run code (untrusted.py): a CIFAR batch or a checkpoint whose pickle
would call something is refused with one paragraph naming the file (exit 2), and what it would have
done never happens; genuine files still load."""
from __future__ import annotations

import pickle
import shutil

import numpy as np
import pytest
import torch

from lossbench.errors import UsageError
from lossbench.untrusted import load_checkpoint, load_data_pickle
from tests.conftest import run_cli

CIFAR_FILES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch",
               "batches.meta")


class Planted:
    """Unpickling this calls open(marker, "w"): the marker file exists only if the pickle ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _cifar_folder(tmp_path):
    folder = tmp_path / "cifar" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.RandomState(0)
    for name in CIFAR_FILES:
        entry = {b"batch_label": name.encode(), b"labels": rng.randint(0, 10, 20).tolist(),
                 b"data": rng.randint(0, 256, (20, 3072)).astype(np.uint8),
                 b"label_names": [f"c{c}".encode() for c in range(10)]}
        (folder / name).write_bytes(pickle.dumps(entry, protocol=2))
    return folder


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_a_genuine_batch_loads_equal(protocol, tmp_path):
    entry = {b"labels": [3, 1, 4], b"data": np.arange(9, dtype=np.uint8).reshape(3, 3), b"name": "x",
             b"n": 1.5, b"batch_label": b"bytes"}
    path = tmp_path / "batch"
    path.write_bytes(pickle.dumps(entry, protocol=protocol))
    loaded = load_data_pickle(path)
    assert loaded.keys() == entry.keys() and loaded[b"labels"] == [3, 1, 4] and loaded[b"batch_label"] == b"bytes"
    np.testing.assert_array_equal(loaded[b"data"], entry[b"data"])
    assert loaded[b"data"].dtype == np.uint8


def test_a_planted_batch_never_runs(tmp_path):
    path, marker = tmp_path / "data_batch_1", tmp_path / "ran"
    path.write_bytes(pickle.dumps({b"labels": [0], b"data": Planted(marker)}))
    with pytest.raises(UsageError) as err:
        load_data_pickle(path)
    assert str(path) in str(err.value) and "io.open" in str(err.value)
    assert not marker.exists()


def test_a_planted_cifar_batch_is_refused_by_the_job(tmp_path):
    folder = _cifar_folder(tmp_path)
    marker = tmp_path / "ran"
    (folder / "data_batch_1").write_bytes(pickle.dumps({b"labels": [0], b"data": Planted(marker)}))
    proc = run_cli(["train", "data=cifar10", f"data.root={tmp_path / 'cifar'}", "data.download=false",
                    "trainer=smoke", "model=mlp"], tmp_path / "runs", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("lossbench:")]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert str(folder / "data_batch_1") in lines[0] and "was not read" in lines[0]
    assert not marker.exists()


def test_a_planted_checkpoint_is_refused_and_a_genuine_one_resumes(tmp_path):
    job = ["train", "data=synthetic", "trainer=smoke", "trainer.max_epochs=2", "hydra.run.dir=run"]
    first = run_cli(job, tmp_path / "runs", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    genuine = load_checkpoint(ckpt)  # lossbench's own checkpoints load weights-only
    assert genuine["epoch"] == 1
    saved = tmp_path / "genuine.ckpt"
    shutil.copy(ckpt, saved)

    marker = tmp_path / "ran"
    torch.save({"epoch": 1, "state_dict": {}, "planted": Planted(marker)}, ckpt)
    refused = run_cli(job, tmp_path / "runs", cwd=tmp_path)  # the same job again: resume reads last.ckpt
    assert refused.returncode == 2, refused.stderr
    lines = [line for line in refused.stderr.splitlines() if line.startswith("lossbench:")]
    assert len(lines) == 1 and "Traceback" not in refused.stderr, refused.stderr
    assert str(ckpt) in lines[0] and "resume=never" in lines[0]
    assert not marker.exists()


def test_a_checkpoint_from_before_the_tensor_rng_state_still_loads(tmp_path):
    """Checkpoints written before RandomState kept numpy's generator as a tensor hold a numpy array."""
    path = tmp_path / "old.ckpt"
    torch.save({"epoch": 4, "callbacks": {"RandomState": {"numpy": np.random.get_state()}}}, path)
    state = load_checkpoint(path)
    assert state["epoch"] == 4
    np.testing.assert_array_equal(state["callbacks"]["RandomState"]["numpy"][1], np.random.get_state()[1])
