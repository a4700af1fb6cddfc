"""gaussian2d: the distribution it draws (means, covariance, priors), its Bayes balanced error against
a Monte-Carlo estimate of the prior-free Bayes rule, the seeding, the float batches and bad input."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal, norm

from lossbench.data import Gaussian2dDataModule

PAPER = {"means": ((-1.0, -1.0), (1.0, 1.0)), "covariance": ((1.0, 0.0), (0.0, 1.0)), "priors": (0.95, 0.05)}
SKEWED = {"means": ((0.5, -1.0), (-0.25, 1.5)), "covariance": ((2.0, 0.6), (0.6, 0.5)), "priors": (0.7, 0.3)}


def _module(**kwargs):
    return Gaussian2dDataModule(name="gaussian2d", val_fraction=0.0, mean=(0.0,), std=(1.0,), **kwargs)


@pytest.mark.parametrize("params", [PAPER, SKEWED], ids=["paper", "skewed"])
def test_a_large_sample_has_the_configured_priors_means_and_covariance(params):
    x, y = _module(**params).sample(400_000, np.random.RandomState(0))
    n1 = (y == 1).mean()
    assert abs(n1 - params["priors"][1]) < 4 * math.sqrt(params["priors"][1] * params["priors"][0] / len(y))
    for cls in (0, 1):
        xc = x[y == cls]
        se = np.sqrt(np.diag(params["covariance"]) / len(xc))
        assert np.all(np.abs(xc.mean(axis=0) - params["means"][cls]) < 5 * se)
        np.testing.assert_allclose(np.cov(xc.T), params["covariance"], atol=0.03)


def test_the_papers_bayes_balanced_error_is_phi_of_minus_root_two():
    assert _module(**PAPER).bayes_balanced_error() == pytest.approx(norm.cdf(-math.sqrt(2.0)), rel=1e-12)
    assert _module(**PAPER).bayes_balanced_error() == pytest.approx(0.0786496, abs=1e-7)


@pytest.mark.parametrize("params", [PAPER, SKEWED], ids=["paper", "skewed"])
def test_bayes_balanced_error_matches_a_monte_carlo_estimate_of_the_prior_free_bayes_rule(params):
    # The rule argmax_y p(x | y) (scipy's densities), applied to 200,000 draws of each class: its mean
    # per-class error estimates the Bayes balanced error to ~6e-4 (one standard error).
    rng = np.random.RandomState(1)
    densities = [multivariate_normal(params["means"][c], params["covariance"]) for c in (0, 1)]
    errors = []
    for cls in (0, 1):
        x = densities[cls].rvs(200_000, random_state=rng)
        predicted = (densities[1].logpdf(x) > densities[0].logpdf(x)).astype(int)
        errors.append(np.mean(predicted != cls))
    assert _module(**params).bayes_balanced_error() == pytest.approx(np.mean(errors), abs=2.5e-3)


def test_setup_draws_the_papers_sample_sizes_as_float_points_seeded_by_data_seed():
    dm = _module(data_seed=3)
    dm.setup()
    assert dm.train_x.shape == (10_000, 2, 1, 1) and dm.test_x.shape == (10_000, 2, 1, 1)
    assert dm.train_x.dtype == torch.float32 and (dm.in_channels, dm.image_size) == (2, 1)
    assert sum(dm.class_counts) == 10_000 and 400 < dm.class_counts[1] < 600  # 5% of 10,000, +- 4.6 sd
    again, other = _module(data_seed=3), _module(data_seed=4)
    again.setup()
    other.setup()
    assert torch.equal(dm.train_x, again.train_x) and torch.equal(dm.test_y, again.test_y)
    assert not torch.equal(dm.train_x, other.train_x)
    fields = dm.result_fields()
    assert fields["bayes_balanced_error"] == pytest.approx(0.0786496, abs=1e-7)
    assert fields["dataset"]["num_train"] == 10_000 and fields["dataset"]["num_val"] == 0


def test_batches_are_the_points_themselves_standardised_by_mean_and_std():
    dm = Gaussian2dDataModule(name="gaussian2d", val_fraction=0.0, mean=(1.0, -2.0), std=(2.0, 4.0), batch_size=300,
                              eval_batch_size=4000, num_train=1000, num_test=5000)
    dm.setup()
    dm.return_indices = True
    standardised = (dm.train_x.flatten(1) - torch.tensor([1.0, -2.0])) / torch.tensor([2.0, 4.0])
    seen = torch.zeros(1000, dtype=torch.int64)
    for x, y, idx in dm.train_dataloader():
        assert x.dtype == torch.float32 and x.shape[1:] == (2, 1, 1) and len(x) <= 300
        torch.testing.assert_close(x.flatten(1), standardised[idx])
        assert torch.equal(y, dm.train_y[idx])
        seen[idx] += 1
    assert torch.equal(seen, torch.ones(1000, dtype=torch.int64))  # every point once per epoch
    test_batches = list(dm.test_dataloader())
    assert [len(b[0]) for b in test_batches] == [4000, 1000]
    expected = (dm.test_x[:4000].flatten(1) - torch.tensor([1.0, -2.0])) / torch.tensor([2.0, 4.0])
    torch.testing.assert_close(test_batches[0][0].flatten(1), expected)


@pytest.mark.parametrize("kwargs, message", [
    ({"means": ((0.0, 0.0), (1.0, 1.0), (2.0, 2.0))}, "two class means"),
    ({"means": ((0.0, 0.0), (1.0,))}, "two class means"),
    ({"covariance": ((1.0, 2.0), (2.0, 1.0))}, "not positive definite"),
    ({"covariance": ((1.0, 0.5), (0.0, 1.0))}, "symmetric 2 x 2"),
    ({"covariance": ((1.0, 0.0), (0.0,))}, "symmetric 2 x 2"),
    ({"priors": (0.9, 0.2)}, "sum to 1"),
    ({"priors": (1.0, 0.0)}, "two positive class probabilities"),
    ({"num_train": 1}, "num_train=1 is out of range"),
    ({"augment": "crop"}, "points have no pixels"),
])
def test_bad_input_is_a_value_error_naming_the_option(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _module(**kwargs)


def test_the_config_composes_with_the_runs_seed_as_the_data_seed():
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    from lossbench.paths import CONF_DIR

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=["data=gaussian2d", "model=affine", "seed=7"])
    dm = instantiate(cfg.data)
    assert isinstance(dm, Gaussian2dDataModule) and dm.data_seed == 7 and dm.val_fraction == 0
    assert dm.priors.tolist() == [0.95, 0.05] and dm.means.tolist() == [[-1.0, -1.0], [1.0, 1.0]]
