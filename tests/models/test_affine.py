"""The affine model: logits = W x + b on the flattened input, its features the input itself."""
from __future__ import annotations

import pytest
import torch

from lossbench.models import Affine


def test_affine_logits_are_w_x_plus_b_of_the_flattened_input():
    torch.manual_seed(0)
    model = Affine(num_classes=2, in_channels=2, image_size=1)
    with torch.no_grad():
        model.classifier.weight.copy_(torch.tensor([[1.0, -2.0], [0.5, 3.0]]))
        model.classifier.bias.copy_(torch.tensor([0.25, -1.0]))
    x = torch.tensor([[1.0, 2.0], [-3.0, 0.5]]).view(2, 2, 1, 1)
    expected = torch.tensor([[1 - 4 + 0.25, 0.5 + 6 - 1], [-3 - 1 + 0.25, -1.5 + 1.5 - 1]])
    torch.testing.assert_close(model(x), expected)
    assert torch.equal(model.forward_features(x), x.flatten(1))


@pytest.mark.parametrize("channels,size", [(2, 1), (1, 8), (3, 32)])
def test_affine_has_exactly_one_weight_per_input_and_class_plus_a_bias(channels, size):
    model = Affine(num_classes=7, in_channels=channels, image_size=size)
    assert sum(p.numel() for p in model.parameters()) == 7 * channels * size * size + 7
    assert model(torch.zeros(4, channels, size, size)).shape == (4, 7)


def test_affine_takes_the_cosine_head_and_the_head_options():
    cosine = Affine(num_classes=3, in_channels=2, image_size=1, classifier="cosine")
    assert cosine(torch.randn(5, 2, 1, 1)).abs().max() <= 1 + 1e-6
    prior = Affine(num_classes=4, in_channels=2, image_size=1, head_bias_init="sigmoid_prior")
    torch.testing.assert_close(prior.classifier.bias, torch.full((4,), -torch.log(torch.tensor(3.0)).item()))
    with pytest.raises(ValueError, match="model.classifier='conv' is not one of linear, cosine"):
        Affine(num_classes=3, in_channels=2, image_size=1, classifier="conv")


def test_pinned_last_logit_is_multinomial_logistic_regression_with_c_minus_1_rows():
    torch.manual_seed(0)
    model = Affine(num_classes=4, in_channels=3, image_size=1, pin_last_logit=True)
    assert model.classifier.weight.shape == (3, 3)  # C - 1 rows, as the LegendreTron authors' linear model
    x = torch.randn(5, 3, 1, 1)
    logits = model(x)
    assert logits.shape == (5, 4) and torch.equal(logits[:, 3], torch.zeros(5))
    torch.testing.assert_close(logits[:, :3], x.flatten(1) @ model.classifier.weight.T + model.classifier.bias)
    with pytest.raises(ValueError, match="pin_last_logit=true is multinomial logistic regression's form"):
        Affine(num_classes=4, in_channels=3, image_size=1, pin_last_logit=True, classifier="cosine")
