"""Softmax equalization loss (Tan et al., "Equalization Loss for Long-Tailed Object Recognition",
CVPR 2020, the softmax form of its Sec. 3.3 / Table 7).

    l(z, y) = -log( exp(z_y) / sum_k w_k exp(z_k) ),   w_k = 1 - b_k T_lambda(pi_k) (1 - e_yk)
    T_lambda(pi_k) = 1[pi_k < lambda],  b_k ~ Bernoulli(gamma), drawn per sample and class

i.e. with probability gamma the logit of each rare class (frequency pi_k = n_k / sum n below lambda)
other than the target is dropped from the softmax denominator, so the tail classes are spared the
discouraging gradients of the head classes' samples. Computed as CE of the logits with the dropped
entries set to -inf (the target always stays, so the log-sum-exp is finite): exact, in log space.

Defaults: gamma = 0.9, lambda_ = 0.005, the CIFAR-100-LT values of the reference implementation
(zhangyongshun/BagofTricks-LT, lib/loss/loss_impl/equalization_loss.py `SEQL`, configs
cao_cifar/re_weighting/seql/cifar100_im100.yaml; the CIFAR-10 configs use lambda 0.05).

Deviations from the reference code: it computes p = exp(z) / sum w exp(z) and log(p) with no
max-shift (overflow for z > 88 in float32, log 0 when p underflows) and lacks the import of
`F` it calls (`F.nll_loss`); lossbench computes the same quantity stably. As there, b is drawn
from the global torch RNG (`torch.rand`, float32, on the logits' device) on every call, in training
and evaluation alike: the loss is random unless no class is rarer than lambda or gamma is 0 or 1.
"""
from __future__ import annotations

import torch
from torch import Tensor

from lossbench.losses.base import ClassificationLoss, check_range
from lossbench.losses.registry import register_loss


@register_loss("eql")
class EqualizationLoss(ClassificationLoss):
    """CE with each rare non-target class dropped from the softmax with probability gamma."""

    needs_class_counts = True
    is_cross_entropy = True

    def __init__(self, *, gamma: float = 0.9, lambda_: float = 0.005, **common):
        super().__init__(**common)
        self.gamma = check_range("gamma", gamma, 0.0, 1.0)
        self.lambda_ = check_range("lambda_", lambda_, 0.0, 1.0)
        frequency = self.class_counts / self.class_counts.sum()
        self.register_buffer("rare", frequency < self.lambda_, persistent=False)

    def transform_logits(self, logits: Tensor, targets: Tensor) -> Tensor:
        if not self.rare.any() or self.gamma == 0:
            return logits
        # Same draw as the reference: torch.rand of the logits' shape (float32), compared with gamma.
        dropped = (torch.rand(logits.shape, device=logits.device) < self.gamma) & self.rare
        dropped.scatter_(1, targets[:, None], False)  # w_y = 1: the target is never dropped
        return logits.masked_fill(dropped, float("-inf"))
