"""The scikit-learn tables as LIBSVM's scaled copies (data/tabular.py): iris and wine."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn import datasets
from sklearn.model_selection import train_test_split

from lossbench.data import TabularDataModule


@pytest.mark.parametrize("table,n,d", [("iris", 150, 4), ("wine", 178, 13)])
def test_features_are_scaled_onto_minus_one_one_and_split_80_20_per_seed(table, n, d):
    module = TabularDataModule(name=table, table=table, data_seed=3, val_fraction=0.0)
    module.setup()
    x = np.concatenate([module.train_x.numpy(), module.test_x.numpy()]).reshape(n, d)
    assert module.train_x.shape[1:] == (d, 1, 1) and len(module.test_y) == int(np.ceil(0.2 * n))
    np.testing.assert_allclose(x.min(axis=0), -1.0, atol=1e-6)
    np.testing.assert_allclose(x.max(axis=0), 1.0, atol=1e-6)
    # svm-scale's linear map, then the authors' train_test_split(test_size=0.2, random_state=seed)
    raw = getattr(datasets, f"load_{table}")()
    scaled = 2 * (raw.data - raw.data.min(0)) / (raw.data.max(0) - raw.data.min(0)) - 1
    _, test_x, _, test_y = train_test_split(scaled, raw.target, test_size=0.2, random_state=3)
    np.testing.assert_allclose(module.test_x.numpy().reshape(-1, d), test_x, rtol=0, atol=1e-6)
    assert module.test_y.tolist() == test_y.tolist()


def test_each_seed_is_another_split_and_the_same_seed_the_same_one():
    def test_labels(seed):
        module = TabularDataModule(name="iris", table="iris", data_seed=seed, val_fraction=0.0)
        module.setup()
        return module.test_x.numpy()

    assert np.array_equal(test_labels(0), test_labels(0)) and not np.array_equal(test_labels(0), test_labels(1))


def test_bad_table_and_augmentation_are_refused():
    with pytest.raises(ValueError, match="data.table='glass' is not one of iris, wine"):
        TabularDataModule(name="x", table="glass")
    with pytest.raises(ValueError, match="points have no pixels"):
        TabularDataModule(name="iris", table="iris", augment="crop_flip")
