"""Evaluation metrics, computed once per evaluation epoch from all logits of the split.

  acc            top-1 accuracy in [0, 1]
  balanced_acc   mean per-class recall (torchmetrics' macro accuracy)
  nll            mean negative log-likelihood of the softmax
  ece            expected calibration error, 15 equal-width confidence bins, L1 (torchmetrics)
  per_class_acc  recall of every class
  reliability    the reliability diagram of the ECE bins: per bin, the count, mean confidence and
                 accuracy of the predictions whose confidence falls in it (for the report's plots)
  many/medium/few_acc  mean per-class recall over the classes with > 100 / 20..100 / < 20
                 training images (the split of Liu et al. 2019); None where a group is empty

A binary task (class 1 the positive one) adds, from P(y = 1) = softmax(logits)[:, 1] over the whole
split (torchmetrics, threshold 0.5 for the thresholded ones):
  f1             F1 of the positive class
  gmean          sqrt(TPR TNR), the geometric mean of the two recalls
  auroc          area under the ROC curve
  auprc          area under the precision-recall curve (average precision)

A multi-label task (targets multi-hot [N, C], P(label c) = sigmoid(logit c)) has its own, over the
whole split (torchmetrics; a class without a positive in the split has no AP and is left out):
  map            mean over classes of the average precision of each class (macro mAP)
  map_head/medium/tail   mAP over the classes with > 100 / 20..100 / < 20 positive training
                 examples (the many/medium/few thresholds, as the distribution-balanced loss's
                 VOC-MLT and COCO-MLT splits); None where a group is empty
  micro_f1, macro_f1   F1 at threshold 0.5, pooled over all labels / averaged over classes
  per_class_ap   the AP of every class (None where the split has no positive)
  acc            subset accuracy: the share of examples whose whole label set is predicted exactly
  nll, ece, reliability   of the N x C label decisions, each a binary prediction [1 - p, p]
  per_class_acc  recall of every class at threshold 0.5
balanced_acc and the many/medium/few accuracies are None: they are single-label quantities.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

ECE_BINS = 15
MANY_SHOT_MIN, FEW_SHOT_MAX = 100, 20  # many: n > 100, few: n < 20, medium: in between


def shot_groups(class_counts: Sequence[int]) -> dict[str, list[int]]:
    """Class indices of the many / medium / few-shot groups."""
    groups = {"many": [], "medium": [], "few": []}
    for cls, n in enumerate(class_counts):
        key = "many" if n > MANY_SHOT_MIN else ("few" if n < FEW_SHOT_MAX else "medium")
        groups[key].append(cls)
    return groups


def binary_metrics(positive_probs: Tensor, targets: Tensor) -> dict:
    """F1, G-mean, AUROC and AUPRC of P(y = 1) against targets in {0, 1} (see the module docstring)."""
    from torchmetrics.functional.classification import (binary_auroc, binary_average_precision, binary_f1_score,
                                                        binary_recall, binary_specificity)

    values = {"f1": binary_f1_score(positive_probs, targets),
              "gmean": (binary_recall(positive_probs, targets) * binary_specificity(positive_probs, targets)).sqrt(),
              "auroc": binary_auroc(positive_probs, targets), "auprc": binary_average_precision(positive_probs, targets)}
    return {k: float(v) for k, v in values.items()}


def classification_metrics(logits: Tensor, targets: Tensor, class_counts: Sequence[int],
                           task: str = "multiclass") -> dict:
    """All metrics of one split as Python numbers (one host sync per call, not per step)."""
    from torchmetrics.functional.classification import multiclass_accuracy, multiclass_calibration_error

    if task == "multilabel":
        return multilabel_metrics(logits, targets, class_counts)
    num_classes = logits.shape[1]
    logits = logits.float()
    probs = logits.softmax(dim=1)
    per_class = multiclass_accuracy(probs, targets, num_classes=num_classes, average=None)
    present = torch.bincount(targets, minlength=num_classes) > 0
    values = {
        "acc": (logits.argmax(1) == targets).float().mean(),
        "balanced_acc": per_class[present].mean(),
        "nll": F.cross_entropy(logits, targets),
        "ece": multiclass_calibration_error(probs, targets, num_classes=num_classes, n_bins=ECE_BINS, norm="l1"),
    }
    out = {k: float(v) for k, v in values.items()}
    per_class_list = per_class.tolist()
    out["per_class_acc"] = per_class_list
    out["reliability"] = reliability_bins(probs, targets)
    for group, classes in shot_groups(class_counts).items():
        out[f"{group}_acc"] = sum(per_class_list[c] for c in classes) / len(classes) if classes else None
    if task == "binary":
        out.update(binary_metrics(probs[:, 1], targets))
    return out


def multilabel_metrics(logits: Tensor, targets: Tensor, class_counts: Sequence[int]) -> dict:
    """A multi-label task's metrics (see the module docstring) from logits [N, C] and multi-hot targets."""
    from torchmetrics.functional.classification import (multiclass_calibration_error, multilabel_average_precision,
                                                        multilabel_f1_score, multilabel_recall)

    num_classes = logits.shape[1]
    logits = logits.float()
    probs, labels = logits.sigmoid(), targets.to(torch.int64)
    has_positive = (labels.sum(0) > 0).tolist()
    with warnings.catch_warnings():  # a class without a positive (a small validation split): its AP is None below
        warnings.filterwarnings("ignore", message="No positive samples found in target")
        ap = multilabel_average_precision(probs, labels, num_labels=num_classes, average=None).tolist()
    per_class_ap = [a if ok else None for a, ok in zip(ap, has_positive)]

    def mean_ap(classes) -> float | None:
        values = [per_class_ap[c] for c in classes if per_class_ap[c] is not None]
        return sum(values) / len(values) if values else None

    # Each label decision as a two-class prediction, for the calibration metrics.
    pairs = torch.stack([1 - probs.flatten(), probs.flatten()], dim=1)
    flat = labels.flatten()
    f1 = {avg: float(multilabel_f1_score(probs, labels, num_labels=num_classes, threshold=0.5, average=avg))
          for avg in ("micro", "macro")}
    out = {"acc": float(((probs > 0.5) == labels.bool()).all(dim=1).float().mean()) if len(labels) else float("nan"),
           "balanced_acc": None,
           "nll": float(F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))),
           "ece": float(multiclass_calibration_error(pairs, flat, num_classes=2, n_bins=ECE_BINS, norm="l1")),
           "per_class_acc": multilabel_recall(probs, labels, num_labels=num_classes, threshold=0.5,
                                              average=None).tolist(),
           "reliability": reliability_bins(pairs, flat),
           "many_acc": None, "medium_acc": None, "few_acc": None,
           "map": mean_ap(range(num_classes)), "micro_f1": f1["micro"], "macro_f1": f1["macro"],
           "per_class_ap": per_class_ap}
    groups = shot_groups(class_counts)
    for group, name in (("many", "head"), ("medium", "medium"), ("few", "tail")):
        out[f"map_{name}"] = mean_ap(groups[group])
    return out


def reliability_bins(probs: Tensor, targets: Tensor, n_bins: int = ECE_BINS) -> dict:
    """Per equal-width confidence bin [b/n, (b+1)/n), as torchmetrics' ECE bins them: the number of predictions,
    their mean confidence and their accuracy (0 where a bin is empty). The ECE is
    sum_b count_b |accuracy_b - confidence_b| / N."""
    confidence, predicted = probs.max(dim=1)
    correct = (predicted == targets).to(confidence.dtype)
    boundaries = torch.linspace(0, 1, n_bins + 1, dtype=confidence.dtype, device=confidence.device)
    index = (torch.bucketize(confidence, boundaries, right=True) - 1).clamp_(0, n_bins - 1)
    count = torch.bincount(index, minlength=n_bins)
    conf_sum = torch.zeros(n_bins, dtype=confidence.dtype, device=confidence.device).scatter_add_(0, index, confidence)
    acc_sum = torch.zeros(n_bins, dtype=confidence.dtype, device=confidence.device).scatter_add_(0, index, correct)
    denominator = count.clamp(min=1).to(confidence.dtype)
    return {"bins": n_bins, "count": count.tolist(), "confidence": (conf_sum / denominator).tolist(),
            "accuracy": (acc_sum / denominator).tolist()}
