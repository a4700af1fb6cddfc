"""Any class-per-folder image tree (torchvision ImageFolder's layout), read into memory once:

  data.root/train/<class>/*.png|jpg|...  and  data.root/test/<class>/...   (train_dir, test_dir), or
  data.root/<class>/...  alone: then a fixed stratified `test_fraction` (seed 0) is the test set.
Classes are the sorted folder names; images are converted to `channels` (1: grey, 3: RGB) and
resized to image_size x image_size (bilinear) when they are not that size already.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lossbench.data.base import ImageArrays, ImageDataModule
from lossbench.data.files import resolve_root
from lossbench.data.splits import stratified_split
from lossbench.errors import UsageError

EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}


def class_folders(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


class ImageFolderDataModule(ImageDataModule):
    def __init__(self, *, train_dir: str = "train", test_dir: str = "test", test_fraction: float = 0.2,
                 image_size: int = 32, channels: int = 3, **common):
        root = resolve_root(common.get("root"))
        self.train_folder, self.test_folder = root / train_dir, root / test_dir
        if not (self.train_folder.is_dir() and self.test_folder.is_dir()):
            self.train_folder, self.test_folder = root, None
        if not root.is_dir() or not class_folders(self.train_folder):
            raise UsageError(f"data.root={str(root)!r} holds no class folders: image_folder expects "
                             f"data.root/{train_dir}/<class>/<images> (and {test_dir}/), or data.root/<class>/<images>.")
        self.classes = class_folders(self.train_folder)
        self.num_classes = len(self.classes)
        if self.num_classes < 2:
            raise UsageError(f"data.root={str(root)!r} holds one class folder ({self.classes[0]!r}) in "
                             f"{self.train_folder}: a classifier needs at least two classes, one folder each.")
        if int(channels) not in (1, 3):
            raise ValueError(f"data.channels={channels!r} is out of range: it must be 1 (grey) or 3 (RGB).")
        if not 0.0 < float(test_fraction) < 1.0:
            raise ValueError(f"data.test_fraction={test_fraction!r} is out of range: it must be in (0, 1).")
        if int(image_size) < 1:
            raise ValueError(f"data.image_size={image_size!r} is out of range: it must be >= 1.")
        super().__init__(**common)
        self.size, self.channels, self.test_fraction = int(image_size), int(channels), float(test_fraction)
        self.declared_shape = (self.channels, self.size)

    def _read_tree(self, folder: Path) -> tuple[np.ndarray, np.ndarray]:
        from PIL import Image

        images, labels = [], []
        for label, name in enumerate(self.classes):
            if not (folder / name).is_dir():
                continue
            for path in sorted((folder / name).rglob("*")):
                if path.suffix.lower() not in EXTENSIONS:
                    continue
                try:
                    with Image.open(path) as img:
                        img = img.convert("L" if self.channels == 1 else "RGB")
                        if img.size != (self.size, self.size):
                            img = img.resize((self.size, self.size), Image.BILINEAR)
                        array = np.asarray(img, dtype=np.uint8)
                except OSError as err:  # PIL's UnidentifiedImageError, a truncated file
                    raise UsageError(f"image_folder: {path} is not a readable image ({type(err).__name__}: {err}). "
                                     f"Remove or replace it.") from None
                images.append(array[None] if self.channels == 1 else array.transpose(2, 0, 1))
                labels.append(label)
        if not images:
            raise UsageError(f"image_folder: no images ({', '.join(sorted(EXTENSIONS))}) under {folder}: put each "
                             f"class's image files in its folder, {folder}/<class>/.")
        return np.stack(images), np.asarray(labels, dtype=np.int64)

    def load_arrays(self) -> ImageArrays:
        train_x, train_y = self._read_tree(self.train_folder)
        if self.test_folder is not None:
            test_x, test_y = self._read_tree(self.test_folder)
        else:
            kept, held = stratified_split(train_y, self.test_fraction, seed=0)
            train_x, train_y, test_x, test_y = train_x[kept], train_y[kept], train_x[held], train_y[held]
        return ImageArrays(train_x, train_y, test_x, test_y, class_names=self.classes,
                           source=str(self.train_folder))
