"""The 8-layer CNN of the Active Passive Losses experiments on CIFAR-10 (Ma et al., "Normalized Loss
Functions for Deep Learning with Noisy Labels", ICML 2020), as its reference code builds it
(HanxunH/Active-Passive-Losses, models.py, `ToyModel(type='CIFAR10')`):

  3 blocks of [conv3x3 -> BN -> ReLU] x 2 + max-pool 2x2, at 64 / 128 / 196 channels
  (the convolutions keep their bias, as there), then FC(196*(s/8)^2 -> 256) -> BN -> ReLU -> classifier.

Initialisation as the reference: Kaiming-uniform (fan_in, ReLU) convolutions, Xavier-uniform linear
layers. The flattened size follows the input (4x4x196 for 32x32 images, as the reference hard-codes),
so the same model also runs on the small synthetic images of smoke tests.
"""
from __future__ import annotations

from torch import Tensor, nn

from lossbench.models.heads import FeatureClassifier, make_classifier
from lossbench.models.init import apl_init

WIDTHS = (64, 128, 196)


def _conv(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]


class CNN8(FeatureClassifier):
    """Six conv layers and two fully connected layers (8 weight layers)."""

    def __init__(self, *, num_classes: int, in_channels: int = 3, image_size: int = 32,
                 hidden: int = 256, classifier: str = "linear", head_bias_init: str = "none",
                 posthoc_weight_norm_tau: float | None = None):
        super().__init__()
        if image_size < 8:
            raise ValueError(f"model=cnn8 needs images of at least 8x8 pixels (three 2x2 max-pools); got "
                             f"image_size={image_size}.")
        layers, cin = [], in_channels
        for width in WIDTHS:
            layers += [*_conv(cin, width), *_conv(width, width), nn.MaxPool2d(2, 2)]
            cin = width
        side = image_size // 8
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.fc1 = nn.Sequential(nn.Linear(WIDTHS[-1] * side * side, hidden), nn.BatchNorm1d(hidden), nn.ReLU())
        self.classifier = make_classifier(classifier, hidden, num_classes, head_bias_init)
        apl_init(self)
        self.set_posthoc_weight_norm(posthoc_weight_norm_tau)

    def forward_features(self, x: Tensor) -> Tensor:
        return self.fc1(self.features(x))
