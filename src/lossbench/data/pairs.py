"""Binary tasks made of two classes of a multi-class image dataset: `cifar10_pair` (default cat vs
dog) and `fashion_mnist_pair` (default shirt vs T-shirt/top). `data.classes=[a, b]` picks them: a
becomes the negative class 0 and b the positive class 1, in train and test. `data.imbalance_ratio`
rho then keeps int(n / rho) training images of the positive class (the long-tail protocol with two
classes), so the positive class is the minority, as in the imbalanced binary benchmarks (AnyLoss's)."""
from __future__ import annotations

import numpy as np

from lossbench.data.base import ImageArrays
from lossbench.data.cifar import Cifar10DataModule
from lossbench.data.mnist import FashionMnistDataModule


class _Pair:
    """Mixin over a multi-class data module: its arrays, reduced to two classes relabelled 0 and 1."""

    task = "binary"
    asymmetric_noise = None  # the datasets' asymmetric maps are of all their classes
    default_classes: tuple[int, int] = (0, 1)

    def __init__(self, *, classes=None, **common):
        pair = list(self.default_classes if classes is None else classes)
        total = type(self).num_classes  # the source dataset's classes
        if len(pair) != 2 or len(set(pair)) != 2 or not all(isinstance(c, int) and 0 <= c < total for c in pair):
            raise ValueError(f"data.classes={classes!r}: give two different class indices in 0..{total - 1}, "
                             f"[negative, positive].")
        self.classes = pair
        self.num_classes = 2
        super().__init__(**common)

    def load_arrays(self) -> ImageArrays:
        arrays = super().load_arrays()
        negative, positive = self.classes

        def select(x, y):
            y = np.asarray(y, dtype=np.int64)
            keep = np.flatnonzero((y == negative) | (y == positive))
            return x[keep], (y[keep] == positive).astype(np.int64)

        train_x, train_y = select(arrays.train_images, arrays.train_labels)
        test_x, test_y = select(arrays.test_images, arrays.test_labels)
        names = arrays.class_names or [str(c) for c in range(type(self).num_classes)]
        return ImageArrays(train_x, train_y, test_x, test_y, class_names=[names[negative], names[positive]],
                           note=arrays.note, source=f"{arrays.source}, classes {negative} (0) and {positive} (1)")


class Cifar10PairDataModule(_Pair, Cifar10DataModule):
    default_classes = (3, 5)  # cat (0), dog (1)


class FashionMnistPairDataModule(_Pair, FashionMnistDataModule):
    default_classes = (6, 0)  # shirt (0), T-shirt/top (1)
