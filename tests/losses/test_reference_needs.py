"""The losses that need more than the logits (ib, ib_focal, elr, anl_ce) against their AUTHORS' CODE,
rewritten here in float64 from the cited files (read, not copied; the same operations: softmax,
abs of differences, clamps, weighted F.cross_entropy then .mean()), in value and in the gradient with
respect to every input that carries one, for the defaults and one other setting."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from lossbench.losses import build_loss

C = 10
COUNTS = [500, 300, 180, 110, 65, 40, 24, 14, 9, 5]


def _batch(scale, n=48, seed=0, dim=12):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, C, generator=g, dtype=torch.float64) * scale
    targets = torch.randint(0, C, (n,), generator=g)
    targets[: n // 2] = logits[: n // 2].argmax(dim=1)
    features = torch.relu(torch.randn(n, dim, generator=g, dtype=torch.float64))  # post-ReLU, as pooled features
    return logits, targets, features


def _grads(value, leaves):
    return torch.autograd.grad(value, leaves)


# -- pseulki/IB-Loss ----------------------------------------------------------------------------------
# losses.py (IBLoss, IB_FocalLoss, ib_loss, ib_focal_loss), cifar_train.py (train_rule 'IBReweight':
# per_cls_weights = 1/n normalised to sum to C; IBLoss(alpha=1000), IB_FocalLoss(alpha=1000, gamma=1)),
# models/resnet_cifar.py (the model returns torch.sum(torch.abs(features), 1) beside the logits), all
# at commit e15d390dae88d489b4c19d587cb3522e54a3dc9f. epsilon = 0.001 is fixed in the classes.
def code_ib_weights():
    w = 1.0 / torch.tensor(COUNTS, dtype=torch.float64)
    return w / w.sum() * C


def code_ib(z, y, feature_l1, weight, alpha, gamma=None):
    grads = torch.sum(torch.abs(F.softmax(z, dim=1) - F.one_hot(y, C)), 1)
    ib = alpha / (grads * feature_l1.reshape(-1) + 0.001)
    ce = F.cross_entropy(z, y, reduction="none", weight=weight)
    if gamma is None:
        return (ce * ib).mean()
    p = torch.exp(-ce)
    return ((1 - p) ** gamma * ce * ib).mean()


IB_CASES = [
    ("ib", {}, lambda z, y, h: code_ib(z, y, h, code_ib_weights(), alpha=1000)),
    ("ib", {"alpha": 10000.0, "weighting": "none"}, lambda z, y, h: code_ib(z, y, h, None, alpha=10000)),  # class defaults
    ("ib_focal", {}, lambda z, y, h: code_ib(z, y, h, code_ib_weights(), alpha=1000, gamma=1)),
    ("ib_focal", {"gamma": 2.0, "alpha": 10000.0}, lambda z, y, h: code_ib(z, y, h, code_ib_weights(), 10000, 2)),
]


@pytest.mark.parametrize("scale", [1.0, 10.0, 30.0])
@pytest.mark.parametrize("name,params,reference", IB_CASES, ids=[f"{n}-{len(p)}" for n, p, _ in IB_CASES])
def test_ib_matches_the_authors_code_in_float64(name, params, reference, scale):
    z, y, h = _batch(scale)
    loss_fn = build_loss(name, num_classes=C, class_counts=COUNTS, start_epoch=0, **params)
    leaves = (z.clone().requires_grad_(True), h.clone().requires_grad_(True))
    value = loss_fn(leaves[0], y, features=leaves[1])
    ref_leaves = (z.clone().requires_grad_(True), h.clone().requires_grad_(True))
    ref = reference(ref_leaves[0], y, torch.sum(torch.abs(ref_leaves[1]), 1).reshape(-1, 1))
    torch.testing.assert_close(value, ref, rtol=1e-9, atol=1e-12)
    for got, want in zip(_grads(value, leaves), _grads(ref, ref_leaves)):
        torch.testing.assert_close(got, want, rtol=1e-7, atol=1e-9)


def test_ib_before_start_epoch_is_the_scripts_unweighted_ce():
    # cifar_train.py: criterion = nn.CrossEntropyLoss(weight=None) while epoch < start_ib_epoch.
    z, y, h = _batch(3.0)
    loss_fn = build_loss("ib", num_classes=C, class_counts=COUNTS)  # start_epoch 100
    loss_fn.set_epoch(99)
    torch.testing.assert_close(loss_fn(z, y, features=h), F.cross_entropy(z, y), rtol=1e-12, atol=0)


# -- shengliu66/ELR -----------------------------------------------------------------------------------
# ELR/model/loss.py `elr_loss` at commit 513693ebba2fbb22c9a842fe0a3601e38d402246; beta 0.7, lambda 3
# from ELR/config_cifar10.json (commit 2f4cd322bb39e0d0180346b3aee57cc765e48831), beta 0.9, lambda 7
# from ELR/config_cifar100.json (commit 4e6cb7deb79d3d87a157a45660518c8f8e95e964). The code's target
# buffer is float32; here it is float64, and the lossbench loss is cast with .double() to match.
class CodeELR:
    def __init__(self, num_examp, beta, lam):
        self.target, self.beta, self.lam = torch.zeros(num_examp, C, dtype=torch.float64), beta, lam

    def __call__(self, index, output, label):
        y_pred = torch.clamp(F.softmax(output, dim=1), 1e-4, 1.0 - 1e-4)
        y_pred_ = y_pred.data.detach()
        self.target[index] = self.beta * self.target[index] + (1 - self.beta) * (y_pred_ / y_pred_.sum(dim=1, keepdim=True))
        ce_loss = F.cross_entropy(output, label)
        elr_reg = ((1 - (self.target[index] * y_pred).sum(dim=1)).log()).mean()
        return ce_loss + self.lam * elr_reg


@pytest.mark.parametrize("scale", [1.0, 10.0, 30.0])
@pytest.mark.parametrize("params,code_args", [({}, (0.7, 3.0)), ({"beta": 0.9, "lambda_": 7.0}, (0.9, 7.0))])
def test_elr_matches_the_authors_code_over_three_steps(params, code_args, scale):
    code = CodeELR(100, *code_args)
    loss_fn = build_loss("elr", num_classes=C, num_samples=100, **params).double()
    g = torch.Generator().manual_seed(5)
    for step in range(3):  # overlapping index sets: rows are read back after earlier updates
        z, y, _ = _batch(scale, seed=step)
        index = torch.randperm(100, generator=g)[:48]
        leaf, ref_leaf = z.clone().requires_grad_(True), z.clone().requires_grad_(True)
        value, ref = loss_fn(leaf, y, indices=index), code(index, ref_leaf, y)
        torch.testing.assert_close(value, ref, rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(_grads(value, leaf)[0], _grads(ref, ref_leaf)[0], rtol=1e-7, atol=1e-12)
    torch.testing.assert_close(loss_fn.ema_targets, code.target, rtol=1e-12, atol=1e-15)


# -- Virusdoll/Active-Negative-Loss -------------------------------------------------------------------
# loss.py at commit 0c50009cf82959310ea21365a64b01d723ccdac7: ActiveNegativeLoss(NormalizedCrossEntropy,
# NormalizedNegativeCrossEntropy(min_prob), alpha, beta, delta), whose forward adds
# delta * sum(p.abs().sum() for p in model.parameters()); trainer.py (commit f8c23b3) calls
# loss_function(logits, labels, model). Settings: config/cifar10_anl_ce.json (alpha 5, beta 5,
# delta 5e-5, min_prob 1e-7) and config/cifar100_anl_ce.json (alpha 10, beta 1, delta 5e-7), both at
# commit f8c23b3256d5b0966b9341906b87f8018bfdae7f. The code's A = -log(min_prob) is a float32 scalar;
# here it is float64.
def code_anl_ce(pred, labels, model, alpha, beta, delta, min_prob=1e-7):
    log_p = F.log_softmax(pred, dim=1)
    one_hot = F.one_hot(labels, C).to(torch.float64)
    nce = (-1 * torch.sum(one_hot * log_p, dim=1) / (-log_p.sum(dim=1))).mean()
    p = F.softmax(pred, dim=1).clamp(min=min_prob, max=1)
    v = -math.log(min_prob) + p.log()
    nnce = (1 - (one_hot * v).sum(dim=1) / v.sum(dim=1)).mean()
    l1_norm = sum(q.abs().sum() for q in model.parameters())
    return alpha * nce + beta * nnce + delta * l1_norm


@pytest.mark.parametrize("scale", [1.0, 10.0, 30.0])
@pytest.mark.parametrize("params,code_args", [({}, (5.0, 5.0, 5e-5)),
                                              ({"alpha": 10.0, "beta": 1.0, "delta": 5e-7}, (10.0, 1.0, 5e-7))])
def test_anl_ce_matches_the_authors_code_through_a_model(params, code_args, scale):
    _, y, h = _batch(1.0)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(12, 16), torch.nn.ReLU(), torch.nn.Linear(16, C)).double()
    with torch.no_grad():
        model[2].weight.mul_(scale)
    value = build_loss("anl_ce", num_classes=C, **params)(model(h), y, model=model)
    ref = code_anl_ce(model(h), y, model, *code_args)
    torch.testing.assert_close(value, ref, rtol=1e-9, atol=1e-12)
    params_ = list(model.parameters())
    for got, want in zip(_grads(value, params_), _grads(ref, params_)):
        torch.testing.assert_close(got, want, rtol=1e-7, atol=1e-12)
