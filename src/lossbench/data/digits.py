"""scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes): real data that needs
no download, for the embedded default and CI. The bundle has no official test split, so a fixed
stratified 30% (seed 0, whatever the training seed) is the test set. `digits_lt` applies the
long-tailed protocol to the remaining ~125 images per class."""
from __future__ import annotations

import numpy as np

from lossbench.data.base import ImageArrays, ImageDataModule
from lossbench.data.splits import stratified_split

TEST_FRACTION = 0.3


class DigitsDataModule(ImageDataModule):
    num_classes = 10
    declared_shape = (1, 8)
    asymmetric_noise = "mnist"  # the same digit confusions as MNIST (noise.py)
    flip_allowed = False

    def load_arrays(self) -> ImageArrays:
        from sklearn.datasets import load_digits

        bunch = load_digits()
        # Pixel values are 0..16: rescale to the uint8 range every dataset uses.
        images = np.clip(np.rint(bunch.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)[:, None]
        labels = bunch.target.astype(np.int64)
        train, test = stratified_split(labels, TEST_FRACTION, seed=0)
        return ImageArrays(images[train], labels[train], images[test], labels[test],
                           class_names=[str(d) for d in range(10)], source="sklearn.datasets.load_digits")
