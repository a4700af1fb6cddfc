"""Seesaw loss (Wang et al., "Seesaw Loss for Long-Tailed Instance Segmentation", CVPR 2021).

    l(z, y) = -log( exp(z_y) / (exp(z_y) + sum_{j != y} S_yj exp(z_j)) ) = CE(z + (1 - e_y) log S_y, y)
    S_yj = M_yj C_yj
    M_yj = (N_j / N_y)^p if N_j < N_y else 1        (mitigation: N = cumulative training counts)
    C_yj = (sigma_j / sigma_y)^q if sigma_j > sigma_y else 1   (compensation: sigma = softmax(z), detached)

Defaults: p = 0.8, q = 2.0, eps = 1e-2 (sigma_y is floored at eps in C), the reference's
(open-mmlab/mmpretrain, mmpretrain/models/losses/seesaw_loss.py `SeesawLoss`, itself from
mmdetection; the paper's p and q).

State: N, the cumulative number of training samples of each class, starts at zero and is kept in the
persistent int64 buffer `cum_samples`, so it is saved in `state_dict` and checkpoints and restored on
resume. As in the reference, each call first adds the batch's labels to N, then computes the loss;
counts below 1 are taken as 1. lossbench adds the batch only in training mode (`loss_fn.train()`);
the reference updates on every forward call, evaluation included. The reference's buffer is float32
(exact only up to 2^24 samples per class); lossbench's is int64. Under DDP each process counts the
labels of its own shard, as the reference does. It needs no class_counts.

Computed in log space: log S_yj = p min(0, log N_j - log N_y) + q max(0, log sigma_j - log max(sigma_y,
eps)), with log sigma from log_softmax of the detached logits, then one F.cross_entropy. The
reference forms S from sigma = softmax(z) and the count ratios, then adds log S: the same values
(M lies in (0, 1] and C in [1, eps^-q], so neither form overflows).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from lossbench.losses.base import ClassificationLoss, check_range
from lossbench.losses.registry import register_loss


@register_loss("seesaw")
class SeesawLoss(ClassificationLoss):
    """CE(z + (1 - e_y) log(M_y C_y)) with cumulative-count mitigation and score compensation."""

    is_cross_entropy = True

    def __init__(self, *, p: float = 0.8, q: float = 2.0, eps: float = 1e-2, **common):
        super().__init__(**common)
        self.p = check_range("p", p, 0.0)
        self.q = check_range("q", q, 0.0)
        self.eps = check_range("eps", eps, 0.0, 1.0, low_open=True)
        self.register_buffer("cum_samples", torch.zeros(self.num_classes, dtype=torch.int64), persistent=True)

    def transform_logits(self, logits: Tensor, targets: Tensor) -> Tensor:
        if self.training:
            self.cum_samples += torch.bincount(targets, minlength=self.num_classes).to(self.cum_samples.device)
        index = targets[:, None]
        log_s = torch.zeros_like(logits)
        if self.p > 0:
            log_n = self.cum_samples.clamp(min=1).to(logits.dtype).log()
            log_s = log_s + self.p * (log_n[None, :] - log_n[targets][:, None]).clamp(max=0.0)
        if self.q > 0:
            log_sigma = F.log_softmax(logits.detach(), dim=1)
            log_self = log_sigma.gather(1, index).clamp(min=math.log(self.eps))
            log_s = log_s + self.q * (log_sigma - log_self).clamp(min=0.0)
        # The target's own entry stays z_y (M_yy = C_yy = 1 anyway, except for the eps floor).
        return logits + log_s.scatter(1, index, 0.0)
