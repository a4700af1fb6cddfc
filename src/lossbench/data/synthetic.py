"""A tiny seeded synthetic image dataset for tests and smoke runs: each class is a fixed random
8x8 prototype plus Gaussian pixel noise, so a small model learns it within a few epochs."""
from __future__ import annotations

import numpy as np

from lossbench.data.base import ImageArrays, ImageDataModule


class SyntheticDataModule(ImageDataModule):
    def __init__(self, *, num_classes: int = 10, train_per_class: int = 60, test_per_class: int = 20,
                 image_size: int = 8, channels: int = 1, noise: float = 0.35, data_seed: int = 0, **common):
        self.num_classes = int(num_classes)
        if self.num_classes < 2:
            raise ValueError(f"data.num_classes={num_classes!r} is out of range: it must be >= 2.")
        super().__init__(**common)
        self.train_per_class, self.test_per_class = int(train_per_class), int(test_per_class)
        self.shape = (int(channels), int(image_size), int(image_size))
        self.declared_shape = (int(channels), int(image_size))
        self.noise, self.data_seed = float(noise), int(data_seed)

    def load_arrays(self) -> ImageArrays:
        rng = np.random.RandomState(self.data_seed)
        prototypes = rng.rand(self.num_classes, *self.shape)

        def draw(per_class: int):
            labels = np.repeat(np.arange(self.num_classes), per_class)
            rng.shuffle(labels)
            pixels = prototypes[labels] + self.noise * rng.randn(len(labels), *self.shape)
            return np.clip(np.rint(pixels * 255), 0, 255).astype(np.uint8), labels.astype(np.int64)

        train_x, train_y = draw(self.train_per_class)
        test_x, test_y = draw(self.test_per_class)
        return ImageArrays(train_x, train_y, test_x, test_y)


class SyntheticBinaryDataModule(SyntheticDataModule):
    """The same prototypes with two classes, as a binary task (class 1 positive): for tests and smoke runs."""

    task = "binary"

    def __init__(self, *, num_classes: int = 2, **common):
        if num_classes != 2:
            raise ValueError(f"data.num_classes={num_classes!r}: synthetic_binary has two classes.")
        super().__init__(num_classes=2, **common)
