"""Finding, verifying and (failing to) download dataset files; idx and image-folder readers."""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import os
import subprocess
import sys
import urllib.error
import warnings
from pathlib import Path

import numpy as np
import pytest

from lossbench.data import Cifar10DataModule, FashionMnistDataModule, ImageFolderDataModule, MnistDataModule
from lossbench.data.files import ChecksumWarning
from lossbench.errors import UsageError


def test_checksum_mismatch_is_a_warning_naming_the_file(cifar10_root):
    dm = Cifar10DataModule(name="cifar10", root=str(cifar10_root), download=False)
    with pytest.warns(ChecksumWarning, match="data_batch_1.*test_batch.*batches.meta"):
        dm.setup("fit")
    assert "checksums differ" in dm.dataset_facts()["note"] and "data_batch_1" in dm.dataset_facts()["note"]
    assert len(dm.train_y) + len(dm.val_y) == 50000  # used anyway


def test_official_checksums_pass_silently(tmp_path, fakes, monkeypatch):
    arrays = fakes.write_idx(tmp_path / "mnist", gz=True)
    raw = {name: hashlib.md5(fakes.idx_bytes(a)).hexdigest() for name, a in arrays.items()}
    # pretend the fake files are the official ones
    monkeypatch.setattr(MnistDataModule, "files", dataclasses.replace(MnistDataModule.files, md5=raw))
    dm = MnistDataModule(name="mnist", root=str(tmp_path), download=False, val_fraction=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ChecksumWarning)
        dm.setup("fit")  # .gz verified on its uncompressed bytes: a re-compressed copy passes too
    assert dm.dataset_facts()["note"] is None
    assert dm.train_x.shape == (600, 1, 28, 28) and dm.test_x.shape == (100, 1, 28, 28)
    assert np.array_equal(dm.train_x[:, 0].numpy(), arrays["train-images-idx3-ubyte"])
    assert dm.train_y.tolist() == arrays["train-labels-idx1-ubyte"].tolist()


def test_plain_idx_files_in_torchvision_layout(tmp_path, fakes):
    arrays = fakes.write_idx(tmp_path / "FashionMNIST" / "raw", gz=False, seed=3)
    dm = FashionMnistDataModule(name="fashion_mnist", root=str(tmp_path), download=False, val_fraction=0)
    with pytest.warns(ChecksumWarning, match="train-images-idx3-ubyte"):
        dm.setup("fit")
    assert np.array_equal(dm.test_x[:, 0].numpy(), arrays["t10k-images-idx3-ubyte"])
    assert dm.dataset_facts()["source"] == str(tmp_path / "FashionMNIST" / "raw")


def test_fashion_mnist_falls_back_to_the_system_folder(tmp_path, fakes, monkeypatch):
    fakes.write_idx(tmp_path / "system", gz=True)
    monkeypatch.setattr(FashionMnistDataModule, "files", dataclasses.replace(FashionMnistDataModule.files,
                                                                             system_dirs=(str(tmp_path / "system"),)))
    dm = FashionMnistDataModule(name="fashion_mnist", root=str(tmp_path / "empty"), download=False)
    with pytest.warns(ChecksumWarning):
        dm.setup("fit")
    assert dm.dataset_facts()["source"] == str(tmp_path / "system")


def test_offline_download_failure_is_one_clear_message(tmp_path, monkeypatch):
    import torchvision.datasets.utils as tv_utils

    def no_network(url, *args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(tv_utils, "download_and_extract_archive", no_network)
    dm = Cifar10DataModule(name="cifar10", root=str(tmp_path), download=True)
    with pytest.raises(UsageError) as err:
        dm.setup("fit")
    message = str(err.value)
    for part in ("'cifar10'", "cifar-10-batches-py/{data_batch_1", "test_batch", f"data.root={str(tmp_path)!r}",
                 "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", "URLError", "LOSSBENCH_DATA"):
        assert part in message
    assert "\n" not in message


def test_missing_idx_files_without_download(tmp_path):
    dm = MnistDataModule(name="mnist", root=str(tmp_path), download=False)
    with pytest.raises(UsageError) as err:
        dm.setup("fit")
    message = str(err.value)
    # Every part must be there (a regex alternation would pass on any one of them).
    for part in ("dataset 'mnist' is not on disk", "train-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
                 "(data.download=false)", f"data.root={str(tmp_path)!r}", "LOSSBENCH_DATA"):
        assert part in message, part


def test_image_folder_tree(tmp_path):
    from PIL import Image

    for split, n in (("train", 4), ("test", 2)):
        for c, colour in (("cat", 200), ("dog", 50)):
            folder = tmp_path / split / c
            folder.mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", (40, 20), (colour, i, 0)).save(folder / f"{i}.png")
    dm = ImageFolderDataModule(name="image_folder", root=str(tmp_path), image_size=16, val_fraction=0)
    assert dm.num_classes == 2  # known before setup: the loss is built from it
    dm.setup("fit")
    assert dm.class_names == ["cat", "dog"]
    assert dm.train_x.shape == (8, 3, 16, 16) and dm.test_x.shape == (4, 3, 16, 16)
    assert dm.train_y.tolist() == [0] * 4 + [1] * 4
    assert dm.train_x[0, 0].float().mean() == pytest.approx(200, abs=1) and dm.train_x[4, 0, 0, 0] == 50
    with pytest.raises(ValueError, match="no class folders"):
        ImageFolderDataModule(name="image_folder", root=str(tmp_path / "nothing"))


@pytest.mark.slow
def test_cli_offline_error_has_no_traceback(tmp_path):
    """End to end: `lossbench train data=cifar10` on an empty root fails with one message."""
    env = {**os.environ, "LOSSBENCH_RUNS": str(tmp_path / "runs")}
    proc = subprocess.run([sys.executable, "-m", "lossbench", "train", "data=cifar10", f"data.root={tmp_path / 'data'}",
                           "data.download=false", "trainer=smoke"], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    errors = [line for line in proc.stderr.splitlines() if line.startswith("lossbench:")]
    assert len(errors) == 1 and "dataset 'cifar10' is not on disk" in errors[0]
    results = json.loads(next((tmp_path / "runs").rglob("results.json")).read_text())
    assert results["status"] == "failed" and results["error_type"] == "config"
    assert "cifar-10-python.tar.gz" in results["error"]
