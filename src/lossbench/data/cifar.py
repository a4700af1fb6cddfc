"""CIFAR-10 and CIFAR-100 (Krizhevsky 2009) from the official python-pickle files, and their
long-tailed versions CIFAR-10-LT / CIFAR-100-LT (set data.imbalance_ratio; see longtail.py).

Files looked for (nothing is downloaded when they are there), under data.root:
  cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}
  cifar-100-python/{train, test, meta}
Each file's MD5 is checked against the official one (torchvision's table); a mismatch is a
warning plus a note in results.json. Images keep the file order, as torchvision's CIFAR classes
load them, so the long-tail selection picks the same images as the LDAM-DRW reference code.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from lossbench.data.base import ImageArrays, ImageDataModule
from lossbench.data.catalog import CIFAR10, CIFAR100, DatasetFiles, Found
from lossbench.data.files import checksum_note, corrupt_file, dataset_unavailable, download, resolve_root, verify_checksums
from lossbench.errors import UsageError
from lossbench.untrusted import load_data_pickle


def _unpickle(path: Path) -> dict:
    try:
        entry = load_data_pickle(path)  # arrays, lists, dicts, strings and numbers only: never code
        return {(k.decode() if isinstance(k, bytes) else k): v for k, v in entry.items()}
    except UsageError:  # refused as unsafe: its own message
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            UnicodeDecodeError, MemoryError) as err:  # what a truncated or garbage pickle raises
        raise corrupt_file(path, f"{type(err).__name__}: {err}") from None


def _decoded_names(values) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


class _CifarDataModule(ImageDataModule):
    url = ""
    archive = ""
    archive_md5 = ""
    files: DatasetFiles  # catalog.py: folder, file names, official MD5s
    train_files: tuple[str, ...] = ()
    test_files: tuple[str, ...] = ()
    meta_file = ""
    label_key = "labels"
    names_key = "label_names"

    def __init__(self, *, download: bool = True, **common):
        super().__init__(**common)
        self.download = bool(download)

    def _expected(self) -> list[str]:
        return [f"{self.files.folders[0]}/{{{', '.join(self.files.md5)}}}"]

    def _locate(self) -> Found:
        root = resolve_root(self.root)
        found = self.files.find(root)
        if found:
            return found
        if not self.download:
            raise dataset_unavailable(self.name, self._expected(), root, self.url, "data.download=false")
        download(self.name, self.url, root, self.archive, self.archive_md5, self._expected())
        found = self.files.find(root)
        if not found:
            raise dataset_unavailable(self.name, self._expected(), root, self.url,
                                      "the downloaded archive did not contain them")
        return found

    def _read(self, folder: Path, files) -> tuple[np.ndarray, np.ndarray, list]:
        data, labels, coarse = [], [], []
        for name in files:
            entry = _unpickle(folder / name)
            try:
                data.append(np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
                labels.extend(entry[self.label_key])
            except (KeyError, ValueError, TypeError) as err:
                raise corrupt_file(folder / name, f"not a CIFAR batch ({type(err).__name__}: {err})") from None
            if len(labels) != sum(len(d) for d in data):
                raise corrupt_file(folder / name, "it holds a different number of images and labels")
            coarse.extend(entry.get("coarse_labels", []))
        return np.concatenate(data), np.asarray(labels, dtype=np.int64), coarse

    def load_arrays(self) -> ImageArrays:
        found = self._locate()
        folder = found[0][0].parent
        bad = verify_checksums(self.name, found)
        train_x, train_y, coarse = self._read(folder, self.train_files)
        test_x, test_y, _ = self._read(folder, self.test_files)
        names = _decoded_names(_unpickle(folder / self.meta_file).get(self.names_key, []))
        fine_to_coarse = None
        if coarse:
            fine_to_coarse = [0] * self.num_classes
            for fine, c in zip(train_y.tolist(), coarse):
                fine_to_coarse[fine] = int(c)
        return ImageArrays(train_x, train_y, test_x, test_y, class_names=names or None,
                           note=checksum_note(self.files.title, bad), source=str(folder), fine_to_coarse=fine_to_coarse)


class Cifar10DataModule(_CifarDataModule):
    """CIFAR-10: 50,000 train / 10,000 test 32x32 RGB images, 10 classes."""

    num_classes = 10
    declared_shape = (3, 32)
    asymmetric_noise = "cifar10"
    files = CIFAR10
    url = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    archive, archive_md5 = "cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"
    train_files = tuple(f"data_batch_{i}" for i in range(1, 6))
    test_files = ("test_batch",)
    meta_file = "batches.meta"


class Cifar100DataModule(_CifarDataModule):
    """CIFAR-100: 50,000 train / 10,000 test 32x32 RGB images, 100 fine classes (20 superclasses)."""

    num_classes = 100
    declared_shape = (3, 32)
    asymmetric_noise = "cifar100"
    files = CIFAR100
    url = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
    archive, archive_md5 = "cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85"
    train_files = ("train",)
    test_files = ("test",)
    meta_file = "meta"
    label_key = "fine_labels"
    names_key = "fine_label_names"
