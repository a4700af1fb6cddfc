"""Taylor cross-entropy (Feng, Shu, Lin, Lv, Li & An, "Can Cross Entropy Loss Be Robust to Label
Noise?", IJCAI 2020).

    taylor_ce:  l = sum_{k=1..t} (1 - p_y)^k / k

the order-t Taylor expansion of -log p_y around p_y = 1. t = 1 is MAE (1 - p_y); t -> infinity is
CE. Default t = 2 (the issue's; the paper tunes t per data set). No code by the authors was found,
so this is the paper's formula.

NOT the "Taylor-softmax" of some repositories (e.g. CoinCheung/pytorch-loss taylor_softmax.py, and
Kaggle's "TaylorCE"), which replaces exp in the softmax by its even-order Taylor polynomial,
p_k ∝ sum_{n<=t} z_k^n / n!, and takes CE of that: a different loss, of the logits rather than of
p_y.

1 - p_y is computed as -expm1(log p_y) (accurate at p_y -> 1); the gradient is autograd's,
dl/d(-log p_y) = 1 - (1 - p_y)^t.
"""
from __future__ import annotations

from torch import Tensor

from lossbench.losses._terms import p_minus_one, target_nll
from lossbench.losses.base import ClassificationLoss, check_range
from lossbench.losses.registry import register_loss


@register_loss("taylor_ce")
class TaylorCrossEntropyLoss(ClassificationLoss):
    """sum_{k=1..t} (1 - p_y)^k / k."""

    def __init__(self, *, t: int = 2, **common):
        super().__init__(**common)
        check_range("t", t, 1.0)
        if int(t) != t:
            raise ValueError(f"t={t!r} is not an integer: the Taylor order must be an integer >= 1.")
        self.t = int(t)

    def per_sample(self, logits: Tensor, targets: Tensor) -> Tensor:
        rest = p_minus_one(target_nll(logits, targets)).neg()  # 1 - p_y
        loss, power = rest, rest
        for k in range(2, self.t + 1):
            power = power * rest
            loss = loss + power / k
        return loss
