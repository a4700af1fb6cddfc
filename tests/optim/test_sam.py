"""SAM and ASAM (optim/sam.py): one step on a quadratic is the closed form, the optimizer's state
(the base's momentum) survives a checkpoint, bad settings are refused with what to do, and the
module's BatchNorm freeze for SAM's second pass leaves the running statistics alone.
(tests/optim/test_sam_jobs.py runs SAM through real jobs.)"""
from __future__ import annotations

import pytest
import torch
from torch import nn

from lossbench.module import batchnorm_stats_frozen
from lossbench.optim import SAM

A = torch.tensor([3.0, 0.5, 1.5], dtype=torch.float64)  # f(w) = 1/2 sum a w^2 - b.w, gradient a w - b
B = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
W0 = torch.tensor([0.7, -0.3, 1.2], dtype=torch.float64)
LR = 0.1


def _step(opt: SAM, w: nn.Parameter) -> None:
    """One SAM step on the quadratic, with the closure Lightning would give (zero, loss, backward)."""
    def closure():
        opt.zero_grad()
        loss = 0.5 * (A * w * w).sum() - (B * w).sum()
        loss.backward()
        return loss

    opt.step(closure)


def _one_step(**sam) -> torch.Tensor:
    w = nn.Parameter(W0.clone())
    _step(SAM([w], base="sgd", lr=LR, **sam), w)
    return w.detach()


def _gradient(w: torch.Tensor) -> torch.Tensor:
    return A * w - B


@pytest.mark.parametrize("rho", [0.05, 0.5])
def test_sam_step_on_a_quadratic_is_the_closed_form(rho):
    g = _gradient(W0)
    e = rho * g / g.norm()
    assert torch.allclose(_one_step(rho=rho), W0 - LR * _gradient(W0 + e), rtol=0, atol=1e-12)


@pytest.mark.parametrize("eta", [0.0, 0.01])
def test_asam_step_on_a_quadratic_is_the_closed_form(eta):
    rho, g, t = 0.5, _gradient(W0), W0.abs() + eta
    e = rho * t * t * g / (t * g).norm()  # Kwon et al. 2021, eq. (10): rho T^2 g / ||T g||
    assert torch.allclose(_one_step(rho=rho, adaptive=True, eta=eta), W0 - LR * _gradient(W0 + e), rtol=0, atol=1e-12)


def test_rho_zero_is_the_base_optimizer():
    assert torch.allclose(_one_step(rho=0.0), W0 - LR * _gradient(W0), rtol=0, atol=1e-15)


def test_the_base_momentum_survives_a_state_dict_round_trip():
    def run(steps: int, restore_after: int | None) -> torch.Tensor:
        w = nn.Parameter(W0.clone())
        opt = SAM([w], base="sgd", lr=LR, momentum=0.9, rho=0.1)
        for i in range(steps):
            if i == restore_after:
                saved = opt.state_dict()
                w = nn.Parameter(w.detach().clone())
                opt = SAM([w], base="sgd", lr=LR, momentum=0.9, rho=0.1)
                opt.load_state_dict(saved)
            _step(opt, w)
        return w.detach()

    assert torch.equal(run(4, None), run(4, 2))
    assert set(SAM([nn.Parameter(W0.clone())], lr=LR).state_dict()["param_groups"][0]) >= {"rho", "lr", "momentum"}


def test_bad_settings_say_what_to_do():
    w = [nn.Parameter(W0.clone())]
    with pytest.raises(ValueError, match="~optimizer.momentum"):
        SAM(w, base="adamw", lr=LR, momentum=0.9)
    with pytest.raises(ValueError, match="one of sgd"):
        SAM(w, base="lion", lr=LR)
    with pytest.raises(ValueError, match="rho"):
        SAM(w, lr=LR, rho=-1)
    with pytest.raises(RuntimeError, match="closure"):
        SAM(w, lr=LR).step()


def test_batchnorm_statistics_stay_while_frozen_and_the_output_is_the_training_one():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6)).train()
    x = torch.randn(16, 4)
    model(x)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with batchnorm_stats_frozen(model):
        frozen_out = model(x)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.allclose(frozen_out, model(x))  # batch statistics, as in training
    assert model[1].momentum == 0.1
