"""Two Gaussian classes with a shared covariance: the synthetic experiment of Menon et al., "Long-tail
learning via logit adjustment", ICLR 2021, section 6.1.

The paper's setting (the defaults): labels y in {-1, +1} with P(y = +1) = 5%, x | y ~ N(y (1, 1), I).
lossbench's label 0 is the dominant y = -1 (mean (-1, -1), prior 0.95) and label 1 the rare y = +1
(mean (1, 1), prior 0.05), so that class 0 is the head as in every long-tailed dataset here. The
training and test samples (10,000 each, as in the paper) are drawn i.i.d. from that joint
distribution, so the test set is imbalanced too and the realised class counts vary with the seed.
`data_seed` (the config sets it to the run's `seed`) picks the sample: each seed is one of the
paper's independent trials.

The Bayes-optimal classifier for the balanced error predicts argmax_y p(x | y), the prior-free rule
(Menon et al., App. G); with a shared covariance S it is linear, and each class's error is
Phi(-D / 2), D^2 = (mu_1 - mu_0)^T S^-1 (mu_1 - mu_0), so the Bayes balanced error is Phi(-D / 2):
Phi(-sqrt(2)) = 7.865% for the paper's setting. It goes into results.json as `bayes_balanced_error`.

Points are stored as float32 [N, d, 1, 1] (d channels of 1 x 1 "images"), so the models that
flatten their input (`affine`, `mlp`) take them; the batches are (x - mean) / std in the points'
own units (the defaults 0 and 1 leave them as drawn), with no augmentation, on either loader setting.
"""
from __future__ import annotations

import math

import numpy as np

from lossbench.data.base import ImageArrays
from lossbench.data.points import PointDataModule


class Gaussian2dDataModule(PointDataModule):
    """Two Gaussian classes x | y ~ N(means[y], covariance), y ~ priors; see the module docstring."""

    num_classes = 2

    def __init__(self, *, means=((-1.0, -1.0), (1.0, 1.0)), covariance=((1.0, 0.0), (0.0, 1.0)),
                 priors=(0.95, 0.05), num_train: int = 10_000, num_test: int = 10_000, data_seed: int = 0,
                 **common):
        self.means, self.covariance = _matrix(means), _matrix(covariance)
        self.priors = np.asarray(list(priors), dtype=np.float64)
        if self.means.ndim != 2 or self.means.shape[0] != 2 or self.means.shape[1] < 1:
            raise ValueError(f"data.means={means!r}: give two class means of equal length d (two classes).")
        d = self.means.shape[1]
        if self.covariance.shape != (d, d) or not np.allclose(self.covariance, self.covariance.T):
            raise ValueError(f"data.covariance={covariance!r}: give one symmetric {d} x {d} matrix (shared by both "
                             f"classes).")
        try:
            self._cholesky = np.linalg.cholesky(self.covariance)
        except np.linalg.LinAlgError:
            raise ValueError(f"data.covariance={covariance!r} is not positive definite.") from None
        if self.priors.shape != (2,) or (self.priors <= 0).any() or not math.isclose(self.priors.sum(), 1.0):
            raise ValueError(f"data.priors={priors!r}: give two positive class probabilities that sum to 1.")
        for key, value in (("num_train", num_train), ("num_test", num_test)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 2:
                raise ValueError(f"data.{key}={value!r} is out of range: it must be an integer >= 2.")
        super().__init__(**common)
        self.num_train, self.num_test, self.data_seed = num_train, num_test, int(data_seed)
        self.declared_shape = (d, 1)  # the model is checked before the points are drawn

    # -- the distribution ---------------------------------------------------------------------
    def sample(self, n: int, rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
        """n i.i.d. draws (x [n, d] float64, y [n] int64): y ~ priors, then x = means[y] + L z, L L^T = cov."""
        labels = (rng.random_sample(n) < self.priors[1]).astype(np.int64)
        noise = rng.standard_normal((n, self.means.shape[1])) @ self._cholesky.T
        return self.means[labels] + noise, labels

    def bayes_balanced_error(self) -> float:
        """Phi(-D / 2), D the Mahalanobis distance between the class means: the balanced error of the
        rule argmax_y p(x | y), the best any classifier reaches."""
        gap = self.means[1] - self.means[0]
        distance = math.sqrt(float(gap @ np.linalg.solve(self.covariance, gap)))
        return 0.5 * math.erfc(distance / 2.0 / math.sqrt(2.0))  # Phi(-t) = erfc(t / sqrt 2) / 2

    def load_arrays(self) -> ImageArrays:
        rng = np.random.RandomState(self.data_seed)
        train_x, train_y = self.sample(self.num_train, rng)
        test_x, test_y = self.sample(self.num_test, rng)

        def as_images(x):
            return x.astype(np.float32)[:, :, None, None]

        return ImageArrays(as_images(train_x), train_y, as_images(test_x), test_y, class_names=["y=-1", "y=+1"],
                           source=f"gaussian2d(data_seed={self.data_seed})")

    def result_fields(self) -> dict:
        return {**super().result_fields(), "bayes_balanced_error": self.bayes_balanced_error()}


def _matrix(rows) -> np.ndarray:
    """A list of equal-length rows as a float64 matrix; ragged or non-numeric input as an empty array."""
    try:
        return np.asarray([list(row) for row in rows], dtype=np.float64)
    except (TypeError, ValueError):
        return np.zeros(0)
