"""Active negative loss, ANL-CE (Ye, Li, Wang, Chen & Luo, "Active Negative Loss Functions for
Learning with Noisy Labels", NeurIPS 2023). Needs the network (`needs = {"model"}`) for its L1
penalty.

    anl_ce:  l = alpha NCE + beta NNCE + delta sum_theta |theta|
             NCE_i  = (-log p_y) / (-sum_k log p_k)                    (the `nce` loss)
             NNCE_i = 1 - v_y / sum_k v_k,  v_k = A + log max(p_k, m),  A = -log m,  m = min_prob

NNCE is the normalised negative CE: v_k = -log m - (-log p_k) >= 0 is large where p_k is large, so
1 - v_y / sum v rewards a confident target class. The L1 term is over every parameter of the
network (weights, biases and normalisation layers), added once per batch (`batch_term`).

Reference: Virusdoll/Active-Negative-Loss, loss.py `ActiveNegativeLoss` with
`NormalizedCrossEntropy` and `NormalizedNegativeCrossEntropy` (commit 0c50009; `anl_ce`), trainer.py
(the network is passed as `model`). Defaults are its CIFAR-10 config (config/cifar10_anl_ce.json,
commit f8c23b3): alpha = 5, beta = 5, delta = 5e-5, min_prob = 1e-7. The code clamps softmax p to
[m, 1] and takes its log; lossbench clamps log_softmax at log m, the same values and gradient (no
gradient from NNCE through classes below m) without forming p. The reference keeps A = -log m as a
float32 constant (`-torch.tensor(min_prob).log()`), so each clamped class adds about 1e-7 to its
value and gradient; lossbench computes A in the logits' dtype (float64 in the tests, where the
two differ by that much). The reference trainer also clips the
gradient norm at 5 and trains with weight decay 0; those are optimiser settings, not the loss's.
With the shared `reweight` option on, only NCE + NNCE are weighted.
"""
from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from lossbench.losses.base import ClassificationLoss, check_range
from lossbench.losses.registry import register_loss
from lossbench.losses.symmetric import normalized_ce


def normalized_negative_ce(log_p: Tensor, targets: Tensor, min_prob: float) -> Tensor:
    """1 - v_y / sum_k v_k with v_k = max(log p_k - log m, 0) = -log m + log max(p_k, m)."""
    v = (log_p - math.log(min_prob)).clamp_min(0.0)
    return 1.0 - v.gather(1, targets[:, None]).squeeze(1) / v.sum(dim=1)


def l1_norm(model: nn.Module) -> Tensor:
    """sum of |theta| over every parameter of the model."""
    return sum(p.abs().sum() for p in model.parameters())


@register_loss("anl_ce")
class ANLCELoss(ClassificationLoss):
    """alpha NCE + beta NNCE + delta ||theta||_1."""

    needs = frozenset({"model"})

    def __init__(self, *, alpha: float = 5.0, beta: float = 5.0, delta: float = 5e-5, min_prob: float = 1e-7,
                 **common):
        super().__init__(**common)
        self.alpha = check_range("alpha", alpha, 0.0)
        self.beta = check_range("beta", beta, 0.0)
        self.delta = check_range("delta", delta, 0.0)
        self.min_prob = check_range("min_prob", min_prob, 0.0, 1.0 / self.num_classes, low_open=True, high_open=True)

    def per_sample(self, logits: Tensor, targets: Tensor, *, model: nn.Module) -> Tensor:
        log_p = F.log_softmax(logits, dim=1)
        return self.alpha * normalized_ce(log_p, targets) + self.beta * normalized_negative_ce(log_p, targets,
                                                                                                 self.min_prob)

    def batch_term(self, logits: Tensor, targets: Tensor, *, model: nn.Module) -> Tensor | None:
        if self.delta == 0:
            return None
        return self.delta * l1_norm(model).to(logits.dtype)
