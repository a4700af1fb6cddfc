"""A small CNN for 8x8 to 32x32 images: trains on 2 CPU cores in seconds on digits, in minutes on
Fashion-MNIST. Three 3x3 conv blocks (BatchNorm, ReLU), one 2x2 max-pool, global average pooling."""
from __future__ import annotations

from torch import Tensor, nn

from lossbench.models.heads import FeatureClassifier, make_classifier


def _conv_block(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class SmallCNN(FeatureClassifier):
    def __init__(self, *, num_classes: int, in_channels: int, image_size: int = 32,
                 width: int = 32, classifier: str = "linear", head_bias_init: str = "none",
                 posthoc_weight_norm_tau: float | None = None):
        super().__init__()
        self.features = nn.Sequential(
            *_conv_block(in_channels, width), nn.MaxPool2d(2),
            *_conv_block(width, 2 * width),
            *_conv_block(2 * width, 4 * width),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = make_classifier(classifier, 4 * width, num_classes, head_bias_init)
        self.set_posthoc_weight_norm(posthoc_weight_norm_tau)

    def forward_features(self, x: Tensor) -> Tensor:
        return self.features(x)
