"""Label-aware smoothing (Zhong et al., "Improving Calibration for Long-Tailed Recognition" (MiSLAS),
CVPR 2021): label smoothing whose factor depends on the target class's training count.

    l(z, y) = (1 - eps_y) (-log p_y) + eps_y mean_k (-log p_k)      (PyTorch's label-smoothing convention)
    eps_j = eps_tail + (eps_head - eps_tail) f(r_j),   r_j = (n_j - n_min) / (n_max - n_min) in [0, 1]
    f(r) = sin(pi r / 2)  (concave),  r  (linear),  1 + sin(3 pi / 2 + pi r / 2)  (convex)

so the most frequent class gets eps_head and the rarest eps_tail (paper Eq. 3). Defaults:
eps_head = 0.3, eps_tail = 0.0, profile = concave: the reference's CIFAR-10-LT (rho = 100)
stage-2 config (dvlab-research/MiSLAS, config/cifar10/cifar10_imb001_stage2_mislas.yaml:
smooth_head 0.3, smooth_tail 0.0) and its `LabelAwareSmoothing` default shape. The reference also has
an 'exp' shape with a power, not offered here.

Deviation: when every class has the same count, r is 0/0 (the reference's factors are NaN);
lossbench then gives every class eps_head (plain label smoothing). In MiSLAS the loss is used in the
second stage (classifier re-training after mixup pre-training); lossbench offers the loss alone.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from lossbench.losses.base import ClassificationLoss, check_choice, check_range
from lossbench.losses.registry import register_loss

PROFILES = ("concave", "linear", "convex")


def smoothing_factors(class_counts: Tensor, eps_head: float, eps_tail: float, profile: str) -> Tensor:
    """eps_j of every class (float64), from its count's position between the rarest and commonest."""
    low, high = class_counts.min(), class_counts.max()
    if high == low:
        return torch.full_like(class_counts, eps_head)
    r = (class_counts - low) / (high - low)
    if profile == "concave":
        shape = torch.sin(r * (math.pi / 2))
    elif profile == "linear":
        shape = r
    else:  # convex; written as the reference: eps_head + (eps_head - eps_tail) sin(3 pi/2 + pi r/2)
        return eps_head + (eps_head - eps_tail) * torch.sin(1.5 * math.pi + r * (math.pi / 2))
    return eps_tail + (eps_head - eps_tail) * shape


@register_loss("label_aware_smoothing")
class LabelAwareSmoothingLoss(ClassificationLoss):
    """(1 - eps_y) CE + eps_y mean_k(-log p_k), eps_y from the target class's count."""

    needs_class_counts = True

    def __init__(self, *, eps_head: float = 0.3, eps_tail: float = 0.0, profile: str = "concave", **common):
        super().__init__(**common)
        self.eps_head = check_range("eps_head", eps_head, 0.0, 1.0)
        self.eps_tail = check_range("eps_tail", eps_tail, 0.0, 1.0)
        self.profile = check_choice("profile", profile, PROFILES)
        self.register_buffer("smoothing", smoothing_factors(self.class_counts, self.eps_head, self.eps_tail, profile),
                             persistent=False)

    def per_sample(self, logits: Tensor, targets: Tensor) -> Tensor:
        log_p = torch.log_softmax(logits, dim=1)
        eps = self.smoothing.to(logits.dtype)[targets]
        nll = -log_p.gather(1, targets[:, None]).squeeze(1)
        return (1.0 - eps) * nll - eps * log_p.mean(dim=1)
