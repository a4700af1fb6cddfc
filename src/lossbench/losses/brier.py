"""Brier score (Brier, "Verification of forecasts expressed in terms of probability", Monthly Weather
Review 1950), as a training loss in Mukhoti et al., "Calibrating Deep Neural Networks using Focal
Loss", NeurIPS 2020; reference code torrvision/focal_calibration, Losses/brier_score.py.

    l(z, y) = sum_k (p_k - 1[k = y])^2 = (1 - p_y)^2 + sum_{k != y} p_k^2,   p = softmax(z)

No parameters. The reference code sums the squares over classes and divides by the batch size, so
its batch loss is this mean (unlike the same repository's CE, focal and FLSD, which are summed over
the batch). Computed from log_softmax; 1 - p_y = -expm1(log p_y), accurate when p_y is close to 1.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from lossbench.losses.base import ClassificationLoss
from lossbench.losses.registry import register_loss


@register_loss("brier")
class BrierLoss(ClassificationLoss):
    """sum_k (p_k - e_yk)^2."""

    def per_sample(self, logits: Tensor, targets: Tensor) -> Tensor:
        index = targets[:, None]
        log_p = F.log_softmax(logits, dim=1)
        off_target = log_p.exp().square().scatter(1, index, 0.0).sum(dim=1)
        one_minus_p_y = torch.expm1(log_p.gather(1, index).squeeze(1)).neg()
        return one_minus_p_y.square() + off_target
