"""Seesaw's running state: the cumulative class counts N live in a persistent buffer, grow in training
mode only, travel in state_dict (so in checkpoints), and a restored loss continues exactly."""
from __future__ import annotations

import math

import torch

from lossbench.losses import build_loss
from lossbench.models import MLP
from lossbench.module import ClassificationModule

C = 5


def _batch(seed, n=24):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, C, generator=g, dtype=torch.float64) * 3, torch.randint(0, C, (n,), generator=g)


def _feed(loss_fn, seeds):
    for seed in seeds:
        loss_fn(*_batch(seed))


def test_counts_accumulate_in_training_mode_only():
    loss_fn = build_loss("seesaw", num_classes=C)
    assert loss_fn.cum_samples.dtype == torch.int64 and loss_fn.cum_samples.sum() == 0
    _feed(loss_fn, [0, 1])
    expected = torch.bincount(_batch(0)[1], minlength=C) + torch.bincount(_batch(1)[1], minlength=C)
    assert torch.equal(loss_fn.cum_samples, expected)
    loss_fn.eval()
    _feed(loss_fn, [2])
    assert torch.equal(loss_fn.cum_samples, expected)


def test_mitigation_uses_the_cumulative_counts():
    # History N = (100, 10, 1); one sample of class 0 with equal logits, so no compensation:
    # l = -log(1 / (1 + (10/100)^p + (1/100)^p)).
    p = 0.8
    loss_fn = build_loss("seesaw", num_classes=3, p=p)
    history = torch.tensor([0] * 100 + [1] * 10 + [2])
    loss_fn(torch.zeros(len(history), 3, dtype=torch.float64), history)
    loss_fn.eval()
    value = loss_fn(torch.zeros(1, 3, dtype=torch.float64), torch.tensor([0]))
    assert abs(value.item() - math.log(1 + 0.1 ** p + 0.01 ** p)) < 1e-14
    # The rare class's sample is not mitigated (N_j > N_y for every other class): plain CE.
    rare = loss_fn(torch.zeros(1, 3, dtype=torch.float64), torch.tensor([2]))
    assert abs(rare.item() - math.log(3)) < 1e-14


def test_state_dict_round_trip_restores_the_counts_and_the_next_loss():
    original = build_loss("seesaw", num_classes=C)
    _feed(original, [0, 1, 2])
    state = original.state_dict()
    assert set(state) == {"cum_samples"} and torch.equal(state["cum_samples"], original.cum_samples)

    restored = build_loss("seesaw", num_classes=C)
    restored.load_state_dict(state)
    assert torch.equal(restored.cum_samples, original.cum_samples)

    logits, targets = _batch(3)
    values, grads = [], []
    for loss_fn in (original, restored):
        z = logits.clone().requires_grad_(True)
        value = loss_fn(z, targets)
        values.append(value.detach())
        grads.append(torch.autograd.grad(value, z)[0])
    assert torch.equal(values[0], values[1]) and torch.equal(grads[0], grads[1])
    assert torch.equal(restored.cum_samples, original.cum_samples)
    # ... and the history matters: a fresh loss gives another value on the same batch.
    assert build_loss("seesaw", num_classes=C)(logits, targets) != values[0]


def test_counts_are_in_the_training_modules_checkpoint_state():
    loss_fn = build_loss("seesaw", num_classes=C)
    module = ClassificationModule(model=MLP(num_classes=C, in_channels=1, image_size=4, hidden=(8,)), loss=loss_fn,
                                  optimizer=lambda params: torch.optim.SGD(params, lr=0.1), scheduler=None,
                                  class_counts=[1] * C)
    _feed(loss_fn, [0])
    state = module.state_dict()
    assert torch.equal(state["loss_fn.cum_samples"], loss_fn.cum_samples)
    fresh = ClassificationModule(model=MLP(num_classes=C, in_channels=1, image_size=4, hidden=(8,)),
                                 loss=build_loss("seesaw", num_classes=C), optimizer=None, scheduler=None,
                                 class_counts=[1] * C)
    fresh.load_state_dict(state)
    assert torch.equal(fresh.loss_fn.cum_samples, loss_fn.cum_samples)
    assert fresh.loss_fn.cum_samples.sum() == 24  # the one batch fed above
