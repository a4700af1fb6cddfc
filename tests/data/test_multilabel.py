"""The multi-label datasets (data/multilabel.py): mosaics whose label is the set of classes of their
four items, drawn with the long-tail profile for training and balanced for test; the validation
split; scikit-learn's generator; and the single-label options refused with a message."""
from __future__ import annotations

import numpy as np
import pytest

from lossbench.data import DigitsMosaicDataModule, SyntheticMultiLabelDataModule
from lossbench.data.longtail import longtail_counts
from lossbench.data.multilabel import build_mosaics


def _digits(**options):
    options = {"name": "digits_mosaic", "items_per_class": 300, "test_items_per_class": 100, "imbalance_ratio": 50,
               "val_fraction": 0.15, "crop_padding": 1, **options}
    data = DigitsMosaicDataModule(**options)
    data.setup()
    return data


def test_a_mosaic_is_its_four_items_and_its_label_their_classes():
    # Items whose pixels all equal 10 * class: each cell of a mosaic says which class it holds.
    classes = np.repeat(np.arange(5), 8)
    images = (10 * classes).astype(np.uint8)[:, None, None, None] * np.ones((1, 1, 3, 3), dtype=np.uint8)
    mosaics, labels = build_mosaics(images, classes, [8, 6, 4, 2, 1], 5, np.random.RandomState(0))
    assert mosaics.shape == (5, 1, 6, 6) and labels.shape == (5, 5)  # 21 items: five mosaics, one left over
    for mosaic, label in zip(mosaics, labels):
        cells = {int(mosaic[0, r, c]) // 10 for r in (0, 3) for c in (0, 3)}
        quadrants = [mosaic[0, r:r + 3, c:c + 3] for r in (0, 3) for c in (0, 3)]
        assert all((q == q[0, 0]).all() for q in quadrants)  # each quadrant one whole item
        assert set(np.flatnonzero(label)) == cells


def test_digits_mosaic_has_a_long_tailed_training_set_and_a_balanced_test_set():
    data = _digits()
    assert data.train_x.shape[1:] == (1, 16, 16) and data.declared_shape == (1, 16)
    items = longtail_counts(300, 10, 50)
    total = len(data.train_y) + len(data.val_y)
    assert total == sum(items) // 4
    positives = (data.train_y.sum(0) + data.val_y.sum(0)).numpy()
    assert (positives <= np.array(items)).all() and positives[0] > 5 * positives[-1]  # at most one image per item
    assert data.class_counts == [int(n) for n in data.train_y.sum(0)]
    test = data.test_y.sum(0).numpy()
    assert len(data.test_y) == 250 and test.min() > 0.8 * test.max()  # 100 items of each class
    assert 1 <= data.train_y.sum(1).min() and data.train_y.sum(1).max() <= 4


def test_the_test_mosaics_do_not_depend_on_the_training_seed():
    first, second = _digits(lt_seed=0), _digits(lt_seed=1)
    assert np.array_equal(first.test_x.numpy(), second.test_x.numpy())
    assert not np.array_equal(first.train_x.numpy(), second.train_x.numpy())
    again = _digits(lt_seed=1)
    assert np.array_equal(again.train_x.numpy(), second.train_x.numpy())


def test_validation_is_a_seeded_random_fraction_with_its_positive_counts():
    data = _digits(val_fraction=0.2, split_seed=3)
    total = len(data.train_y) + len(data.val_y)
    assert len(data.val_y) == round(0.2 * total)
    assert data.dataset_facts()["val_class_counts"] == [int(n) for n in data.val_y.sum(0)]
    assert data.result_fields()["task"] == "multilabel"
    none = _digits(val_source="none", val_fraction=0.0)
    assert none.val_y is None and len(none.train_y) == total


def test_synthetic_multilabel_is_scikit_learns_generator_standardised():
    data = SyntheticMultiLabelDataModule(name="synthetic_multilabel", val_fraction=0.0)
    data.setup()
    x = data.train_x.flatten(1).numpy()
    assert data.train_x.shape == (600, 20, 1, 1) and data.test_y.shape == (300, 8)
    assert np.allclose(x.mean(0), 0, atol=1e-5) and np.allclose(x.std(0), 1, atol=1e-4)
    assert data.train_y.sum(1).min() >= 1  # allow_unlabeled=False


@pytest.mark.parametrize("options,words", [
    ({"label_noise": {"type": "symmetric", "rate": 0.2}}, "label noise is a single-label protocol"),
    ({"sampler": "class_balanced"}, "data.sampler=random"),
    ({"val_source": "heldout", "val_fraction": 0.0}, "data.val_source=split"),
    ({"items_per_class": 0}, "data.items_per_class=0 is out of range"),
])
def test_single_label_options_are_refused_with_what_to_do(options, words):
    with pytest.raises(ValueError, match=words):
        DigitsMosaicDataModule(name="digits_mosaic", **options)
