"""The official files of each file-backed dataset: the folders they are looked for in and their
MD5s, and finding them on disk. Nothing heavy is imported here, so that `lossbench doctor` checks
the data without importing Lightning; the data modules (cifar.py, mnist.py) load from these tables.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

Found = list[tuple[Path, str, bool]]  # (path, official MD5 of its bytes, decompress before hashing)


@dataclass(frozen=True)
class DatasetFiles:
    title: str
    folders: tuple[str, ...]  # under data.root, in order: the first folder that holds every file wins
    md5: dict[str, str] = field(hash=False)  # file name -> official MD5 (of the uncompressed bytes)
    gz_allowed: bool = False  # a file may also be NAME.gz (idx files: checked on their uncompressed bytes)
    system_dirs: tuple[str, ...] = ()  # absolute folders searched after data.root's (Debian's packages)

    def candidates(self, root: Path) -> list[Path]:
        return [root / sub for sub in self.folders] + [Path(d) for d in self.system_dirs]

    def find(self, root: Path) -> Found | None:
        """Every file of the first complete folder, in the order of `md5`; None when no folder has them all."""
        for folder in self.candidates(root):
            paths = [self._file(folder, name) for name in self.md5]
            if all(paths):
                return [(p, md5, p.suffix == ".gz") for p, md5 in zip(paths, self.md5.values())]
        return None

    def _file(self, folder: Path, name: str) -> Path | None:
        for candidate in (folder / name, *([folder / f"{name}.gz"] if self.gz_allowed else [])):
            if candidate.is_file():
                return candidate
        return None


# torchvision's tables (CIFAR: the pickle files; MNIST/Fashion-MNIST: the raw idx bytes).
CIFAR10 = DatasetFiles("CIFAR-10", ("cifar-10-batches-py",), {
    "data_batch_1": "c99cafc152244af753f735de768cd75f", "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751", "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb", "test_batch": "40351d587109b95175f43aff81a1287e",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888"})
CIFAR100 = DatasetFiles("CIFAR-100", ("cifar-100-python",), {
    "train": "16019d7e3df5f24257cddd939b257f8d", "test": "f0ef6b0ae62326f3e7ffdfab6717acfc",
    "meta": "7973b15100ade9c7d40fb424638fde48"})
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
MNIST = DatasetFiles("MNIST", ("mnist", "MNIST/raw"), dict(zip(IDX_FILES, (
    "6bbc9ace898e44ae57da46a324031adb", "a25bea736e30d166cdddb491f175f624", "2646ac647ad5339dbf082846283269ea",
    "27ae3e4e09519cfbb04c329615203637"))), gz_allowed=True)
FASHION_MNIST = DatasetFiles("Fashion-MNIST", ("fashion-mnist", "fashion_mnist", "FashionMNIST/raw"), dict(zip(
    IDX_FILES, ("f4a8712d7a061bf5bd6d2ca38dc4d50a", "9018921c3c673c538a1fc5bad174d6f9",
                "8181f5470baa50b63fa0f6fddb340f0a", "15d484375f8d13e6eb1aabb0c3f46965"))),
    gz_allowed=True, system_dirs=("/usr/share/datasets/fashion-mnist",))

# data config name (and the prefix of its long-tailed variants) -> its files
CATALOG = {"cifar10": CIFAR10, "cifar100": CIFAR100, "mnist": MNIST, "fashion_mnist": FASHION_MNIST}
