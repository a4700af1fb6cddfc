"""data.val_source: the held-out validation set comes from the official training images the long
tail left unused, leaves the training set exactly as the paper's, and keeps clean labels; split and
none behave as documented; contradictory settings are refused before any data loads."""
from __future__ import annotations

import numpy as np
import pytest

from lossbench.data import Cifar10DataModule, DigitsDataModule
from lossbench.data.files import ChecksumWarning

# int(5000 * (1/100)^(i/9)), the LDAM-DRW counts of CIFAR-10-LT at rho = 100.
CIFAR10_LT_100 = [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]


@pytest.fixture(scope="module")
def arrays(cifar10_root):
    dm = Cifar10DataModule(name="t", root=str(cifar10_root), download=False)
    with pytest.warns(ChecksumWarning):  # fake files never carry the official checksums
        return dm.load_arrays()


def _module(root, arrays, **kw):
    dm = Cifar10DataModule(name="t", root=str(root), download=False, imbalance_ratio=100, **kw)
    dm.load_arrays = lambda: arrays
    dm.setup("fit")
    return dm


def test_heldout_keeps_the_papers_training_set_and_draws_unused_images(cifar10_root, arrays, fakes):
    paper = _module(cifar10_root, arrays, val_fraction=0.0, val_source="none")
    held = _module(cifar10_root, arrays, val_fraction=0.0, val_source="heldout", val_per_class=50)
    train_pos = fakes.decode_positions(held.train_x.numpy())
    assert np.array_equal(train_pos, fakes.decode_positions(paper.train_x.numpy()))
    assert held.class_counts == CIFAR10_LT_100
    val_pos = fakes.decode_positions(held.val_x.numpy())
    assert not set(val_pos.tolist()) & set(train_pos.tolist())  # never a training image
    # The head class keeps all 5,000 of its images, so it has none to hold out; every other class
    # has more than 50 unused ones.
    assert held.val_y.bincount(minlength=10).tolist() == [0] + [50] * 9
    assert held.dataset_facts()["val_class_counts"] == [0] + [50] * 9
    assert held.dataset_facts()["val_source"] == "heldout" and held.dataset_facts()["val_per_class"] == 50
    assert held.has_validation and not paper.has_validation and paper.val_x is None


def test_heldout_labels_are_clean_while_training_labels_are_noisy(cifar10_root, arrays, fakes):
    noise = {"type": "symmetric", "rate": 0.4, "seed": 0}
    dm = _module(cifar10_root, arrays, val_fraction=0.0, val_source="heldout", label_noise=noise)
    file_labels = fakes.shuffled_labels(10, 5000, seed=1)
    val_pos = fakes.decode_positions(dm.val_x.numpy())
    assert np.array_equal(dm.val_y.numpy(), file_labels[val_pos])
    train_pos = fakes.decode_positions(dm.train_x.numpy())
    assert (dm.train_y.numpy() != file_labels[train_pos]).mean() > 0.3  # the noise did reach training


def test_split_seed_chooses_the_heldout_images(cifar10_root, arrays, fakes):
    def positions(seed):
        dm = _module(cifar10_root, arrays, val_fraction=0.0, val_source="heldout", split_seed=seed)
        return fakes.decode_positions(dm.val_x.numpy()).tolist()

    assert positions(0) == positions(0) and positions(0) != positions(1)


def test_split_labels_carry_the_noise(cifar10_root, arrays, fakes):
    noise = {"type": "symmetric", "rate": 0.4, "seed": 0}
    dm = _module(cifar10_root, arrays, val_fraction=0.1, val_source="split", label_noise=noise)
    file_labels = fakes.shuffled_labels(10, 5000, seed=1)
    val_pos = fakes.decode_positions(dm.val_x.numpy())
    assert (dm.val_y.numpy() != file_labels[val_pos]).mean() > 0.3
    assert dm.dataset_facts()["val_source"] == "split" and dm.dataset_facts()["val_per_class"] is None


def test_a_clean_run_records_no_noise_rate(cifar10_root, arrays):
    dm = _module(cifar10_root, arrays, val_fraction=0.0, val_source="none")
    assert dm.result_fields()["label_noise"] == {"type": "none"}


@pytest.mark.parametrize("kw,words", [
    ({"imbalance_ratio": 1, "val_source": "heldout", "val_fraction": 0.0}, ["no long tail", "val_source=split"]),
    ({"imbalance_ratio": 10, "val_source": "heldout", "val_fraction": 0.1}, ["data.val_fraction=0"]),
    ({"imbalance_ratio": 10, "val_source": "none", "val_fraction": 0.1}, ["data.val_fraction=0"]),
    ({"imbalance_ratio": 10, "val_source": "heldout", "val_fraction": 0.0, "val_per_class": 0}, ["data.val_per_class"]),
    ({"imbalance_ratio": 10, "val_source": "held_out"}, ["data.val_source", "split, heldout, none"]),
])
def test_contradictory_validation_settings_are_refused_before_loading(kw, words):
    with pytest.raises(ValueError) as err:
        DigitsDataModule(name="digits_lt", **kw)
    assert all(w in str(err.value) for w in words), str(err.value)
