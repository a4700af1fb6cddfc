"""Losses with parameters of their own: their own optimizer group (lr = loss.lr_scale x the
optimizer's, loss.weight_decay; the loss's declared defaults otherwise), one group as before for a
loss without any, the options refused where there is nothing to set, and the count in
`lossbench list losses`. (tests/test_learned_loss_jobs.py trains one through real jobs.)"""
from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

from lossbench.cli import _learned_count
from lossbench.errors import UsageError
from lossbench.losses import build_loss
from lossbench.module import loss_param_groups
from lossbench.optim import SAM
from lossbench.train import _check_learned_options
from tests.learned_losses import TemperatureCE

SGD = functools.partial(torch.optim.SGD, lr=0.1, momentum=0.9, weight_decay=5e-4)


def _holder(loss: nn.Module) -> nn.Module:
    """A network and its loss, as the training module holds them."""
    holder = nn.Module()
    holder.model, holder.loss_fn = nn.Linear(4, 3), loss
    return holder


def test_a_learned_loss_gets_its_own_group_with_its_lr_and_weight_decay():
    loss = TemperatureCE(num_classes=3, lr_scale=2.0, weight_decay=0.1)
    holder = _holder(loss)
    optimizer = SGD(params=loss_param_groups(holder, loss, SGD))
    network, own = optimizer.param_groups
    assert [p is loss.log_t for p in own["params"]] == [True]
    assert all(p is not loss.log_t for p in network["params"]) and len(network["params"]) == 2
    assert (network["lr"], network["weight_decay"]) == (0.1, 5e-4)
    assert own["lr"] == pytest.approx(0.2) and own["weight_decay"] == 0.1


def test_the_losss_declared_defaults_apply_when_the_config_leaves_them():
    loss = TemperatureCE(num_classes=3)
    own = SGD(params=loss_param_groups(_holder(loss), loss, SGD)).param_groups[1]
    assert own["lr"] == pytest.approx(0.05) and own["weight_decay"] == 0.0


def test_a_loss_without_parameters_leaves_one_group():
    loss = build_loss("ce", num_classes=3)
    assert len(SGD(params=loss_param_groups(_holder(loss), loss, SGD)).param_groups) == 1


def test_sam_keeps_the_losss_group():
    loss = TemperatureCE(num_classes=3, lr_scale=2.0)
    holder = _holder(loss)
    optimizer = SAM(loss_param_groups(holder, loss, SGD), base="sgd", lr=0.1)
    assert [g["lr"] for g in optimizer.param_groups] == [0.1, pytest.approx(0.2)]


def test_group_options_for_a_loss_without_parameters_are_refused():
    with pytest.raises(UsageError, match="loss.lr_scale: loss ce has no parameters of its own"):
        _check_learned_options(build_loss("ce", num_classes=3, lr_scale=0.5))
    _check_learned_options(TemperatureCE(num_classes=3, lr_scale=0.5))  # a learned loss takes them
    with pytest.raises(ValueError, match="lr_scale"):
        TemperatureCE(num_classes=3, lr_scale=0.0)


def test_list_losses_counts_what_a_loss_learns():
    assert _learned_count(TemperatureCE, {}) == 1
    assert _learned_count(type(build_loss("ce", num_classes=3)), {}) == 0
