"""Multi-label datasets: every example has a set of labels, multi-hot [N, C] (float32 0/1 in the
batches), and the model a sigmoid per class.

  fashion_mnist_mosaic, digits_mosaic
      each image a 2 x 2 grid of items of a single-label dataset. The training items are drawn with
      the long-tail profile (class i: int(items_per_class * (1 / imbalance_ratio)^(i / (C - 1)))
      items, profile exp or step, as data/longtail.py), shuffled and dealt four to an image from the
      official training images (RandomState(lt_seed)); the test items are `test_items_per_class`
      of every class, from the official test images (RandomState(TEST_SEED), the same test set
      whatever the training seed). An image's label is the set of classes among its four items
      (one to four), so a class's positive-image count (`class_counts`) is at most its item count.
      A class asks for more items than it has source images only on digits (about 125 training
      images a class); its images are then drawn with replacement.
  synthetic_multilabel
      scikit-learn's `make_multilabel_classification` (bag-of-words features, every example with at
      least one label; its class probabilities are themselves uneven), standardised on the training
      split: a point dataset (data/points.py) for tests and smoke runs.

The protocol of the single-label data (base.py) applies where it means something: the validation
set is a random `val_fraction` of the training images (`split_seed`; a multi-label set has no
strata), and `val_source: none` turns it off. Label noise, the re-sampling samplers and held-out
validation are single-label protocols and are refused with a message."""
from __future__ import annotations

import numpy as np

from lossbench.data.base import ImageArrays
from lossbench.data.digits import DigitsDataModule
from lossbench.data.longtail import longtail_counts
from lossbench.data.mnist import FashionMnistDataModule
from lossbench.data.points import PointDataModule
from lossbench.errors import UsageError

TEST_SEED = 20240601  # the test mosaics' draw: one test set per configuration, whatever lt_seed is
GRID = 2  # a mosaic is GRID x GRID items


class MultiLabelProtocol:
    """Mixin over a data module whose `load_arrays` gives multi-hot labels [N, C]: the protocol's
    steps for a multi-label task (see the module docstring)."""

    task = "multilabel"
    asymmetric_noise = None

    def __init__(self, **common):
        noise = dict(common.get("label_noise") or {})
        if noise.get("type", "none") != "none" and float(noise.get("rate", 0.0)) > 0:
            raise ValueError(f"data.label_noise.type={noise['type']}: label noise is a single-label protocol (a "
                             f"label replaced by another class); a multi-label set has none. Set "
                             f"data.label_noise.type=none.")
        if common.get("sampler", "random") != "random":
            raise ValueError(f"data.sampler={common['sampler']}: class-balanced and square-root sampling weight an "
                             f"example by its one class; a multi-label example has several. Use data.sampler=random "
                             f"(or a loss that re-balances, such as loss=db).")
        if common.get("val_source", "split") == "heldout":
            raise ValueError("data.val_source=heldout draws unused single-label training images; a multi-label set "
                             "has none. Use data.val_source=split (with data.val_fraction) or none.")
        super().__init__(**common)

    def setup(self, stage: str | None = None) -> None:
        if self._prepared:
            return
        arrays = self.load_arrays()
        train_x, train_y = arrays.train_images, np.asarray(arrays.train_labels, dtype=np.float32)
        self.lt_indices = None
        self.noise_record = {"type": "none"}
        self.clean_train_y = train_y
        val_x = val_y = None
        if self.val_source == "split" and self.val_fraction > 0:
            order = np.random.RandomState(self.split_seed).permutation(len(train_y))
            n_val = int(round(self.val_fraction * len(train_y)))
            held, kept = np.sort(order[:n_val]), np.sort(order[n_val:])
            train_x, train_y, val_x, val_y = train_x[kept], train_y[kept], train_x[held], train_y[held]
        empty = [int(c) for c in np.flatnonzero(train_y.sum(0) == 0)]
        if empty:
            raise UsageError(f"data={self.name}: {len(empty)} of {self.num_classes} classes have no positive training "
                             f"example ({', '.join(map(str, empty[:20]))}); lower data.imbalance_ratio or raise the "
                             f"items per class.")
        self.keep_splits(arrays, train_x, train_y, val_x, val_y, np.asarray(arrays.test_labels, dtype=np.float32))
        self._prepared = True

    @property
    def class_counts(self) -> list[int]:
        """Positive training examples per class (after the validation split)."""
        return [int(n) for n in self.train_y.sum(0).round().tolist()]

    def val_class_counts(self) -> list[int] | None:
        """Positive validation examples per class."""
        return None if self.val_y is None else [int(n) for n in self.val_y.sum(0).round().tolist()]

    def dataset_facts(self) -> dict:
        return {**super().dataset_facts(), "labels_per_example": round(float(self.train_y.sum(1).mean()), 4)}


