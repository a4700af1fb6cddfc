"""Rescaled square loss on the logits (Hui & Belkin, "Evaluation of Neural Architectures Trained with
Square Loss vs Cross-Entropy in Classification Tasks", ICLR 2021, section 3).

    l(z, y) = 1/C * ( k (z_y - M)^2 + sum_{j != y} z_j^2 )

On the raw logits (no softmax), as in the paper. k = M = 1 is the plain mean square error to the
one-hot target (PyTorch's MSELoss with its mean over the C entries); the paper rescales for many
classes: k weights the target entry, M is the target value.

Defaults (k = None, M = None: chosen from the number of classes C, following the paper's table of
settings): C < 42: k = 1, M = 1 (the paper's MNIST, CIFAR-10 and NLP tasks: no rescaling);
42 <= C < 1000: k = 1, M = 15 (its TIMIT and WSJ settings, 42 and 52 classes); C >= 1000: k = 15,
M = 30 (its ImageNet and Librispeech settings, 1000 classes). The paper has no task between 52 and
1000 classes, so e.g. CIFAR-100 falling in the middle band is lossbench's reading. Pass k and M to
override. Reference code: Like-Hui/Squentropy_vision, svhn.py (commit 06528a2), its `MSE` branch:
mean((z - M e_y)^2 * (1 + w e_y)) over the N x C entries, with M = --rescale_factor and k = 1 + w
(--weighted); it agrees with this loss for every (k, M) the tests try (tests/losses/test_formulas.py).
NOTE: the (k, M) values and class counts above were written from the paper's hyper-parameter table
as remembered; the paper's text was not available to re-check them when this was committed: verify
against the PDF before citing.
"""
from __future__ import annotations

from torch import Tensor

from lossbench.losses._terms import OffTargetSquares
from lossbench.losses.base import ClassificationLoss, check_range
from lossbench.losses.registry import register_loss


def paper_k_and_m(num_classes: int) -> tuple[float, float]:
    """(k, M) of Hui & Belkin's settings for this number of classes (see the module docstring)."""
    if num_classes < 42:
        return 1.0, 1.0
    if num_classes < 1000:
        return 1.0, 15.0
    return 15.0, 30.0


@register_loss("square")
class SquareLoss(ClassificationLoss):
    """1/C (k (z_y - M)^2 + sum_{j != y} z_j^2)."""

    def __init__(self, *, k: float | None = None, M: float | None = None, **common):  # noqa: N803 (the paper's name)
        super().__init__(**common)
        default_k, default_m = paper_k_and_m(self.num_classes)
        self.k = default_k if k is None else check_range("k", k, 0.0, low_open=True)
        self.M = default_m if M is None else check_range("M", M, 0.0, low_open=True)

    def per_sample(self, logits: Tensor, targets: Tensor) -> Tensor:
        z_y = logits.gather(1, targets[:, None]).squeeze(1)
        squares = OffTargetSquares.apply(logits, targets[:, None])
        return (self.k * (z_y - self.M).square() + squares) * (1.0 / self.num_classes)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, k={self.k:g}, M={self.M:g}"
