"""LADE: label distribution disentangling loss (Hong et al., "Disentangling Label Distribution for
Long-tailed Visual Recognition", CVPR 2021), the paper's training objective L_LADE-CE + alpha L_LADE.

    l = mean_i CE(z_i + log(pi + 1e-9), y_i)                       (LADE-CE, the reference PriorCELoss)
        - alpha sum_c pi_c [ T_c - S_c - lambda S_c^2 ]             (LADE, the reference LADELoss)
    T_c = sum_{i: y_i = c} z_ic / (n_c + 1e-8)                      (n_c: samples of class c in the batch)
    S_c = log( (1/N) sum_i exp(z_ic - log(pi_c + 1e-9) + log(1/C + 1e-9)) )   (over the whole batch)

pi_c = n_c / sum n are the training-set class frequencies. T_c - S_c is the Donsker-Varadhan lower
bound of the paper's Eq. 10 on the batch, -lambda S_c^2 its ReMINE regulariser. The LADE term is a
function of the whole batch, not a mean of per-sample losses: it is lossbench's `batch_term`.

Defaults: alpha = 0.1, lambda_ = 0.01, the reference repository's CIFAR-100-LT command
(hyperconnect/LADE, README.md: `--remine_lambda 0.01 --alpha 0.1`; alpha is the weight of the LADE
criterion, the LADE-CE term has weight 1). Its config files hold remine_lambda 0.1, which that
command overrides; ImageNet-LT and Places-LT use other values (README.md).

As in the reference code: the 1e-9 inside the logs and the 1e-8 in T_c's denominator are kept, a class
absent from the batch has T_c = 0 (its S_c still counts), and the per-class weights of the LADE term
are pi_c. Everything is log-space (log-softmax CE, logsumexp for S_c). The shared `reweight` option,
if set, weights the LADE-CE term only.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from lossbench.losses.base import ClassificationLoss, check_range
from lossbench.losses.registry import register_loss


@register_loss("lade")
class LADELoss(ClassificationLoss):
    """CE(z + log pi) - alpha sum_c pi_c (T_c - S_c - lambda S_c^2)."""

    needs_class_counts = True
    is_cross_entropy = True

    def __init__(self, *, alpha: float = 0.1, lambda_: float = 0.01, **common):
        super().__init__(**common)
        self.alpha = check_range("alpha", alpha, 0.0)
        self.lambda_ = check_range("lambda_", lambda_, 0.0)
        prior = self.class_counts / self.class_counts.sum()
        self.register_buffer("prior", prior, persistent=False)
        self.register_buffer("log_prior_code", torch.log(prior + 1e-9), persistent=False)
        # S_c's shift: -log(pi_c + 1e-9) + log(1/C + 1e-9), the reference's pred_spread.
        self.register_buffer("balance_shift", math.log(1.0 / self.num_classes + 1e-9) - self.log_prior_code,
                             persistent=False)

    def transform_logits(self, logits: Tensor, targets: Tensor) -> Tensor:
        return logits + self.log_prior_code.to(logits.dtype)

    def batch_term(self, logits: Tensor, targets: Tensor) -> Tensor | None:
        if self.alpha == 0:
            return None
        in_class = F.one_hot(targets, self.num_classes).to(logits.dtype)    # [N, C]
        first = (logits * in_class).sum(dim=0) / (in_class.sum(dim=0) + 1e-8)
        second = torch.logsumexp(logits + self.balance_shift.to(logits.dtype), dim=0) - math.log(len(targets))
        bound = first - second - self.lambda_ * second.square()
        return -self.alpha * (self.prior.to(logits.dtype) * bound).sum()
