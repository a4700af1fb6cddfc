"""Classifier heads: `linear` (an affine layer) or `cosine` (normalised weights and features).

The cosine head is LDAM-DRW's `NormedLinear` (kaidic/LDAM-DRW, models/resnet_cifar.py): logits are
cosine similarities in [-1, 1], so the loss must scale them (LDAM's `scale=30`).

`head_bias_init` (linear head only): `none` keeps PyTorch's default bias; `sigmoid_prior` sets every
bias to -log(C - 1), so each class's sigmoid starts at 1/C. That is the last-layer initialisation of
the class-balanced sigmoid/focal losses' reference code (richardaecn/class-balanced-loss,
src/model_base.py `_fully_connected`), for `cb_sigmoid` and `cb_focal`. `gumbel` sets every bias to
-2, so each class's Gumbel probability exp(-exp(2)) starts at 6e-4: the Gumbel optimised loss's
classifier initialisation (kostas1515/GOL 9bca616, configs/gol: fc_cls bias -2), for `gumbel_bce`.

`FeatureClassifier` is the base of every model: `forward_features(x)` gives the penultimate
features, `head(features)` the logits, and forward(x) = head(forward_features(x)), so a loss that
needs the features (`needs = {"features"}`) gets them from the same pass as the logits.

`posthoc_weight_norm_tau` (linear head only; None = off): post-hoc tau-normalisation of the
classifier weights (Kang et al., "Decoupling Representation and Classifier for Long-Tailed
Recognition", ICLR 2020), applied in eval mode only: logits_j = <f, w_j / ||w_j||_2^tau>. As the
authors' tau_norm.py (facebookresearch/classifier-balancing, commit 22370c6, `pnorm` then
`dotproduct_similarity`), the bias is dropped, so tau = 0 is the linear head without its bias and
tau = 1 is a cosine-weight head (the features are not normalised). The paper picks tau on a
validation set (its code sweeps 0 to 2); lossbench has no default.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

CLASSIFIERS = ("linear", "cosine")
HEAD_BIAS_INITS = ("none", "sigmoid_prior", "gumbel")
GUMBEL_HEAD_BIAS = -2.0


class CosineClassifier(nn.Module):
    """logits_j = <x / |x|, w_j / |w_j|>, initialised as the reference NormedLinear."""

    def __init__(self, in_features: int, num_classes: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_features, num_classes))
        self.weight.data.uniform_(-1, 1).renorm_(2, 1, 1e-5).mul_(1e5)

    def forward(self, features: Tensor) -> Tensor:
        return F.normalize(features, dim=1) @ F.normalize(self.weight, dim=0)


def make_classifier(kind: str, in_features: int, num_classes: int, bias_init: str = "none") -> nn.Module:
    if bias_init not in HEAD_BIAS_INITS:
        raise ValueError(f"model.head_bias_init={bias_init!r} is not one of {', '.join(HEAD_BIAS_INITS)}.")
    if kind == "linear":
        head = nn.Linear(in_features, num_classes)
        if bias_init == "sigmoid_prior":
            nn.init.constant_(head.bias, -math.log(num_classes - 1))
        elif bias_init == "gumbel":
            nn.init.constant_(head.bias, GUMBEL_HEAD_BIAS)
        return head
    if kind == "cosine":
        if bias_init != "none":
            raise ValueError(f"model.head_bias_init={bias_init!r} needs a bias, but the cosine classifier has none; "
                             f"use model.classifier=linear.")
        return CosineClassifier(in_features, num_classes)
    raise ValueError(f"model.classifier={kind!r} is not one of {', '.join(CLASSIFIERS)}.")


def tau_normalized_logits(features: Tensor, weight: Tensor, tau: float) -> Tensor:
    """features @ (w_j / ||w_j||^tau)^T for weight [C, D] (nn.Linear layout); no bias (Kang et al.)."""
    norms = torch.linalg.vector_norm(weight, dim=1, keepdim=True)
    return features @ (weight / norms.pow(tau)).t()


class FeatureClassifier(nn.Module):
    """A model as features + head. Subclasses build `self.classifier` with `make_classifier`, call
    `set_posthoc_weight_norm`, and implement `forward_features`."""

    classifier: nn.Module
    posthoc_weight_norm_tau: float | None = None

    def set_posthoc_weight_norm(self, tau: float | None) -> None:
        if tau is not None:
            if isinstance(tau, bool) or not isinstance(tau, (int, float)) or not tau >= 0:
                raise ValueError(f"model.posthoc_weight_norm_tau={tau!r} is out of range: it must be a number >= 0 "
                                 f"(or null: off).")
            if not isinstance(self.classifier, nn.Linear):
                raise ValueError("model.posthoc_weight_norm_tau needs model.classifier=linear (a cosine head's "
                                 "weights are already normalised).")
            tau = float(tau)
        self.posthoc_weight_norm_tau = tau

    def forward_features(self, x: Tensor) -> Tensor:
        """The penultimate features [N, D]: the classifier's input."""
        raise NotImplementedError

    def head(self, features: Tensor) -> Tensor:
        """The logits [N, C] of the features; tau-normalised weights in eval mode when the option is on."""
        if self.posthoc_weight_norm_tau is not None and not self.training:
            return tau_normalized_logits(features, self.classifier.weight, self.posthoc_weight_norm_tau)
        return self.classifier(features)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.forward_features(x))
