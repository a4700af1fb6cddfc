"""The pairwise margin loss of Menon et al., "Long-tail learning via logit adjustment", ICLR 2021
(section 5, their Eq. 11 with alpha_y = 1), the family the paper's synthetic experiment (section 6.1)
compares:

    l(z, y) = log[1 + sum_{j != y} exp(tau Delta_yj) exp(z_j - z_y)] = CE(z + tau Delta_y., y), Delta_yy = 0,

with the margins Delta_yj of the experiment's four rows (pi_j the class priors):
    none            0                      ERM, plain cross-entropy;
    adaptive        pi_y^(-1/4)            the "adaptive" margin of LDAM (Cao et al. 2019), unnormalised
                                           and unscaled (the `ldam` loss rescales it to max_margin and
                                           multiplies the logits by s);
    equalised       log pi_j               the paper's "equalised" margin (its reading of the equalization
                                           loss of Tan et al. 2020): every other class's score is
                                           down-weighted by its prior, the target's is not;
    logit_adjusted  log(pi_j / pi_y)       the logit-adjusted loss, CE(z + tau log pi): `logit_adjust`.
tau (default 1) scales every margin: the paper's tau for logit_adjusted, Cao et al.'s constant C for
adaptive. Defaults: margin logit_adjusted, tau 1 (the paper's proposal).

pi is the training-set class frequency n_j / sum n (what every lossbench loss receives), as the
authors' CIFAR code (google-research/logit_adjustment) estimates it from the training labels; the
paper writes the population prior, which the synthetic sample's frequencies estimate (5% +- 0.2%).
No authors' code for the synthetic experiment is published; the margins follow the paper's text.
"""
from __future__ import annotations

import torch
from torch import Tensor

from lossbench.losses.base import ClassificationLoss, check_choice, check_range
from lossbench.losses.registry import register_loss

MARGINS = ("none", "adaptive", "equalised", "logit_adjusted")


def pairwise_margins(kind: str, log_prior: Tensor) -> Tensor:
    """Delta [C, C] (row y = the target, column j), zero on the diagonal, from log pi [C] (float64)."""
    c = len(log_prior)
    if kind == "none":
        delta = torch.zeros(c, c, dtype=log_prior.dtype)
    elif kind == "adaptive":
        delta = torch.exp(-0.25 * log_prior)[:, None].expand(c, c).clone()
    elif kind == "equalised":
        delta = log_prior[None, :].expand(c, c).clone()
    else:  # logit_adjusted
        delta = log_prior[None, :] - log_prior[:, None]
    return delta.fill_diagonal_(0.0)


@register_loss("pairwise_margin")
class PairwiseMarginLoss(ClassificationLoss):
    """CE(z + tau Delta_y., y) with the margins of Menon et al. (2021), Eq. 11."""

    needs_class_counts = True
    is_cross_entropy = True

    def __init__(self, *, margin: str = "logit_adjusted", tau: float = 1.0, **common):
        super().__init__(**common)
        self.margin = check_choice("margin", margin, MARGINS)
        self.tau = check_range("tau", tau, 0.0)
        self.register_buffer("margins", self.tau * pairwise_margins(self.margin, self.log_prior), persistent=False)

    def transform_logits(self, logits: Tensor, targets: Tensor) -> Tensor:
        return logits + self.margins.to(logits.dtype)[targets]

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, margin={self.margin!r}, tau={self.tau:g}"
