"""AnyLoss: a confusion-matrix metric of the batch turned into a loss (Han, Moniz and Chawla,
"AnyLoss: Transforming Classification Metrics into Loss Functions", KDD 2024; code doheonhan/anyloss
at fb98590, README.md `Ours_Accu`, `Ours_Fbeta`, `Ours_Gmean`, `Ours_BAccu` and "AnyLoss - Code.ipynb").

With p = sigmoid(s) the predicted probability and the amplifier
    yhat = sigmoid(L (p - 1/2)),   L = 73 (the authors' default),
which pushes p towards 0 or 1 so that the soft counts approach the confusion matrix's,
    TP = sum y yhat,  FN = sum y - TP,  FP = sum yhat - TP,  TN = n - sum y - sum yhat + TP
over the batch, the loss is 1 - metric:
    accuracy           (TP + TN) / n
    f_beta             (1 + beta^2) TP / (beta^2 sum y + sum yhat)      (beta = 1: F1)
    gmean              sqrt(TP TN / (P N)), P = sum y, N = n - P
    balanced_accuracy  (TP / P + TN / N) / 2
n is the size the authors' code puts there (`size`): their Keras losses (README, notebooks 4-2x)
use the whole training set's size, `yl = y_train.shape[0]`, with the sums over the mini-batch
(`size: train`, the default, followed here: n = the training class counts' sum); their SLP code
trains on the full batch, where the two agree. `size: batch` is the metric of the batch itself
(n = the batch's size), the paper's formula applied per batch. f_beta has no n.
It is a loss of the whole batch, not a mean of per-example terms (`batch_term`); a batch without a
positive (or, for gmean and balanced accuracy, without a negative) has no value for the metric: the
authors' code divides by zero there; here that batch's loss is the metric's value with the empty
class's rate taken as 0 (P or N clamped to 1), so training goes on. Their experiments train on the
whole training set as one batch (full-batch gradient descent, lr 0.1, 1,000 iterations for the SLP).
"""
from __future__ import annotations

import torch
from torch import Tensor

from lossbench.losses.base import check_choice, check_range
from lossbench.losses.binary import BinaryLoss
from lossbench.losses.registry import register_loss

METRICS = ("accuracy", "f_beta", "gmean", "balanced_accuracy")
SIZES = ("train", "batch")


@register_loss("anyloss")
class AnyLoss(BinaryLoss):
    """1 - metric(soft confusion matrix of the batch) with the amplified probabilities."""

    def __init__(self, *, metric: str = "f_beta", amplifier: float = 73.0, beta: float = 1.0, size: str = "train",
                 **common):
        self.size = check_choice("size", size, SIZES)
        self.needs_class_counts = self.size == "train"  # n = the training set's size
        if common.get("reweight", "none") != "none":
            raise ValueError("reweight: AnyLoss is a metric of the whole batch's confusion matrix, with no "
                             "per-example terms to weight; pick the metric instead (balanced_accuracy, gmean).")
        super().__init__(**common)
        self.metric = check_choice("metric", metric, METRICS)
        self.amplifier = check_range("amplifier", amplifier, 0.0, low_open=True)
        self.beta = check_range("beta", beta, 0.0, low_open=True)
        # n as a Python number, read once: no tensor made on (or read from) the device per step.
        self.train_size = None if self.class_counts is None else float(self.class_counts.sum())

    def per_sample(self, logits, targets, **inputs):
        return torch.zeros_like(logits)  # the whole loss is the batch's (batch_term)

    def batch_term(self, logits: Tensor, targets: Tensor, **inputs) -> Tensor:
        y = targets.to(logits.dtype)
        yhat = torch.sigmoid(self.amplifier * (torch.sigmoid(logits) - 0.5))
        n = self.train_size if self.size == "train" else float(len(y))
        tp, sum_y, sum_yhat = (y * yhat).sum(), y.sum(), yhat.sum()
        tn = n - sum_y - sum_yhat + tp
        positives, negatives = sum_y.clamp_min(1.0), (n - sum_y).clamp_min(1.0)
        if self.metric == "accuracy":
            value = (tp + tn) / n
        elif self.metric == "f_beta":
            b2 = self.beta ** 2
            value = (1 + b2) * tp / (b2 * sum_y + sum_yhat).clamp_min(torch.finfo(logits.dtype).tiny)
        elif self.metric == "gmean":
            value = torch.sqrt((tp * tn).clamp_min(0.0) / (positives * negatives) + torch.finfo(logits.dtype).tiny)
        else:
            value = (tp / positives + tn / negatives) / 2
        return 1 - value

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, metric={self.metric!r}, amplifier={self.amplifier:g}, beta={self.beta:g}, "
                f"size={self.size!r}")
