"""The power family of p_y: generalized cross-entropy and the comp-sum losses.

    gce:       l(z, y) = (1 - p_y^q) / q
        Zhang & Sabuncu, "Generalized Cross Entropy Loss for Training Deep Neural Networks with Noisy
        Labels", NeurIPS 2018. Default q = 0.7 (the paper's); q in (0, 1]: q -> 0 is CE, q = 1 is MAE.
    comp_sum:  l(z, y) = (1 - p_y^(tau - 1)) / (tau - 1),   tau = 1: -log p_y (CE)
        Mao, Mohri & Zhong, "Cross-Entropy Loss Functions: Theoretical Analysis and Applications",
        ICML 2023: the comp-sum losses Phi^tau(sum_{j != y} exp(z_j - z_y)), with 1/(1 + sum) = p_y.
        tau = 0: sum exponential loss (1/p_y - 1); tau = 1: CE; tau = 1 + q: GCE(q); tau = 2: MAE
        (1 - p_y). Default tau = 1.0 (CE, the paper's reference point); tau >= 0.

Both are computed as -expm1(a log p_y) / a from -log p_y, exact for every a (no clamp). The GCE code
of HanxunH/Active-Passive-Losses clamps p_y at 1e-7 before the power; that only changes samples with
p_y < 1e-7, whose gradient (p_y^q d log p_y) there is at most (1e-7)^q: below 1e-4.9 at the default
q = 0.7, but about 1e-2.1 (~8e-3) at q = 0.3, so at small q the clamp does change what such samples
contribute (the clamp makes their gradient 0). With tau < 1 the loss is
unbounded (p_y^(tau-1) -> inf as p_y -> 0) and overflows to inf for hopeless samples.
"""
from __future__ import annotations

from torch import Tensor

from lossbench.losses._terms import power_loss, target_nll
from lossbench.losses.base import ClassificationLoss, check_range
from lossbench.losses.registry import register_loss


@register_loss("gce")
class GeneralizedCrossEntropyLoss(ClassificationLoss):
    """(1 - p_y^q) / q."""

    def __init__(self, *, q: float = 0.7, **common):
        super().__init__(**common)
        self.q = check_range("q", q, 0.0, 1.0, low_open=True)

    def per_sample(self, logits: Tensor, targets: Tensor) -> Tensor:
        return power_loss(target_nll(logits, targets), self.q)


@register_loss("comp_sum")
class CompSumLoss(ClassificationLoss):
    """(1 - p_y^(tau - 1)) / (tau - 1); -log p_y at tau = 1."""

    def __init__(self, *, tau: float = 1.0, **common):
        super().__init__(**common)
        self.tau = check_range("tau", tau, 0.0)

    def per_sample(self, logits: Tensor, targets: Tensor) -> Tensor:
        return power_loss(target_nll(logits, targets), self.tau - 1.0)
