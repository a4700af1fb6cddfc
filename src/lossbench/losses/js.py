"""Jensen-Shannon divergence loss (Englesson & Azizpour, "Generalized Jensen-Shannon Divergence Loss
for Learning with Noisy Labels", NeurIPS 2021), the one-view JS loss of the paper.

    js:  l = [pi1 KL(e_y || m) + pi2 KL(p || m)] / Z,   m = pi1 e_y + pi2 p,   pi2 = 1 - pi1,
         Z = -pi2 log(pi2)

The scale 1/Z is the paper's and the code's (JensenShannonDivergenceWeightedScaled): with it the
loss tends to CE as pi1 -> 0 and to MAE, 1 - p_y, as pi1 -> 1 (as the paper states; both limits are
checked in tests/losses/test_identities.py).
In closed form, with m_y = pi1 + pi2 p_y and m_k = pi2 p_k off the target,
    KL(e_y || m) = -log m_y,   KL(p || m) = p_y (log p_y - log m_y) - (1 - p_y) log pi2.

Reference code: ErikEnglesson/GJS, losses.py (JensenShannonDivergenceWeightedScaled with
`loss: JSWCS`, one prediction; commit f124785). Default pi1 = 0.7 (`js_weights: 0.7 0.3` of its
CIFAR-10 configs for 20% and 40% symmetric noise, scripts/C10/sym/js-20.yaml and js-40.yaml; its
80% config uses 0.9 0.1). GJS, with several augmented views, is not implemented here.

Where the code differs from the formula (lossbench follows the code, `clamp_probs=true`):
- every log is of a probability clamped to >= 1e-7: log max(m_k, 1e-7) and, for KL(p || m),
  log max(p_k, 1e-7). So an off-target class with p_k < 1e-7 / pi2 contributes
  p_k (log max(p_k, 1e-7) - log max(pi2 p_k, 1e-7)) instead of -p_k log pi2, and gets the clamp's
  zero gradient through the clamped logs; a class whose p_k is exactly 0 contributes 0 (the code's
  torch.where). The change in the scaled loss is at most 1e-7 / pi2 per class (3.3e-7 at pi1 = 0.7).
- `clamp_probs=false` is the exact closed form above, which needs only p_y (cheaper).
The logs of p are log_softmax values here (the code takes log of softmax); m_y >= pi1 never clamps
unless pi1 < 1e-7.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from lossbench.losses._terms import p_minus_one
from lossbench.losses.base import ClassificationLoss, check_range
from lossbench.losses.registry import register_loss

CODE_LOG_FLOOR = math.log(1e-7)  # the reference code's clamp(1e-7, 1.0) before every log


@register_loss("js")
class JensenShannonLoss(ClassificationLoss):
    """[pi1 KL(e_y || m) + pi2 KL(p || m)] / (-pi2 log pi2), m = pi1 e_y + pi2 p."""

    def __init__(self, *, pi1: float = 0.7, clamp_probs: bool = True, **common):
        super().__init__(**common)
        self.pi1 = check_range("pi1", pi1, 0.0, 1.0, low_open=True, high_open=True)
        self.clamp_probs = bool(clamp_probs)

    def per_sample(self, logits: Tensor, targets: Tensor) -> Tensor:
        pi1, pi2 = self.pi1, 1.0 - self.pi1
        log_pi2 = math.log(pi2)
        log_p = F.log_softmax(logits, dim=-1)
        index = targets[:, None]
        nll = F.nll_loss(log_p, targets, reduction="none")
        log_m_y = torch.log(torch.exp(-nll) * pi2 + pi1)
        if self.clamp_probs:
            log_m = (log_p + log_pi2).scatter(1, index, log_m_y[:, None]).clamp_min(CODE_LOG_FLOOR)
            pred_kl = (log_p.exp() * (log_p.clamp_min(CODE_LOG_FLOOR) - log_m)).sum(dim=1)
            label_kl = log_m.gather(1, index).squeeze(1).neg()
        else:
            p_y = torch.exp(-nll)
            pred_kl = p_y * (-nll - log_m_y) + p_minus_one(nll) * log_pi2
            label_kl = -log_m_y
        return (pi1 * label_kl + pi2 * pred_kl) * (-1.0 / (pi2 * log_pi2))
