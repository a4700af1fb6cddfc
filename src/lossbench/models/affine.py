"""An affine classifier: logits = W x + b on the flattened input, nothing else. The model of the
synthetic experiment of Menon et al., "Long-tail learning via logit adjustment", ICLR 2021, section
6.1 (a linear scorer with a bias, on 2-D points); on images it is multinomial logistic regression."""
from __future__ import annotations

from torch import Tensor

from lossbench.models.heads import FeatureClassifier, make_classifier


class Affine(FeatureClassifier):
    """Flatten -> classifier; the features are the input itself."""

    def __init__(self, *, num_classes: int, in_channels: int, image_size: int, classifier: str = "linear",
                 head_bias_init: str = "none", posthoc_weight_norm_tau: float | None = None):
        super().__init__()
        self.in_features = int(in_channels) * int(image_size) * int(image_size)
        self.classifier = make_classifier(classifier, self.in_features, num_classes, head_bias_init)
        self.set_posthoc_weight_norm(posthoc_weight_norm_tau)

    def forward_features(self, x: Tensor) -> Tensor:
        return x.flatten(1)
