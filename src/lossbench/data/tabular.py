"""scikit-learn's bundled tables as LIBSVM's scaled copies: `iris` (150 x 4, 3 classes) and `wine`
(178 x 13, 3 classes), the sets the LegendreTron authors read as LIBSVM files (iris.scale,
wine.scale; khflam/legendretron lib/data.py `load_libsvm`). Those files are svm-scale's output:
each feature mapped linearly onto [-1, 1] over the whole set, which is done here. The authors
split each seed's 80% / 20% with `train_test_split(test_size=0.2, random_state=seed)`; so does
this module (`data_seed`, the config sets it to the run's `seed`): each seed is one random split.
No download: the tables ship with scikit-learn."""
from __future__ import annotations

import numpy as np

from lossbench.data.base import ImageArrays
from lossbench.data.points import PointDataModule

TABLES = {"iris": 4, "wine": 13}  # name -> features


class TabularDataModule(PointDataModule):
    """One of TABLES, features scaled to [-1, 1], a seeded random test split."""

    num_classes = 3

    def __init__(self, *, table: str = "iris", test_fraction: float = 0.2, data_seed: int = 0, **common):
        if table not in TABLES:
            raise ValueError(f"data.table={table!r} is not one of {', '.join(TABLES)}.")
        if not 0.0 < float(test_fraction) < 1.0:
            raise ValueError(f"data.test_fraction={test_fraction!r} is out of range: it must be in (0, 1).")
        self.table, self.test_fraction, self.data_seed = table, float(test_fraction), int(data_seed)
        self.declared_shape = (TABLES[table], 1)  # the model is checked before the table is read
        super().__init__(**common)

    def load_arrays(self) -> ImageArrays:
        from sklearn import datasets
        from sklearn.model_selection import train_test_split

        bunch = getattr(datasets, f"load_{self.table}")()
        x = np.asarray(bunch.data, dtype=np.float64)
        low, high = x.min(axis=0), x.max(axis=0)
        x = 2.0 * (x - low) / np.where(high > low, high - low, 1.0) - 1.0  # svm-scale -l -1 -u 1
        y = np.asarray(bunch.target, dtype=np.int64)
        train_x, test_x, train_y, test_y = train_test_split(x, y, test_size=self.test_fraction,
                                                            random_state=self.data_seed)
        return ImageArrays(train_x.astype(np.float32)[:, :, None, None], train_y,
                           test_x.astype(np.float32)[:, :, None, None], test_y,
                           class_names=[str(n) for n in bunch.target_names],
                           source=f"sklearn.datasets.load_{self.table} scaled to [-1, 1], split with seed {self.data_seed}")
