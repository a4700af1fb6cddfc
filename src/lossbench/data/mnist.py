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
from lossbench.data.files import checksum_note, corrupt_file, dataset_unavailable, download, resolve_root, verify_checksums

FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


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
    title = ""
    subfolders: tuple[str, ...] = ()
    system_dirs: tuple[str, ...] = ()
    mirror = ""
    gz_md5: dict[str, str] = {}
    raw_md5: dict[str, str] = {}
    download_folder = ""
    class_names: list[str] | None = None

    def __init__(self, *, download: bool = True, **common):
        super().__init__(**common)
        self.download = bool(download)

    @staticmethod
    def _file(folder: Path, name: str) -> Path | None:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
        return None

    def _candidates(self) -> list[Path]:
        root = resolve_root(self.root)
        return [root / sub for sub in self.subfolders] + [Path(d) for d in self.system_dirs]

    def _locate(self) -> dict[str, Path]:
        for folder in self._candidates():
            found = {name: self._file(folder, name) for name in FILES}
            if all(found.values()):
                return found
        root = resolve_root(self.root)
        expected = [f"{self.subfolders[0]}/{name}[.gz]" for name in FILES]
        url = f"{self.mirror}{FILES[0]}.gz"
        if not self.download:
            raise dataset_unavailable(self.name, expected, root, url, "data.download=false")
        target = root / self.download_folder
        for name in FILES:
            download(self.name, f"{self.mirror}{name}.gz", target, f"{name}.gz", self.gz_md5[name], expected,
                     extract=False)
        return {name: target / f"{name}.gz" for name in FILES}

    def load_arrays(self) -> ImageArrays:
        found = self._locate()
        bad = verify_checksums(self.name, [(path, self.raw_md5[name], path.suffix == ".gz")
                                           for name, path in found.items()])
        arrays = {name: read_idx(path) for name, path in found.items()}
        return ImageArrays(arrays[FILES[0]][:, None], arrays[FILES[1]].astype(np.int64),
                           arrays[FILES[2]][:, None], arrays[FILES[3]].astype(np.int64),
                           class_names=self.class_names, note=checksum_note(self.title, bad),
                           source=str(found[FILES[0]].parent))


class MnistDataModule(_IdxDataModule):
    title = "MNIST"
    asymmetric_noise = "mnist"
    flip_allowed = False
    subfolders = ("mnist", "MNIST/raw")
    download_folder = "MNIST/raw"
    mirror = "https://ossci-datasets.s3.amazonaws.com/mnist/"
    class_names = [str(d) for d in range(10)]
    gz_md5 = {"train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
              "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
              "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
              "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c"}
    raw_md5 = {"train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
               "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
               "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
               "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637"}


class FashionMnistDataModule(_IdxDataModule):
    title = "Fashion-MNIST"
    subfolders = ("fashion-mnist", "fashion_mnist", "FashionMNIST/raw")
    system_dirs = ("/usr/share/datasets/fashion-mnist",)
    download_folder = "FashionMNIST/raw"
    mirror = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
    class_names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]
    gz_md5 = {"train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
              "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
              "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
              "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310"}
    raw_md5 = {"train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
               "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
               "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
               "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965"}
