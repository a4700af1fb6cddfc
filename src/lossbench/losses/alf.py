"""Asymmetric loss functions for noisy labels, alone and combined with NCE.

Zhou, Liu, Jiang, Gao & Ji, "Asymmetric Loss Functions for Learning with Noisy Labels", ICML 2021.
Reference code: hitcszx/ALFs, `lnl/losses.py` (AGCELoss, AUELoss, AExpLoss, NCEandAGCE, NCEandAUE,
NCEandAEL; commit 1c795f9) and `config.py` (CIFAR10_CONFIG; commit 898961f). config.py imports the
top-level `losses.py`, which the repository holds at 898961f (it was removed later, in 61245e9): its
AGCELoss, AUELoss, AExpLoss and NCEand* classes are identical to those of lnl/losses.py.

    agce:  l = ((a + 1)^q - (a + p_y)^q) / q                       a > 0, q > 0
    aul:   l = ((a - p_y)^q - (a - 1)^q) / q                       a > 1, q > 0
    ael:   l = exp(-p_y / a)                                       a > 0
    nce_agce / nce_aul / nce_ael:  l = alpha NCE + beta (agce | aul | ael)

NCE is the term of the `nce` loss (lossbench.losses.symmetric.normalized_ce).

Defaults: the reference config's CIFAR-10 values (CIFAR10_CONFIG in config.py):
    agce a = 0.6, q = 0.6;  aul a = 5.5, q = 3;  ael a = 2.5;
    nce_agce alpha = 1, beta = 4, a = 6, q = 1.5;  nce_aul alpha = 1, beta = 4, a = 6.3, q = 1.5;
    nce_ael alpha = 1, beta = 4, a = 5.
(The classes' own keyword defaults in losses.py differ, e.g. AGCELoss a = 1, q = 2; the config is
what the experiments ran.) The code's `scale` of a lone loss is 1 there and is not offered.

Differences from the reference code: none in the formula (it computes p = softmax(z), no clamp).
The code computes (a + 1)^q - (a + p_y)^q and (a - p_y)^q - (a - 1)^q directly, which cancels when
p_y is close to 1; here they are factored through 1 - p_y = -expm1(log p_y):
    (a + 1)^q - (a + p_y)^q = -(a + 1)^q expm1(q log1p(-(1 - p_y) / (a + 1)))
    (a - p_y)^q - (a - 1)^q =  (a - 1)^q expm1(q log1p((1 - p_y) / (a - 1)))
equal in exact arithmetic, accurate to rounding at both ends. Gradients: nothing is detached, in the
code or here.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from lossbench.losses._terms import p_minus_one, target_nll
from lossbench.losses.base import ClassificationLoss, check_range
from lossbench.losses.registry import register_loss
from lossbench.losses.symmetric import normalized_ce


def agce_term(nll: Tensor, a: float, q: float) -> Tensor:
    """((a + 1)^q - (a + p_y)^q) / q from -log p_y."""
    shrink = torch.log1p(p_minus_one(nll) / (a + 1.0))  # log((a + p_y) / (a + 1)) <= 0
    return torch.expm1(shrink * q) * (-(a + 1.0) ** q / q)


def aul_term(nll: Tensor, a: float, q: float) -> Tensor:
    """((a - p_y)^q - (a - 1)^q) / q from -log p_y."""
    grow = torch.log1p(p_minus_one(nll) / (1.0 - a))  # log((a - p_y) / (a - 1)) >= 0
    return torch.expm1(grow * q) * ((a - 1.0) ** q / q)


def ael_term(nll: Tensor, a: float) -> Tensor:
    """exp(-p_y / a) from -log p_y."""
    return torch.exp(torch.exp(-nll) * (-1.0 / a))


def _checked_a_q(a: float, q: float, a_low: float) -> tuple[float, float]:
    return check_range("a", a, a_low, low_open=True), check_range("q", q, 0.0, low_open=True)


@register_loss("agce")
class AGCELoss(ClassificationLoss):
    """Asymmetric generalized cross-entropy, ((a + 1)^q - (a + p_y)^q) / q."""

    def __init__(self, *, a: float = 0.6, q: float = 0.6, **common):
        super().__init__(**common)
        self.a, self.q = _checked_a_q(a, q, 0.0)

    def per_sample(self, logits: Tensor, targets: Tensor) -> Tensor:
        return agce_term(target_nll(logits, targets), self.a, self.q)


@register_loss("aul")
class AULLoss(ClassificationLoss):
    """Asymmetric unhinged loss, ((a - p_y)^q - (a - 1)^q) / q."""

    def __init__(self, *, a: float = 5.5, q: float = 3.0, **common):
        super().__init__(**common)
        self.a, self.q = _checked_a_q(a, q, 1.0)

    def per_sample(self, logits: Tensor, targets: Tensor) -> Tensor:
        return aul_term(target_nll(logits, targets), self.a, self.q)


@register_loss("ael")
class AELLoss(ClassificationLoss):
    """Asymmetric exponential loss, exp(-p_y / a)."""

    def __init__(self, *, a: float = 2.5, **common):
        super().__init__(**common)
        self.a = check_range("a", a, 0.0, low_open=True)

    def per_sample(self, logits: Tensor, targets: Tensor) -> Tensor:
        return ael_term(target_nll(logits, targets), self.a)


class _NCEAndAsymmetric(ClassificationLoss):
    """alpha NCE + beta (asymmetric term); subclasses define `asymmetric(nll)`."""

    def __init__(self, *, alpha: float, beta: float, **common):
        super().__init__(**common)
        self.alpha = check_range("alpha", alpha, 0.0)
        self.beta = check_range("beta", beta, 0.0)

    def asymmetric(self, nll: Tensor) -> Tensor:
        raise NotImplementedError

    def per_sample(self, logits: Tensor, targets: Tensor) -> Tensor:
        log_p = F.log_softmax(logits, dim=-1)
        nll = F.nll_loss(log_p, targets, reduction="none")
        return self.alpha * normalized_ce(log_p, targets) + self.beta * self.asymmetric(nll)


@register_loss("nce_agce")
class NCEandAGCELoss(_NCEAndAsymmetric):
    """alpha NCE + beta AGCE."""

    def __init__(self, *, alpha: float = 1.0, beta: float = 4.0, a: float = 6.0, q: float = 1.5, **common):
        super().__init__(alpha=alpha, beta=beta, **common)
        self.a, self.q = _checked_a_q(a, q, 0.0)

    def asymmetric(self, nll: Tensor) -> Tensor:
        return agce_term(nll, self.a, self.q)


@register_loss("nce_aul")
class NCEandAULLoss(_NCEAndAsymmetric):
    """alpha NCE + beta AUL."""

    def __init__(self, *, alpha: float = 1.0, beta: float = 4.0, a: float = 6.3, q: float = 1.5, **common):
        super().__init__(alpha=alpha, beta=beta, **common)
        self.a, self.q = _checked_a_q(a, q, 1.0)

    def asymmetric(self, nll: Tensor) -> Tensor:
        return aul_term(nll, self.a, self.q)


@register_loss("nce_ael")
class NCEandAELLoss(_NCEAndAsymmetric):
    """alpha NCE + beta AEL."""

    def __init__(self, *, alpha: float = 1.0, beta: float = 4.0, a: float = 5.0, **common):
        super().__init__(alpha=alpha, beta=beta, **common)
        self.a = check_range("a", a, 0.0, low_open=True)

    def asymmetric(self, nll: Tensor) -> Tensor:
        return ael_term(nll, self.a)
