"""An affine classifier: logits = W x + b on the flattened input, nothing else. The model of the
synthetic experiment of Menon et al., "Long-tail learning via logit adjustment", ICLR 2021, section
6.1 (a linear scorer with a bias, on 2-D points); on images it is multinomial logistic regression."""
from __future__ import annotations

import torch
from torch import Tensor

from lossbench.models.heads import FeatureClassifier, make_classifier


class Affine(FeatureClassifier):
    """Flatten -> classifier; the features are the input itself."""

    def __init__(self, *, num_classes: int, in_channels: int, image_size: int, classifier: str = "linear",
                 head_bias_init: str = "none", posthoc_weight_norm_tau: float | None = None,
                 pin_last_logit: bool = False):
        super().__init__()
        if not isinstance(pin_last_logit, bool):
            raise ValueError(f"model.pin_last_logit={pin_last_logit!r} is not true or false.")
        if pin_last_logit and (classifier != "linear" or head_bias_init != "none" or posthoc_weight_norm_tau is not None):
            raise ValueError("model.pin_last_logit=true is multinomial logistic regression's form: it needs "
                             "model.classifier=linear, model.head_bias_init=none and no model.posthoc_weight_norm_tau.")
        self.in_features = int(in_channels) * int(image_size) * int(image_size)
        self.pin_last_logit = pin_last_logit
        self.classifier = make_classifier(classifier, self.in_features, num_classes - pin_last_logit, head_bias_init)
        self.set_posthoc_weight_norm(posthoc_weight_norm_tau)

    def head(self, features: Tensor) -> Tensor:
        logits = super().head(features)
        if self.pin_last_logit:
            logits = torch.cat([logits, logits.new_zeros(len(logits), 1)], dim=1)
        return logits

    def forward_features(self, x: Tensor) -> Tensor:
        return x.flatten(1)
