"""A multi-layer perceptron on flattened images: the smallest useful model (for digits, tests)."""
from __future__ import annotations

from torch import Tensor, nn

from lossbench.models.heads import FeatureClassifier, make_classifier


class MLP(FeatureClassifier):
    """Flatten -> [Linear -> ReLU] x len(hidden) -> classifier."""

    def __init__(self, *, num_classes: int, in_channels: int, image_size: int,
                 hidden: tuple[int, ...] = (256, 128), classifier: str = "linear", head_bias_init: str = "none",
                 posthoc_weight_norm_tau: float | None = None):
        super().__init__()
        layers, width = [nn.Flatten()], in_channels * image_size * image_size
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(inplace=True)]
            width = h
        self.features = nn.Sequential(*layers)
        self.classifier = make_classifier(classifier, width, num_classes, head_bias_init)
        self.set_posthoc_weight_norm(posthoc_weight_norm_tau)

    def forward_features(self, x: Tensor) -> Tensor:
        return self.features(x)
