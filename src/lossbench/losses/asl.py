"""Single-label asymmetric loss (Ridnik, Ben-Baruch, Zamir, Noy, Friedman, Protter & Zelnik-Manor,
"Asymmetric Loss For Multi-Label Classification", ICCV 2021), as the authors' `ASLSingleLabel`.

    asl:  l = -sum_k t_k w_k log p_k,   t = (1 - eps) e_y + eps / C  (label smoothing),
          w_y = (1 - p_y)^gamma_pos,   w_k = p_k^gamma_neg  (k != y)
        = -(1 - eps + eps/C) (1 - p_y)^gamma_pos log p_y - (eps/C) sum_{k != y} p_k^gamma_neg log p_k

The paper defines ASL for multi-label sigmoid outputs; the single-label softmax form exists only in
the reference code, so the code is the definition: Alibaba-MIIL/ASL, src/loss_functions/losses.py,
class ASLSingleLabel (commits 05b193d and 0a21a18 hold the same class). Defaults are that class's:
gamma_pos = 0, gamma_neg = 4, eps = 0.1. The negatives' focusing only acts on the smoothing mass:
with eps = 0 the loss is the softmax focal loss with gamma = gamma_pos, and with gamma_pos =
gamma_neg = 0 it is CE with label smoothing eps (PyTorch's convention).

Gradients: ASLSingleLabel detaches nothing (unlike the multi-label AsymmetricLoss, whose
`disable_torch_grad_focal_loss` computes its weights without gradient), so the gradient flows
through the weights w_k here too. The class smooths its targets after computing the weights; at
05b193d/0a21a18 it did so in place (`mul_`/`add_`), which fails in backward on current PyTorch
("modified by an inplace operation", Alibaba-MIIL/ASL issue #64), and since 3765818 (2021-08-06,
"targets_classes") out of place, which runs. Both compute the same value; the gradient here is that
of the current file's graph, the loss above differentiated with nothing held constant.
Numerically, w_k = p_k^gamma_neg is computed as exp(gamma_neg log p_k) rather than the code's
1 - (1 - p_k), which rounds to 0 for p_k < 1e-8 in float32; the difference is below float rounding
of the loss.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from lossbench.losses._terms import NLLMap, focal_value_and_slope
from lossbench.losses.base import ClassificationLoss, check_range
from lossbench.losses.registry import register_loss


@register_loss("asl")
class AsymmetricSingleLabelLoss(ClassificationLoss):
    """-(1 - eps + eps/C) (1 - p_y)^gamma_pos log p_y - (eps/C) sum_{k != y} p_k^gamma_neg log p_k."""

    def __init__(self, *, gamma_pos: float = 0.0, gamma_neg: float = 4.0, eps: float = 0.1, **common):
        super().__init__(**common)
        self.gamma_pos = check_range("gamma_pos", gamma_pos, 0.0)
        self.gamma_neg = check_range("gamma_neg", gamma_neg, 0.0)
        self.eps = check_range("eps", eps, 0.0, 1.0)

    def per_sample(self, logits: Tensor, targets: Tensor) -> Tensor:
        log_p = F.log_softmax(logits, dim=-1)
        nll = F.nll_loss(log_p, targets, reduction="none")
        smooth = self.eps / logits.shape[-1]  # the code divides by the logits' width
        loss = NLLMap.apply(nll, lambda t: focal_value_and_slope(t, self.gamma_pos)) * (1.0 - self.eps + smooth)
        if self.eps == 0:
            return loss
        weighted = torch.exp(log_p * self.gamma_neg) * log_p if self.gamma_neg else log_p
        off_target = weighted.scatter(1, targets[:, None], 0.0).sum(dim=1)
        return loss - smooth * off_target
