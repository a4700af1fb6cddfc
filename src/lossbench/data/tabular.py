"""scikit-learn's bundled tables: `iris` (150 x 4, 3 classes), `wine` (178 x 13, 3 classes) and
`breast_cancer` (569 x 30, a binary task). No download: the tables ship with scikit-learn.

iris and wine are the sets the LegendreTron authors read as LIBSVM files (iris.scale, wine.scale;
khflam/legendretron lib/data.py `load_libsvm`). Those files are svm-scale's output: each feature
mapped linearly onto [-1, 1] over the whole set (`scaling: minmax`), which is done here.
breast_cancer (Wisconsin diagnostic; the AnyLoss authors' breast_cancer.csv, doheonhan/anyloss) is
standardised (`scaling: standard`: each feature to mean 0 and standard deviation 1 over the training
split), and its positive class 1 is *malignant* (212 of 569, the minority and the class of
interest; scikit-learn's target codes it 0), as the AnyLoss code reads diagnosis M as 1.

The test split is random per seed, `train_test_split(test_size=test_fraction, random_state=seed)`, as
the LegendreTron authors split (`data_seed`, the config sets it to the run's `seed`); the long-tail
option (`data.imbalance_ratio`) then thins the training split's class 1 (binary) as for images."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lossbench.data.base import ImageArrays
from lossbench.data.points import PointDataModule

SCALINGS = ("minmax", "standard")


@dataclass(frozen=True)
class Table:
    features: int
    classes: int
    task: str


TABLES = {"iris": Table(4, 3, "multiclass"), "wine": Table(13, 3, "multiclass"),
          "breast_cancer": Table(30, 2, "binary")}


class TabularDataModule(PointDataModule):
    """One of TABLES, features scaled (SCALINGS), a seeded random test split."""

    def __init__(self, *, table: str = "iris", test_fraction: float = 0.2, data_seed: int = 0,
                 scaling: str = "minmax", **common):
        if table not in TABLES:
            raise ValueError(f"data.table={table!r} is not one of {', '.join(TABLES)}.")
        if scaling not in SCALINGS:
            raise ValueError(f"data.scaling={scaling!r} is not one of {', '.join(SCALINGS)}.")
        if not 0.0 < float(test_fraction) < 1.0:
            raise ValueError(f"data.test_fraction={test_fraction!r} is out of range: it must be in (0, 1).")
        self.table, self.test_fraction, self.data_seed = table, float(test_fraction), int(data_seed)
        self.scaling = scaling
        spec = TABLES[table]
        self.num_classes, self.task = spec.classes, spec.task
        self.declared_shape = (spec.features, 1)  # the model is checked before the table is read
        super().__init__(**common)

    def load_arrays(self) -> ImageArrays:
        from sklearn import datasets
        from sklearn.model_selection import train_test_split

        bunch = getattr(datasets, f"load_{self.table}")()
        x = np.asarray(bunch.data, dtype=np.float64)
        y = np.asarray(bunch.target, dtype=np.int64)
        names = [str(n) for n in bunch.target_names]
        if self.table == "breast_cancer":  # malignant (0 in scikit-learn) is the positive class 1
            y, names = 1 - y, names[::-1]
        if self.scaling == "minmax":  # svm-scale -l -1 -u 1, over the whole table as LIBSVM's files
            low, high = x.min(axis=0), x.max(axis=0)
            x = 2.0 * (x - low) / np.where(high > low, high - low, 1.0) - 1.0
        train_x, test_x, train_y, test_y = train_test_split(x, y, test_size=self.test_fraction,
                                                            random_state=self.data_seed)
        if self.scaling == "standard":  # the training split's moments, applied to both
            mean, std = train_x.mean(axis=0), train_x.std(axis=0)
            train_x, test_x = (train_x - mean) / np.where(std > 0, std, 1.0), (test_x - mean) / np.where(std > 0, std, 1.0)
        return ImageArrays(train_x.astype(np.float32)[:, :, None, None], train_y,
                           test_x.astype(np.float32)[:, :, None, None], test_y, class_names=names,
                           source=f"sklearn.datasets.load_{self.table}, {self.scaling} scaling, split with seed "
                                  f"{self.data_seed}")