def build_mosaics(images: np.ndarray, labels: np.ndarray, items: list[int], num_classes: int,
                  rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
    """Images [M, ch, GRID h, GRID w] and multi-hot labels [M, C] from `items[c]` items of class c,
    shuffled and dealt GRID^2 to an image (a remainder of fewer is dropped)."""
    labels = np.asarray(labels, dtype=np.int64)
    drawn = []
    for c, n in enumerate(items):
        pool = np.flatnonzero(labels == c)
        drawn.append(rng.choice(pool, size=n, replace=n > len(pool)))
    picks = np.concatenate(drawn)
    rng.shuffle(picks)
    per = GRID * GRID
    count = len(picks) // per
    cells = images[picks[:count * per]].reshape(count, GRID, GRID, *images.shape[1:])  # [M, row, col, ch, h, w]
    mosaics = cells.transpose(0, 3, 1, 4, 2, 5).reshape(count, images.shape[1], GRID * images.shape[2],
                                                        GRID * images.shape[3])
    multi_hot = np.zeros((count, num_classes), dtype=np.float32)
    rows = np.repeat(np.arange(count), per)
    multi_hot[rows, labels[picks[:count * per]]] = 1.0
    return np.ascontiguousarray(mosaics), multi_hot


class _Mosaic(MultiLabelProtocol):
    """Mixin over a single-label image data module: its arrays made into mosaics."""

    def __init__(self, *, items_per_class: int = 1000, test_items_per_class: int = 200, **common):
        for key, value in (("items_per_class", items_per_class), ("test_items_per_class", test_items_per_class)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"data.{key}={value!r} is out of range: it must be an integer >= 1.")
        self.items_per_class, self.test_items_per_class = items_per_class, test_items_per_class
        super().__init__(**common)
        self.declared_shape = (self.declared_shape[0], GRID * self.declared_shape[1])

    def load_arrays(self) -> ImageArrays:
        arrays = super().load_arrays()
        c = self.num_classes
        items = longtail_counts(self.items_per_class, c, self.imbalance_ratio, self.profile)
        if min(items) < 1:
            raise UsageError(f"data.imbalance_ratio={self.imbalance_ratio:g} leaves a class with no item: with "
                             f"data.items_per_class={self.items_per_class} use an imbalance_ratio <= "
                             f"{self.items_per_class}.")
        train_x, train_y = build_mosaics(arrays.train_images, arrays.train_labels, items, c,
                                         np.random.RandomState(self.lt_seed))
        test_x, test_y = build_mosaics(arrays.test_images, arrays.test_labels, [self.test_items_per_class] * c, c,
                                       np.random.RandomState(TEST_SEED))
        return ImageArrays(train_x, train_y, test_x, test_y, class_names=arrays.class_names, note=arrays.note,
                           source=f"{arrays.source}, {GRID}x{GRID} mosaics of {items} training items per class")


class DigitsMosaicDataModule(_Mosaic, DigitsDataModule):
    pass


class FashionMnistMosaicDataModule(_Mosaic, FashionMnistDataModule):
    pass


class SyntheticMultiLabelDataModule(MultiLabelProtocol, PointDataModule):
    """scikit-learn's make_multilabel_classification, standardised features as [N, d, 1, 1] points."""

    def __init__(self, *, num_classes: int = 8, num_features: int = 20, labels_per_example: int = 2,
                 train_size: int = 600, test_size: int = 300, data_seed: int = 0, **common):
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"data.num_classes={num_classes!r} is out of range: it must be an integer >= 2.")
        self.num_classes, self.num_features = num_classes, int(num_features)
        self.labels_per_example, self.data_seed = int(labels_per_example), int(data_seed)
        self.train_size, self.test_size = int(train_size), int(test_size)
        self.declared_shape = (self.num_features, 1)
        super().__init__(**common)

    def load_arrays(self) -> ImageArrays:
        from sklearn.datasets import make_multilabel_classification

        x, y = make_multilabel_classification(
            n_samples=self.train_size + self.test_size, n_features=self.num_features, n_classes=self.num_classes,
            n_labels=self.labels_per_example, allow_unlabeled=False, random_state=self.data_seed)
        x = x.astype(np.float64)
        train_x, test_x = x[:self.train_size], x[self.train_size:]
        mean, std = train_x.mean(axis=0), train_x.std(axis=0)
        std = np.where(std > 0, std, 1.0)
        train_x, test_x = (train_x - mean) / std, (test_x - mean) / std
        return ImageArrays(train_x.astype(np.float32)[:, :, None, None], y[:self.train_size],
                           test_x.astype(np.float32)[:, :, None, None], y[self.train_size:],
                           class_names=[str(c) for c in range(self.num_classes)],
                           source=f"sklearn.datasets.make_multilabel_classification, seed {self.data_seed}")
