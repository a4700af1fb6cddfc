"""The noisy-label losses of issue 11 against their AUTHORS' CODE, rewritten here in float64 from the
cited files (same operations: softmax, clamps, one-hot masks, per-term means), in value and gradient,
for the defaults and one other published setting.

taylor_ce is not here: no code by Feng et al. (IJCAI 2020) was found; the repositories named
"TaylorCrossEntropyLoss" implement Taylor-softmax, a different loss (see its docstring). Its paper
formula is in test_formulas.py and its series identities in test_identities.py.
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from lossbench.losses import build_loss
from tests.conftest import value_and_grad

C = 10


def _one_hot(y):
    return F.one_hot(y, C).to(torch.float64)


# -- hitcszx/ALFs ------------------------------------------------------------------------------------
# lnl/losses.py at commit 1c795f9ffe2ea60c439aba2128400c2e8486101e (AGCELoss, AUELoss, AExpLoss,
# NCELoss, NCEandAGCE, NCEandAUE, NCEandAEL); settings from config.py at commit
# 898961f18e3e8fc53f1601a03fb3ddea8f81b9fc (CIFAR10_CONFIG = lossbench defaults, MNIST_CONFIG and
# CIFAR100_CONFIG the other settings). Each term is a batch mean times its `scale`. (config.py imports a
# top-level losses.py that is not in the code index we could read; lnl/losses.py is the later copy.)
def _p_y(z, y):
    return (_one_hot(y) * F.softmax(z, dim=1)).sum(dim=1)


def alfs_agce(z, y, a, q, scale=1.0):
    return ((a + 1) ** q - torch.pow(a + _p_y(z, y), q)).div(q).mean() * scale


def alfs_aul(z, y, a, q, scale=1.0):
    return (torch.pow(a - _p_y(z, y), q) - (a - 1) ** q).div(q).mean() * scale


def alfs_ael(z, y, a, scale=1.0):
    return torch.exp(-_p_y(z, y) / a).mean() * scale


def alfs_nce(z, y, scale=1.0):
    log_p = F.log_softmax(z, dim=1)
    return (-(_one_hot(y) * log_p).sum(dim=1) / -log_p.sum(dim=1)).mean() * scale


def alfs_nce_agce(z, y, alpha, beta, a, q):
    return alfs_nce(z, y, alpha) + alfs_agce(z, y, a, q, beta)


def alfs_nce_aul(z, y, alpha, beta, a, q):
    return alfs_nce(z, y, alpha) + alfs_aul(z, y, a, q, beta)


def alfs_nce_ael(z, y, alpha, beta, a):
    return alfs_nce(z, y, alpha) + alfs_ael(z, y, a, beta)


# -- ErikEnglesson/GJS --------------------------------------------------------------------------------
# losses.py at commit f12478525a21e79ed505fd670c45fb5861cb802f: JensenShannonDivergenceWeightedScaled
# (`loss: JSWCS`) with one prediction, and its custom_kl_div; js_weights "0.7 0.3" from
# scripts/C10/sym/js-40.yaml, "0.9 0.1" from scripts/C10/sym/js-80.yaml (same commit).
def _gjs_kl(mean_log, target):
    out = target * (target.clamp(min=1e-7).log() - mean_log)
    return torch.where(target > 0, out, torch.zeros_like(out)).sum(dim=1).mean()


def gjs_js(z, y, weights):
    distribs = [_one_hot(y), F.softmax(z, dim=1)]
    mean_log = sum(w * d for w, d in zip(weights, distribs)).clamp(1e-7, 1.0).log()
    scale = -1.0 / ((1.0 - weights[0]) * math.log(1.0 - weights[0]))
    return scale * sum(w * _gjs_kl(mean_log, d) for w, d in zip(weights, distribs))


# -- Alibaba-MIIL/ASL --------------------------------------------------------------------------------
# src/loss_functions/losses.py, class ASLSingleLabel, at commit 0a21a18a400934e94fd099fbeeed187bd10433f5
# (identical at 05b193d8a39bbc5fb2c3be7b52d5188416594544). The code smooths its one-hot in place after
# the weights used it, which breaks its own backward (Alibaba-MIIL/ASL issue #64); here the smoothed
# target is a new tensor, so this is the graph the code builds, with nothing detached.
def asl_single_label(z, y, gamma_pos, gamma_neg, eps):
    log_preds = F.log_softmax(z, dim=-1)
    targets = _one_hot(y)
    anti_targets = 1 - targets
    xs_pos = torch.exp(log_preds)
    xs_neg = 1 - xs_pos
    weights = torch.pow(1 - xs_pos * targets - xs_neg * anti_targets,
                        gamma_pos * targets + gamma_neg * anti_targets)
    smoothed = targets * (1 - eps) + eps / C if eps > 0 else targets
    return (-smoothed * (log_preds * weights)).sum(dim=-1).mean()


CASES = [
    ("agce", {}, lambda z, y: alfs_agce(z, y, a=0.6, q=0.6)),
    ("agce", {"a": 4.0, "q": 0.2}, lambda z, y: alfs_agce(z, y, a=4, q=0.2)),  # MNIST_CONFIG
    ("aul", {}, lambda z, y: alfs_aul(z, y, a=5.5, q=3)),
    ("aul", {"a": 3.0, "q": 0.1}, lambda z, y: alfs_aul(z, y, a=3, q=0.1)),  # MNIST_CONFIG
    ("ael", {}, lambda z, y: alfs_ael(z, y, a=2.5)),
    ("ael", {"a": 3.5}, lambda z, y: alfs_ael(z, y, a=3.5)),  # MNIST_CONFIG
    ("nce_agce", {}, lambda z, y: alfs_nce_agce(z, y, alpha=1, beta=4, a=6, q=1.5)),
    ("nce_agce", {"alpha": 10.0, "beta": 0.1, "a": 1.8, "q": 3.0},  # CIFAR100_CONFIG
     lambda z, y: alfs_nce_agce(z, y, alpha=10, beta=0.1, a=1.8, q=3)),
    ("nce_aul", {}, lambda z, y: alfs_nce_aul(z, y, alpha=1, beta=4, a=6.3, q=1.5)),
    ("nce_aul", {"alpha": 10.0, "beta": 0.015, "a": 6.0, "q": 3.0},  # CIFAR100_CONFIG
     lambda z, y: alfs_nce_aul(z, y, alpha=10, beta=0.015, a=6, q=3)),
    ("nce_ael", {}, lambda z, y: alfs_nce_ael(z, y, alpha=1, beta=4, a=5)),
    ("nce_ael", {"alpha": 10.0, "beta": 0.1, "a": 1.5},  # CIFAR100_CONFIG
     lambda z, y: alfs_nce_ael(z, y, alpha=10, beta=0.1, a=1.5)),
    ("js", {}, lambda z, y: gjs_js(z, y, weights=[0.7, 0.3])),
    ("js", {"pi1": 0.9}, lambda z, y: gjs_js(z, y, weights=[0.9, 0.1])),
    ("asl", {}, lambda z, y: asl_single_label(z, y, gamma_pos=0, gamma_neg=4, eps=0.1)),
    ("asl", {"gamma_pos": 1.0, "gamma_neg": 2.0, "eps": 0.2},
     lambda z, y: asl_single_label(z, y, gamma_pos=1, gamma_neg=2, eps=0.2)),
]
IDS = [name + "".join(f"-{k}={v}" for k, v in params.items()) for name, params, _ in CASES]


def _batch(scale, n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, C, generator=g, dtype=torch.float64) * scale
    targets = torch.randint(0, C, (n,), generator=g)
    targets[: n // 2] = logits[: n // 2].argmax(dim=1)  # half confidently right at large scales
    return logits, targets


@pytest.mark.parametrize("scale", [1.0, 10.0, 30.0])  # at 10 and 30 many p_k fall below the code's 1e-7 clamps
@pytest.mark.parametrize("name,params,reference", CASES, ids=IDS)
def test_loss_matches_the_authors_code_in_float64(name, params, reference, scale):
    logits, targets = _batch(scale)
    value, grad = value_and_grad(build_loss(name, num_classes=C, **params), logits, targets)
    ref_value, ref_grad = value_and_grad(reference, logits, targets)
    torch.testing.assert_close(value, ref_value, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-7, atol=1e-12)


def test_js_clamps_matter_at_large_logits_and_clamp_probs_false_is_the_exact_divergence():
    # The code's clamps change the loss where p_k < 1e-7 / pi2: lossbench's default follows them,
    # clamp_probs=false does not; the docstring bounds the gap by 1e-7 / pi2 per class.
    logits, targets = _batch(30.0)
    code = gjs_js(logits, targets, weights=[0.7, 0.3])
    exact = build_loss("js", num_classes=C, clamp_probs=False)(logits, targets)
    assert 0 < (code - exact).abs() <= (C - 1) * 1e-7 / 0.3
    torch.testing.assert_close(build_loss("js", num_classes=C)(logits, targets), code, rtol=1e-12, atol=1e-15)
