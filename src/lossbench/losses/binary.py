"""Losses of binary classification: one score s per example (the model's single output), the target
y in {0, 1} in the data and t = 2y - 1 in {-1, +1} where a margin loss wants it; m = t s is the
margin. Each is a function of the margin alone, averaged over the batch:

  bce            log(1 + exp(-m))          logistic loss, BCE with logits (log space: softplus(-m))
  hinge          max(0, 1 - m)             the SVM's loss
  squared_hinge  max(0, 1 - m)^2
  exponential    exp(-m)                   AdaBoost's loss; overflows (inf) for m < -88 in float32,
                                           as it does in the reference code
  sigmoid_ramp   sigmoid(-m) = 1 - sigmoid(m)   the bounded, non-convex smooth ramp (the sigmoid
                                           loss), robust to outliers and label noise
  binary_mse     (y - sigmoid(s))^2        the squared error of the probability (the binary Brier
                                           score): the AnyLoss authors' MSE baseline
  binary_focal   -alpha_t (1 - p_t)^gamma log p_t, p_t = sigmoid(m) (Lin et al., ICCV 2017; RetinaNet's
                 sigmoid focal loss, fvcore's / torchvision's code): gamma 2; alpha = None (off) as
                 the EnsLoss code's `BinFocal` (alpha=-1); alpha = 0.25 is RetinaNet's

The references are the EnsLoss authors' baselines (statmlben/ensLoss at fd37682, losses.py:
`BCELoss`, `Hinge`, `EXP`, `BinFocal` / `sigmoid_focal_loss`), which tests/losses/test_binary.py
re-implements. A binary loss takes scores [N] or [N, 1] and targets [N] (int64, 0 or 1), `num_classes`
= 2 (the class counts are [negatives, positives]); re-weighting, DRW, `logit_clip` (|s| <= clip) and
`posthoc_tau` (s - tau log(pi_1 / pi_0)) work as for the multi-class losses; `logz_penalty` has no
softmax normaliser to act on and is refused. At evaluation the score becomes the two logits [0, s],
so softmax gives [1 - sigmoid(s), sigmoid(s)] and the multi-class metrics (accuracy, balanced
accuracy, NLL, ECE) apply unchanged beside the binary ones.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from lossbench.losses.base import ClassificationLoss, check_range
from lossbench.losses.registry import register_loss


class BinaryLoss(ClassificationLoss):
    """Base of the binary losses: per_sample(scores [N], targets [N] in {0, 1}) -> [N]."""

    tasks = frozenset({"binary"})

    def __init__(self, *, num_classes: int = 2, **common):
        if num_classes != 2:
            raise ValueError(f"num_classes={num_classes!r}: a binary loss has two classes (negative 0, positive 1); "
                             f"use a binary dataset (lossbench list data) or a multi-class loss.")
        if common.get("logz_penalty"):
            raise ValueError("logz_penalty penalises a softmax's log-normaliser; a binary loss's one score has "
                             "none: leave it at 0.")
        super().__init__(num_classes=2, **common)

    def _prepared(self, logits: Tensor) -> Tensor:
        if logits.ndim == 2 and logits.shape[1] == 1:
            logits = logits[:, 0]
        if logits.ndim != 1:
            raise ValueError(f"a binary loss takes one score per example ([N] or [N, 1]), got shape "
                             f"{tuple(logits.shape)}: give the model one output (a binary dataset does).")
        if logits.dtype != torch.float64:
            logits = logits.float()
        if self.logit_clip is not None:
            logits = logits.clamp(-self.logit_clip, self.logit_clip)
        return logits

    @staticmethod
    def margins(scores: Tensor, targets: Tensor) -> Tensor:
        """m = t s, t = 2y - 1."""
        return scores * (2 * targets.to(scores.dtype) - 1)

    def adjust_eval_logits(self, logits: Tensor) -> Tensor:
        """[0, s - posthoc_tau log(pi_1 / pi_0)]: the two-class logits whose softmax is (1 - p, p)."""
        s = self._prepared(logits)
        if self.posthoc_tau:
            log_prior = self.log_prior.to(device=s.device, dtype=s.dtype)
            s = s - self.posthoc_tau * (log_prior[1] - log_prior[0])
        return torch.stack([torch.zeros_like(s), s], dim=1)


@register_loss("bce")
class BCELoss(BinaryLoss):
    """log(1 + exp(-t s)), the logistic loss."""

    def per_sample(self, logits, targets, **inputs):
        return F.softplus(-self.margins(logits, targets))


@register_loss("hinge")
class HingeLoss(BinaryLoss):
    """max(0, 1 - t s)."""

    def per_sample(self, logits, targets, **inputs):
        return torch.relu(1 - self.margins(logits, targets))


@register_loss("squared_hinge")
class SquaredHingeLoss(BinaryLoss):
    """max(0, 1 - t s)^2."""

    def per_sample(self, logits, targets, **inputs):
        return torch.relu(1 - self.margins(logits, targets)).pow(2)


@register_loss("exponential")
class ExponentialLoss(BinaryLoss):
    """exp(-t s)."""

    def per_sample(self, logits, targets, **inputs):
        return torch.exp(-self.margins(logits, targets))


@register_loss("sigmoid_ramp")
class SigmoidRampLoss(BinaryLoss):
    """sigmoid(-t s): bounded in (0, 1)."""

    def per_sample(self, logits, targets, **inputs):
        return torch.sigmoid(-self.margins(logits, targets))


@register_loss("binary_mse")
class BinaryMSELoss(BinaryLoss):
    """(y - sigmoid(s))^2; 1 - sigmoid(s) = sigmoid(-s) keeps the y = 1 side exact for large s."""

    def per_sample(self, logits, targets, **inputs):
        return torch.sigmoid(-self.margins(logits, targets)).pow(2)


@register_loss("binary_focal")
class BinaryFocalLoss(BinaryLoss):
    """-alpha_t (1 - p_t)^gamma log p_t with p_t = sigmoid(t s), in log space."""

    def __init__(self, *, gamma: float = 2.0, alpha: float | None = None, **common):
        super().__init__(**common)
        self.gamma = check_range("gamma", gamma, 0.0)
        self.alpha = None if alpha is None else check_range("alpha", alpha, 0.0, 1.0)

    def per_sample(self, logits, targets, **inputs):
        return sigmoid_focal(self.margins(logits, targets), targets, self.gamma, self.alpha)


def sigmoid_focal(m: Tensor, targets: Tensor, gamma: float, alpha: float | None) -> Tensor:
    """-alpha_t (1 - p_t)^gamma log p_t of margins m = t s (p_t = sigmoid(m)), elementwise; alpha_t is
    alpha for a positive and 1 - alpha for a negative (None: 1). Also the multi-label focal loss's."""
    # -log p_t = softplus(-m); 1 - p_t = sigmoid(-m) = exp(-softplus(m)).
    loss = F.softplus(-m) * torch.exp(-gamma * F.softplus(m))
    if alpha is not None:
        y = targets.to(loss.dtype)
        loss = loss * (alpha * y + (1 - alpha) * (1 - y))
    return loss
