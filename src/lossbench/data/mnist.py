"""MNIST (LeCun et al. 1998) and Fashion-MNIST (Xiao et al. 2017) from the official idx files:
train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte,
each plain or .gz. Folders searched, first complete one wins:
  MNIST:          data.root/mnist, data.root/MNIST/raw (torchvision's layout)
  Fashion-MNIST:  data.root/fashion-mnist, data.root/fashion_mnist, data.root/FashionMNIST/raw,
                  /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist package)
Checksums are verified on the *uncompressed* bytes (official MD5s of the raw idx files), so a
re-compressed .gz with the same content (Debian's) passes. Missing files are downloaded into
torchvision's layout. 28x28 grey images, 60,000 train / 10,000 test, 10 classes.
"""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from lossbench.data.base import ImageArrays, ImageDataModule
from lossbench.data.catalog import FASHION_MNIST, IDX_FILES as FILES, MNIST, DatasetFiles, Found
from lossbench.data.files import checksum_note, corrupt_file, dataset_unavailable, download, resolve_root, verify_checksums


def read_idx(path: Path) -> np.ndarray:
    """An idx file (optionally gzipped) as a numpy uint8 array of its declared shape."""
    try:
        raw = gzip.open(path, "rb").read() if path.suffix == ".gz" else path.read_bytes()
    except (EOFError, gzip.BadGzipFile, OSError) as err:  # a truncated or garbage .gz
        raise corrupt_file(path, f"{type(err).__name__}: {err}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise corrupt_file(path, "not an idx file of unsigned bytes: bad magic number")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise corrupt_file(path, f"{data.size} bytes of data for a declared shape {shape}")
    return data.reshape(shape).copy()  # writable: torch tensors are made from it


class _IdxDataModule(ImageDataModule):
    num_classes = 10
    declared_shape = (1, 28)
    files: DatasetFiles  # catalog.py: folders, official MD5s of the raw bytes
    mirror = ""
    gz_md5: dict[str, str] = {}  # of the mirror's .gz downloads
    download_folder = ""
    class_names: list[str] | None = None

    def __init__(self, *, download: bool = True, **common):
        super().__init__(**common)
        self.download = bool(download)

    def _locate(self) -> Found:
        root = resolve_root(self.root)
        found = self.files.find(root)
        if found:
            return found
        expected = [f"{self.files.folders[0]}/{name}[.gz]" for name in FILES]
        url = f"{self.mirror}{FILES[0]}.gz"
        if not self.download:
            raise dataset_unavailable(self.name, expected, root, url, "data.download=false")
        target = root / self.download_folder
        for name in FILES:
            download(self.name, f"{self.mirror}{name}.gz", target, f"{name}.gz", self.gz_md5[name], expected,
                     extract=False)
        return [(target / f"{name}.gz", md5, True) for name, md5 in self.files.md5.items()]

    def load_arrays(self) -> ImageArrays:
        found = self._locate()
        bad = verify_checksums(self.name, found)
        images_train, labels_train, images_test, labels_test = (read_idx(path) for path, _, _ in found)
        return ImageArrays(images_train[:, None], labels_train.astype(np.int64), images_test[:, None],
                           labels_test.astype(np.int64), class_names=self.class_names,
                           note=checksum_note(self.files.title, bad), source=str(found[0][0].parent))


class MnistDataModule(_IdxDataModule):
    files = MNIST
    asymmetric_noise = "mnist"
    flip_allowed = False
    download_folder = "MNIST/raw"
    mirror = "https://ossci-datasets.s3.amazonaws.com/mnist/"
    class_names = [str(d) for d in range(10)]
    gz_md5 = {"train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
              "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
              "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
              "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c"}


class FashionMnistDataModule(_IdxDataModule):
    files = FASHION_MNIST
    download_folder = "FashionMNIST/raw"
    mirror = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
    class_names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]
    gz_md5 = {"train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
              "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
              "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
              "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310"}
