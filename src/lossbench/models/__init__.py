"""Models: plain nn.Modules (no Lightning). Each takes num_classes, in_channels and image_size
(filled in from the data module), a `classifier: linear|cosine` head, `head_bias_init: none|sigmoid_prior` and
`posthoc_weight_norm_tau` (tau-normalised weights at evaluation; null = off). Every model is a
`FeatureClassifier`: `forward_features(x)` -> features, `head(features)` -> logits."""
from lossbench.models.affine import Affine
from lossbench.models.cnn8 import CNN8
from lossbench.models.heads import CosineClassifier, FeatureClassifier, make_classifier
from lossbench.models.mlp import MLP
from lossbench.models.resnet import ResNet
from lossbench.models.resnet_cifar import CifarResNet, ResNet32
from lossbench.models.small_cnn import SmallCNN

__all__ = ["Affine", "MLP", "SmallCNN", "CifarResNet", "ResNet32", "CNN8", "ResNet", "CosineClassifier", "FeatureClassifier",
           "make_classifier"]
