"""The models the sweeps add: the APL 8-layer CNN and the ResNet of the APL code; sizes derived from
the layer shapes of the reference models.py (HanxunH/Active-Passive-Losses)."""
from __future__ import annotations

import pytest
import torch

from lossbench.models import CNN8, ResNet


def conv(cin, cout, k, bias):
    return cin * cout * k * k + (cout if bias else 0)


def bn(c):
    return 2 * c


def test_cnn8_has_the_reference_layers():
    widths = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 196), (196, 196)]
    expected = sum(conv(a, b, 3, True) + bn(b) for a, b in widths)
    expected += (4 * 4 * 196 * 256 + 256) + bn(256) + (256 * 10 + 10)
    model = CNN8(num_classes=10)
    assert sum(p.numel() for p in model.parameters()) == expected
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert CNN8(num_classes=5, in_channels=1, image_size=8)(torch.randn(3, 1, 8, 8)).shape == (3, 5)


def _resnet_params(depth, num_classes, width=64):
    total, cin = conv(3, width, 3, False) + bn(width), width
    blocks = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3)}[depth]
    for planes, n, stride in zip((width, 2 * width, 4 * width, 8 * width), blocks, (1, 2, 2, 2)):
        for i in range(n):
            s = stride if i == 0 else 1
            if depth == 50:
                out = 4 * planes
                total += conv(cin, planes, 1, False) + bn(planes) + conv(planes, planes, 3, False) + bn(planes)
                total += conv(planes, out, 1, False) + bn(out)
            else:
                out = planes
                total += conv(cin, planes, 3, False) + bn(planes) + conv(planes, planes, 3, False) + bn(planes)
            if s != 1 or cin != out:
                total += conv(cin, out, 1, False) + bn(out)
            cin = out
    return total + cin * num_classes + num_classes


@pytest.mark.parametrize("depth", [18, 34, 50])
def test_resnet_matches_the_reference_block_layout(depth):
    model = ResNet(num_classes=100, depth=depth)
    assert sum(p.numel() for p in model.parameters()) == _resnet_params(depth, 100)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 100)


@pytest.mark.parametrize("depth", [18, 50])
def test_a_narrow_resnet_has_the_same_layout_at_its_width(depth):
    model = ResNet(num_classes=10, depth=depth, width=4)
    assert sum(p.numel() for p in model.parameters()) == _resnet_params(depth, 10, width=4)
    assert model(torch.randn(2, 3, 8, 8)).shape == (2, 10)


@pytest.mark.parametrize("width", [0, 2.5, True])
def test_resnet_rejects_a_width_that_is_not_a_positive_whole_number(width):
    with pytest.raises(ValueError, match="model.width="):
        ResNet(num_classes=10, depth=18, width=width)


def test_resnet_rejects_an_unknown_depth():
    with pytest.raises(ValueError, match="model.depth=20 is not one of 18, 34, 50"):
        ResNet(num_classes=10, depth=20)
