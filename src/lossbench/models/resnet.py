"""ResNet-18/34/50 for 32x32 images (64-512 channels, 3x3 stem, no stem pooling): the ResNet of the
Active Passive Losses reference code (HanxunH/Active-Passive-Losses, models.py, itself the widely
used pytorch-cifar ResNet), which its CIFAR-100 configs train (`model: ResNet50`).

As the reference: basic blocks (18, 34) or Bottleneck (50) stages at 64/128/256/512 channels with
strides 1/2/2/2, 1x1-conv + BN projection shortcuts, Kaiming-uniform (fan_in, ReLU) convolutions and
Xavier-uniform linear layers. One difference: global average pooling is adaptive, where the
reference uses avg_pool2d(4) -- the same on 32x32 inputs (a 4x4 map), and it also runs on other sizes.
`width` is the first stage's channel count (64, the reference's; the stages have width x 1/2/4/8):
`lossbench sweep --smoke` narrows it to SMOKE_WIDTH, the same network at 1/64 of the parameters.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from lossbench.models.heads import FeatureClassifier, make_classifier
from lossbench.models.init import apl_init


class ImageNetBasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = _shortcut(cin, planes * self.expansion, stride)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.shortcut = _shortcut(cin, planes * self.expansion, stride)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x))


def _shortcut(cin: int, cout: int, stride: int) -> nn.Module:
    if stride == 1 and cin == cout:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))


DEPTHS = {18: (ImageNetBasicBlock, (2, 2, 2, 2)), 34: (ImageNetBasicBlock, (3, 4, 6, 3)), 50: (Bottleneck, (3, 4, 6, 3))}


class ResNet(FeatureClassifier):
    """ResNet-`depth` (18, 34 or 50) for small images."""

    def __init__(self, *, num_classes: int, in_channels: int = 3, image_size: int = 32, depth: int = 50,
                 width: int = 64, classifier: str = "linear", head_bias_init: str = "none",
                 posthoc_weight_norm_tau: float | None = None):
        super().__init__()
        if depth not in DEPTHS:
            raise ValueError(f"model.depth={depth!r} is not one of {', '.join(map(str, DEPTHS))}.")
        if not isinstance(width, int) or isinstance(width, bool) or width < 1:
            raise ValueError(f"model.width={width!r}: give the first stage's channel count, a whole number >= 1 "
                             f"(64 is the reference network).")
        block, counts = DEPTHS[depth]
        self.conv1 = nn.Conv2d(in_channels, width, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        stages, cin = [], width
        for planes, n, stride in zip((width, 2 * width, 4 * width, 8 * width), counts, (1, 2, 2, 2)):
            for i in range(n):
                stages.append(block(cin, planes, stride if i == 0 else 1))
                cin = planes * block.expansion
        self.layers = nn.Sequential(*stages)
        self.classifier = make_classifier(classifier, cin, num_classes, head_bias_init)
        apl_init(self)
        self.set_posthoc_weight_norm(posthoc_weight_norm_tau)

    def forward_features(self, x: Tensor) -> Tensor:
        out = self.layers(F.relu(self.bn1(self.conv1(x))))
        return F.adaptive_avg_pool2d(out, 1).flatten(1)
