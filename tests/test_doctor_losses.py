"""`lossbench doctor --losses`: every shipped loss against float64 on this CPU. In float32 each one
agrees with its float64 self to float32 accuracy; under bf16-mixed the error is that of bf16 (the
logits' gradient is a bf16 tensor, as in training), and a loss that is not finite is flagged."""
from __future__ import annotations

import math

import torch
from torch import nn

from lossbench.doctor_losses import check_losses, check_one
from lossbench.losses import list_losses
from lossbench.paths import group_options

BF16_EPS = 2.0 ** -8  # bf16's unit roundoff (8 significant bits)


def test_every_shipped_loss_agrees_with_float64_in_float32():
    results = check_losses("32-true")
    assert list(results) == [n for n in group_options("loss") if n in list_losses("multiclass")]
    for name, r in results.items():
        assert r["finite"], name
        assert r["max_rel_err_value"] < 1e-5, (name, r)
        assert r["max_rel_err_grad"] < 1e-4, (name, r)


def test_bf16_autocast_errors_are_bf16_sized():
    r = check_losses("bf16-mixed", ["ce", "focal", "ldam"])
    for name, result in r.items():
        # The value is computed in float32 from bf16 logits (the reference has the same logits); the
        # gradient w.r.t. the logits is rounded to bf16 on its way back to the model.
        assert result["max_rel_err_value"] < 1e-5, (name, result)
        assert BF16_EPS / 16 < result["max_rel_err_grad"] < 2 * BF16_EPS, (name, result)


class _LogOfNegative(nn.Module):
    needs = frozenset()

    def forward(self, logits, targets):
        return torch.log(logits.float().min() - logits.float().max() - 1.0)  # log of a negative number: NaN


def test_a_loss_that_is_not_finite_is_flagged():
    r = check_one(lambda c, counts: _LogOfNegative(), torch.device("cpu"), "32-true")
    assert r["finite"] is False and math.isnan(r["max_rel_err_value"]) and math.isnan(r["max_rel_err_grad"])
