"""A loss with a parameter of its own, for the tests of learned losses (tests/test_learned_losses.py,
tests/test_learned_loss_jobs.py): cross-entropy of the logits times a learned temperature exp(log_t),
log_t starting at 0. It declares its optimizer group's defaults as a learned loss does."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lossbench.losses import ClassificationLoss


class TemperatureCE(ClassificationLoss):
    lr_scale = 0.5
    weight_decay = 0.0

    def __init__(self, **shared):
        super().__init__(**shared)
        self.log_t = nn.Parameter(torch.zeros(()))

    def per_sample(self, logits, targets, **inputs):
        return F.cross_entropy(logits * self.log_t.exp(), targets, reduction="none")
