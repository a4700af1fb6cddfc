"""Models: shapes, the ResNet-32 of the long-tail literature, and the cosine head."""
from __future__ import annotations

import functools

import pytest
import torch

from lossbench.models import CNN8, MLP, CosineClassifier, ResNet, ResNet32, SmallCNN


def test_resnet32_has_the_papers_size():
    # He et al. 2016, Table 6: ResNet-32 for CIFAR-10 has 0.46M parameters.
    model = ResNet32(num_classes=10, in_channels=3)
    n_params = sum(p.numel() for p in model.parameters())
    assert 0.455e6 < n_params < 0.47e6
    assert len(model.layers) == 15  # 3 stages x 5 basic blocks, 6n+2 = 32 layers
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_resnet_option_a_shortcut_zero_pads_new_channels():
    block = ResNet32(num_classes=10).layers[5]  # first block of stage 2: 16 -> 32 channels, stride 2
    x = torch.randn(1, 16, 8, 8)
    shortcut = block.shortcut(x)
    assert shortcut.shape == (1, 32, 4, 4)
    assert torch.equal(shortcut[:, 8:24], x[:, :, ::2, ::2])
    assert shortcut[:, :8].abs().sum() == 0 and shortcut[:, 24:].abs().sum() == 0


def test_cosine_classifier_outputs_cosines():
    head = CosineClassifier(64, 10)
    features = torch.randn(5, 64) * 100
    logits = head(features)
    expected = torch.nn.functional.cosine_similarity(features[:, :, None], head.weight[None], dim=1)
    assert torch.allclose(logits, expected, atol=1e-5)
    assert logits.abs().max() <= 1 + 1e-6


@pytest.mark.parametrize("classifier", ["linear", "cosine"])
@pytest.mark.parametrize("size,channels", [(8, 1), (28, 1), (32, 3)])
def test_small_models_take_any_small_image(classifier, size, channels):
    for model in (SmallCNN(num_classes=7, in_channels=channels, image_size=size, classifier=classifier),
                  MLP(num_classes=7, in_channels=channels, image_size=size, classifier=classifier)):
        assert model(torch.zeros(3, channels, size, size)).shape == (3, 7)


def test_unknown_classifier_is_a_clear_error():
    with pytest.raises(ValueError, match="model.classifier='cos' is not one of linear, cosine"):
        SmallCNN(num_classes=10, in_channels=1, classifier="cos")


MODELS_WITH_A_HEAD = [MLP, SmallCNN, ResNet32, CNN8]  # CNN8: its apl_init re-initialises weights after the head


@pytest.mark.parametrize("model_cls", MODELS_WITH_A_HEAD)
@pytest.mark.parametrize("num_classes", [2, 10, 100])
def test_sigmoid_prior_head_bias_starts_every_sigmoid_at_one_over_c(model_cls, num_classes):
    # class-balanced-loss reference (richardaecn, src/model_base.py): bias -log(C - 1).
    torch.manual_seed(0)
    model = model_cls(num_classes=num_classes, in_channels=3, image_size=32, head_bias_init="sigmoid_prior")
    bias = model.classifier.bias.detach()
    expected = torch.full((num_classes,), -torch.log(torch.tensor(num_classes - 1.0)).item())
    torch.testing.assert_close(bias, expected)
    torch.testing.assert_close(torch.sigmoid(bias), torch.full((num_classes,), 1.0 / num_classes))
    # Only the bias changes: the weights are those of the default model with the same seed.
    torch.manual_seed(0)
    default = model_cls(num_classes=num_classes, in_channels=3, image_size=32)
    assert torch.equal(model.classifier.weight, default.classifier.weight)
    assert not torch.allclose(default.classifier.bias, bias)


def test_head_bias_init_errors_name_the_option():
    with pytest.raises(ValueError, match="model.head_bias_init='prior' is not one of none, sigmoid_prior"):
        MLP(num_classes=10, in_channels=1, image_size=8, head_bias_init="prior")
    with pytest.raises(ValueError, match="cosine classifier has none"):
        SmallCNN(num_classes=10, in_channels=1, classifier="cosine", head_bias_init="sigmoid_prior")


ALL_MODELS = [MLP, SmallCNN, ResNet32, CNN8, functools.partial(ResNet, depth=18)]


@pytest.mark.parametrize("model_cls", ALL_MODELS)
def test_forward_is_the_head_of_the_features(model_cls):
    torch.manual_seed(0)
    model = model_cls(num_classes=7, in_channels=3, image_size=16).eval()
    x = torch.randn(3, 3, 16, 16)
    features = model.forward_features(x)
    assert features.ndim == 2 and features.shape[0] == 3
    assert torch.equal(model.head(features), model(x))
    assert torch.equal(model.classifier(features), model(x))  # the head is the classifier layer


@pytest.mark.parametrize("tau", [0.0, 0.5, 1.0, 2.0])
def test_posthoc_weight_norm_tau_divides_each_class_weight_by_its_norm_to_the_tau_at_eval_only(tau):
    torch.manual_seed(0)
    model = MLP(num_classes=4, in_channels=1, image_size=4, hidden=(6,), posthoc_weight_norm_tau=tau)
    x = torch.randn(5, 1, 4, 4)
    features = model.forward_features(x)
    w, b = model.classifier.weight, model.classifier.bias
    model.train()
    torch.testing.assert_close(model(x), features @ w.t() + b)  # training: the plain linear head
    model.eval()
    # Kang et al. (classifier-balancing tau_norm.py): logits_ij = <f_i, w_j> / ||w_j||^tau, no bias.
    expected = torch.stack([features @ w[j] / w[j].norm() ** tau for j in range(4)], dim=1)
    torch.testing.assert_close(model(x), expected)
    if tau == 1.0:  # unit-norm class weights
        torch.testing.assert_close(model(x), features @ torch.nn.functional.normalize(w, dim=1).t())


def test_posthoc_weight_norm_tau_errors_name_the_option():
    with pytest.raises(ValueError, match="model.posthoc_weight_norm_tau=-1.0 is out of range"):
        MLP(num_classes=4, in_channels=1, image_size=4, posthoc_weight_norm_tau=-1.0)
    with pytest.raises(ValueError, match="posthoc_weight_norm_tau needs model.classifier=linear"):
        SmallCNN(num_classes=4, in_channels=1, classifier="cosine", posthoc_weight_norm_tau=1.0)
