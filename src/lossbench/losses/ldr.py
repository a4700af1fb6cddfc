"""LDR-KL: the label-distributionally robust loss with a KL regulariser (Zhu, Ying & Yang, "Label
Distributionally Robust Losses for Multi-class Classification: Consistency, Robustness and
Adaptivity", ICML 2023; reference code Optimization-AI/ICML2023_LDR, loss.py `LDRLoss_V1`).

    l(z, y) = max_{q in simplex} sum_k q_k (c 1[k != y] + s_k - s_y) - lambda KL(q, uniform)
            = lambda log( (1/C) sum_k exp((c 1[k != y] + s_k - s_y) / lambda) )

with c the margin and lambda the KL weight (lambda -> inf: the mean margin loss; lambda -> 0 the
Crammer-Singer hinge). The scores s are, as in the reference code, the logits passed through softplus
and divided by their mean over classes, s = softplus(z) / mean_k softplus(z_k) (`normalize=True`);
`normalize=False` uses s = z, the paper's formula on raw logits (then margin = 0, lambda = 1 is
CE - log C).

Defaults: lambda_ = 1.0; margin = 0.1, the default `--margin` of the reference experiment script
(the `LDRLoss_V1` class itself defaults to threshold = 2.0). The published experiment script runs
lambda = 10 only: its other values (0.1, 1) are commented out, so lambda_ = 1.0 here is not a
setting the authors' script ran; pass loss.lambda_=10 for theirs.
The mean of the softplus is floored at the smallest normal float, so all-very-negative logits give
finite scores. Computed as a cross-entropy: lambda (CE((s - c e_y) / lambda, y) - log C), CE being
invariant to adding c / lambda to every class.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from lossbench.losses._terms import softplus
from lossbench.losses.base import ClassificationLoss, check_range
from lossbench.losses.registry import register_loss


@register_loss("ldr_kl")
class LDRKLLoss(ClassificationLoss):
    """lambda log mean_k exp((c 1[k != y] + s_k - s_y) / lambda)."""

    def __init__(self, *, lambda_: float = 1.0, margin: float = 0.1, normalize: bool = True, **common):
        super().__init__(**common)
        self.lambda_ = check_range("lambda_", lambda_, 0.0, low_open=True)
        self.margin = check_range("margin", margin, 0.0)
        self.normalize = bool(normalize)

    def _margin_logits(self, logits: Tensor, targets: Tensor) -> Tensor:
        """Logits whose CE is lambda log mean_k exp(d_k / lambda) / lambda + log C. The loss's
        (s + c (1 - e_y)) / lambda, less the constant c / lambda on every class, which CE ignores:
        (s - c e_y) / lambda, one scaled copy and a scatter on the target column."""
        if self.normalize:
            scores = softplus(logits)  # F.softplus's result, ~3x faster on a CPU (see _terms.py)
            mean = scores.mean(dim=1, keepdim=True).clamp_min(torch.finfo(scores.dtype).tiny)
            u = scores * (mean * self.lambda_).reciprocal()  # one pass over N x C; the rest is per row
        else:
            u = logits * (1.0 / self.lambda_)
        if self.margin:
            u = u.scatter_add_(1, targets[:, None], u.new_full((len(targets), 1), -self.margin / self.lambda_))
        return u

    def per_sample(self, logits: Tensor, targets: Tensor) -> Tensor:
        nll = F.cross_entropy(self._margin_logits(logits, targets), targets, reduction="none")
        return (nll - math.log(self.num_classes)) * self.lambda_
