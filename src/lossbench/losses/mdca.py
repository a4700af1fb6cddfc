"""Cross-entropy + MDCA, multi-class difference in confidence and accuracy (Hebbalaguppe, Prakash,
Madan & Arora, "A Stitch in Time Saves Nine: A Train-Time Regularizing Loss for Improved Neural
Network Calibration", CVPR 2022; reference code mdca-loss/MDCA-Calibration, solvers/loss.py,
classes `MDCA` and `ClassficationAndMDCA` with loss "NLL+MDCA").

    L(batch) = mean_i CE_i + beta * 1/C sum_k | mean_i p_ik - mean_i 1[y_i = k] |

The MDCA term is a term of the whole batch (`batch_term`); with re-weighting on, only the CE part
is weighted. Defaults: beta = 1 (`ClassficationAndMDCA(beta=1.0)` and the README's training command
`--loss NLL+MDCA --beta 1.0`; utils/argparser.py's `--beta` defaults to 10; its run scripts try 1 to 15).
As in the reference code, the batch loss is a mean (CE with reduction "mean") and the gradient
flows through the probabilities only (the class frequencies are constants).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from lossbench.losses.base import ClassificationLoss, check_range
from lossbench.losses.registry import register_loss


@register_loss("mdca")
class MDCALoss(ClassificationLoss):
    """CE + beta * mean over classes of |mean confidence - frequency| in the batch."""

    is_cross_entropy = True

    def __init__(self, *, beta: float = 1.0, **common):
        super().__init__(**common)
        self.beta = check_range("beta", beta, 0.0)

    def transform_logits(self, logits: Tensor, targets: Tensor) -> Tensor:
        return logits

    def batch_term(self, logits: Tensor, targets: Tensor) -> Tensor:
        mean_confidence = F.softmax(logits, dim=1).mean(dim=0)
        frequency = torch.bincount(targets, minlength=self.num_classes).to(logits.dtype) / len(targets)
        return self.beta * (mean_confidence - frequency).abs().mean()
