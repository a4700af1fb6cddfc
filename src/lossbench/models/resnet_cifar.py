"""CIFAR ResNets of He et al. 2016 (Sec. 4.2): 3 stages of n BasicBlocks at 16/32/64 channels,
option-A (zero-padding) shortcuts, depth 6n+2. ResNet-32 (n=5, 0.46M parameters) is the model of
the long-tail literature; this follows LDAM-DRW's models/resnet_cifar.py, including its Kaiming
initialisation and the optional cosine classifier (`use_norm` there, `classifier=cosine` here).
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from lossbench.models.heads import FeatureClassifier, make_classifier


class CifarBasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.pad = cout - cin if (stride != 1 or cin != cout) else 0  # option A shortcut

    def shortcut(self, x: Tensor) -> Tensor:
        if not self.pad:
            return x
        # Subsample spatially and zero-pad the new channels, as the reference LambdaLayer does.
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad // 2, self.pad // 2))

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(FeatureClassifier):
    def __init__(self, *, num_classes: int, in_channels: int = 3, image_size: int = 32,
                 depth: int = 32, classifier: str = "linear", head_bias_init: str = "none",
                 posthoc_weight_norm_tau: float | None = None):
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"model.depth={depth} is not 6n+2 (20, 32, 44, 56, 110).")
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        blocks, cin = [], 16
        for cout, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(n):
                blocks.append(CifarBasicBlock(cin, cout, stride if i == 0 else 1))
                cin = cout
        self.layers = nn.Sequential(*blocks)
        self.classifier = make_classifier(classifier, 64, num_classes, head_bias_init)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                nn.init.kaiming_normal_(m.weight)
        self.set_posthoc_weight_norm(posthoc_weight_norm_tau)

    def forward_features(self, x: Tensor) -> Tensor:
        out = self.layers(F.relu(self.bn1(self.conv1(x))))
        return F.adaptive_avg_pool2d(out, 1).flatten(1)


def ResNet32(**kwargs) -> CifarResNet:  # noqa: N802  (a constructor, named like the paper's model)
    return CifarResNet(depth=32, **kwargs)
