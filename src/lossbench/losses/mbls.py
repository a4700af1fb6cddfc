"""Margin-based label smoothing, MbLS (Liu, Ben Ayed, Galdran & Dolz, "The Devil is in the Margin:
Margin-based Label Smoothing for Network Calibration", CVPR 2022; reference code by-liu/MbLS,
calibrate/losses/logit_margin_l1.py, class `LogitMarginL1`).

    l(z, y) = -log p_y + alpha * 1/C sum_k max(0, max_j z_j - z_k - margin)

A linear penalty on the logit distances to the largest logit beyond the margin. Defaults:
margin = 10, alpha = 0.1 (the reference class's defaults). As in the
code, the gradient flows through max_j z_j too, and the penalty is a mean over the N x C entries
(here: over classes per sample, then the batch mean, the same number). The code's optional alpha
schedules ("add", "multiply", "step"; unused for the paper's results) are not implemented.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from lossbench.losses._terms import target_nll
from lossbench.losses.base import ClassificationLoss, check_range
from lossbench.losses.registry import register_loss


@register_loss("mbls")
class MbLSLoss(ClassificationLoss):
    """CE + alpha * mean_k relu(max_j z_j - z_k - margin)."""

    def __init__(self, *, margin: float = 10.0, alpha: float = 0.1, **common):
        super().__init__(**common)
        self.margin = check_range("margin", margin, 0.0)
        self.alpha = check_range("alpha", alpha, 0.0)

    def per_sample(self, logits: Tensor, targets: Tensor) -> Tensor:
        distance = logits.max(dim=1, keepdim=True).values - logits
        return target_nll(logits, targets) + self.alpha * F.relu(distance - self.margin).mean(dim=1)
