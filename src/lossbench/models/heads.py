"""Classifier heads: `linear` (an affine layer) or `cosine` (normalised weights and features).

The cosine head is LDAM-DRW's `NormedLinear` (kaidic/LDAM-DRW, models/resnet_cifar.py): logits are
cosine similarities in [-1, 1], so the loss must scale them (LDAM's `scale=30`).

`head_bias_init` (linear head only): `none` keeps PyTorch's default bias; `sigmoid_prior` sets every
bias to -log(C - 1), so each class's sigmoid starts at 1/C. That is the last-layer initialisation of
the class-balanced sigmoid/focal losses' reference code (richardaecn/class-balanced-loss,
src/model_base.py `_fully_connected`), for `cb_sigmoid` and `cb_focal`.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

CLASSIFIERS = ("linear", "cosine")
HEAD_BIAS_INITS = ("none", "sigmoid_prior")


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
        return head
    if kind == "cosine":
        if bias_init != "none":
            raise ValueError(f"model.head_bias_init={bias_init!r} needs a bias, but the cosine classifier has none; "
                             f"use model.classifier=linear.")
        return CosineClassifier(in_features, num_classes)
    raise ValueError(f"model.classifier={kind!r} is not one of {', '.join(CLASSIFIERS)}.")
