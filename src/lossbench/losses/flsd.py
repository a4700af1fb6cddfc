"""Sample-dependent focal loss, FLSD (Mukhoti, Kulharia, Sanyal, Golodetz, Torr & Dokania,
"Calibrating Deep Neural Networks using Focal Loss", NeurIPS 2020; reference code
torrvision/focal_calibration, Losses/focal_loss_adaptive_gamma.py, class `FocalLossAdaptive`).

    l(z, y) = -(1 - p_y)^gamma(p_y) log p_y,
    gamma(p) = gamma_low for p < 0.2, gamma_mid for 0.2 <= p < 0.5, gamma for p >= 0.5

gamma(p_y) is chosen per sample (no gradient through the choice). Defaults: FLSD-53, the paper's
setting: gamma = 5 for p_y < 0.2 and 3 above. The reference code has the three bands above: the two
lower ones from its fixed table {0.2: 5, 0.5: 3}, the top one from its `gamma` argument (3 for
FLSD-53); `gamma_low` and `gamma_mid` make the table's values parameters.

Deviation from the reference code: the reference returns the sum over the batch (size_average is
False, and train.py trains on it); lossbench returns the mean, so at equal learning rate the
reference takes N-times larger steps. (1 - p_y) is -expm1(log p_y), as in `focal`.
"""
from __future__ import annotations

import torch
from torch import Tensor

from lossbench.losses._terms import NLLMap, focal_value_and_slope, target_nll
from lossbench.losses.base import ClassificationLoss, check_range
from lossbench.losses.registry import register_loss

LOW, MID = 0.2, 0.5  # the reference code's p_y thresholds


def flsd_gamma(nll: Tensor, gamma_low: float, gamma_mid: float, gamma: float) -> Tensor:
    """The focusing parameter of each sample, chosen from its p_y = exp(-nll)."""
    p = torch.exp(-nll)
    return torch.full_like(nll, gamma).masked_fill_(p < MID, gamma_mid).masked_fill_(p < LOW, gamma_low)


@register_loss("flsd")
class FLSDLoss(ClassificationLoss):
    """Focal loss with gamma = gamma_low / gamma_mid / gamma for p_y in [0, .2) / [.2, .5) / [.5, 1]."""

    def __init__(self, *, gamma_low: float = 5.0, gamma_mid: float = 3.0, gamma: float = 3.0, **common):
        super().__init__(**common)
        self.gamma_low = check_range("gamma_low", gamma_low, 0.0)
        self.gamma_mid = check_range("gamma_mid", gamma_mid, 0.0)
        self.gamma = check_range("gamma", gamma, 0.0)

    def per_sample(self, logits: Tensor, targets: Tensor) -> Tensor:
        nll = target_nll(logits, targets)
        gammas = flsd_gamma(nll.detach(), self.gamma_low, self.gamma_mid, self.gamma)
        return NLLMap.apply(nll, lambda t: focal_value_and_slope(t, gammas))
