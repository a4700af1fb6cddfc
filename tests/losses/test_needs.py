"""The losses that need more than (logits, targets): ib and ib_focal (features), elr (indices),
anl_ce (model). Each against a float64 implementation of its formula written here (value, and the
gradient with respect to every input that carries one), then stability at |z| up to 1e4 in float32
and under bf16 autocast with the loss's extra term switched on, gradcheck with respect to the
extra inputs, and the call contract (`needs`)."""
from __future__ import annotations

import math

import pytest
import torch

from lossbench.losses import build_loss, get_loss_class, list_losses

C = 7
COUNTS = torch.tensor([100.0, 60, 35, 20, 12, 7, 4], dtype=torch.float64)
SCALES = [0.5, 5.0, 100.0]
N, D = 24, 5


# -- the formulas ----------------------------------------------------------------------------------
def probs(z):
    return torch.exp(z - torch.logsumexp(z, dim=1, keepdim=True))


def onehot(y):
    return torch.zeros(len(y), C, dtype=torch.float64).scatter(1, y[:, None], 1.0)


def ce(z, y):
    """-log p_y = log(1 + sum_{k != y} exp(z_k - z_y)), with log1p where the target is on top, so a
    CE of 1e-80 is not rounded to 0 (the focal factors below take its power)."""
    d = (z - z.gather(1, y[:, None])).masked_fill(onehot(y) > 0, -math.inf)  # z_k - z_y, k != y
    m = d.max(dim=1).values
    on_top = torch.log1p(torch.exp(d.clamp(max=0.0)).sum(dim=1))
    below = m + torch.log(torch.exp(-m.clamp(min=0.0)) + torch.exp(d - m.clamp(min=0.0)[:, None]).sum(dim=1))
    return torch.where(m < 0, on_top, below)


def inverse_weights():
    w = 1 / COUNTS
    return w / w.sum() * C


def cb_weights(beta):
    # pseulki/IB-Loss (commit e15d390), cifar_train.py, --train_rule CBReweight: (1 - beta) / (1 - beta^n), summing to C.
    w = (1 - beta) / (1 - beta ** COUNTS)
    return w / w.sum() * C


def ib(z, y, f, alpha=1000.0, epsilon=1e-3, weighting="inverse", gamma=None, p_from_weighted_ce=True,
       reweight_beta=0.9999):
    # Park et al. 2021: CE / (||dCE/dz||_1 ||h||_1), scaled by alpha, with class weights w.
    w = {"inverse": inverse_weights, "class_balanced": lambda: cb_weights(reweight_beta),
         "none": lambda: torch.ones(C, dtype=torch.float64)}[weighting]()[y]
    influence = alpha / ((probs(z) - onehot(y)).abs().sum(dim=1) * f.abs().sum(dim=1) + epsilon)
    loss = w * ce(z, y)
    if gamma is not None:
        one_minus_p = -torch.expm1(-(loss if p_from_weighted_ce else ce(z, y)))  # 1 - p, no cancellation
        loss = one_minus_p ** gamma * loss
    return (loss * influence).mean()


def elr_steps(batches, lambda_=3.0, beta=0.7, num_samples=40):
    """The loss of each (z, y, idx) batch in turn, the targets starting at zero."""
    t = torch.zeros(num_samples, C, dtype=torch.float64)
    out = []
    for z, y, idx in batches:
        p = probs(z).clamp(1e-4, 1 - 1e-4)
        q = p.detach() / p.detach().sum(dim=1, keepdim=True)
        t[idx] = beta * t[idx] + (1 - beta) * q
        out.append(ce(z, y).mean() + lambda_ * torch.log(1 - (t[idx] * p).sum(dim=1)).mean())
    return out


def anl_ce(z, y, model, alpha=5.0, beta=5.0, delta=5e-5, min_prob=1e-7):
    log_p = z - torch.logsumexp(z, dim=1, keepdim=True)
    nce = -log_p.gather(1, y[:, None]).squeeze(1) / -log_p.sum(dim=1)
    v = -math.log(min_prob) + torch.log(probs(z).clamp(min=min_prob))
    nnce = 1 - v.gather(1, y[:, None]).squeeze(1) / v.sum(dim=1)
    l1 = sum(p.abs().sum() for p in model.parameters())
    return (alpha * nce + beta * nnce).mean() + delta * l1


# -- the cases -------------------------------------------------------------------------------------
def _batch(scale, seed=0, n=N):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, C, generator=g, dtype=torch.float64) * scale
    y = torch.randint(0, C, (n,), generator=g)
    y[: n // 2] = z[: n // 2].argmax(dim=1)  # half the targets on top
    f = torch.randn(n, D, generator=g, dtype=torch.float64).abs() * torch.rand(n, 1, generator=g, dtype=torch.float64)
    return z, y, f


def _grads(value, *leaves):
    return [g for g in torch.autograd.grad(value, leaves)]


IB_CASES = [("ib", {}), ("ib", {"alpha": 10.0, "epsilon": 0.1, "weighting": "none"}),
            ("ib", {"weighting": "class_balanced"}), ("ib", {"weighting": "class_balanced", "reweight_beta": 0.99}),
            ("ib_focal", {}), ("ib_focal", {"gamma": 2.0, "alpha": 50.0}),
            ("ib_focal", {"gamma": 0.5, "p_from_weighted_ce": False})]


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("name,params", IB_CASES, ids=[f"{n}-{'-'.join(p)}" for n, p in IB_CASES])
def test_ib_matches_its_formula_in_value_and_gradient(name, params, scale):
    z, y, f = _batch(scale)
    loss_fn = build_loss(name, num_classes=C, class_counts=COUNTS.tolist(), start_epoch=0, **params)
    zl, fl = z.clone().requires_grad_(True), f.clone().requires_grad_(True)
    value = loss_fn(zl, y, features=fl)
    zr, fr = z.clone().requires_grad_(True), f.clone().requires_grad_(True)
    gamma = params.get("gamma", 1.0) if name == "ib_focal" else None
    ref_params = {k: v for k, v in params.items() if k != "gamma"}
    ref = ib(zr, y, fr, gamma=gamma, **ref_params)
    torch.testing.assert_close(value, ref, rtol=1e-9, atol=1e-12)
    for got, want in zip(_grads(value, zl, fl), _grads(ref, zr, fr)):
        torch.testing.assert_close(got, want, rtol=1e-7, atol=1e-10)


def test_ib_is_plain_ce_before_start_epoch_and_switches_at_it():
    z, y, f = _batch(3.0)
    loss_fn = build_loss("ib", num_classes=C, class_counts=COUNTS.tolist(), start_epoch=3)
    for epoch in range(3):
        loss_fn.set_epoch(epoch)
        torch.testing.assert_close(loss_fn(z, y, features=f), ce(z, y).mean(), rtol=1e-12, atol=0)
    loss_fn.set_epoch(3)
    torch.testing.assert_close(loss_fn(z, y, features=f), ib(z, y, f), rtol=1e-9, atol=0)


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("params", [{}, {"lambda_": 1.0, "beta": 0.3}])
def test_elr_matches_its_formula_over_two_steps_in_value_and_gradient(params, scale):
    (z1, y1, _), (z2, y2, _) = _batch(scale, seed=1), _batch(scale, seed=2)
    idx1, idx2 = torch.arange(N), torch.arange(N) + N // 2  # half the second batch was in the first
    loss_fn = build_loss("elr", num_classes=C, num_samples=40, **params).double()
    ref_leaves = [z1.clone().requires_grad_(True), z2.clone().requires_grad_(True)]
    refs = elr_steps([(ref_leaves[0], y1, idx1), (ref_leaves[1], y2, idx2)], **params)
    for z, y, idx, ref, ref_leaf in ((z1, y1, idx1, refs[0], ref_leaves[0]), (z2, y2, idx2, refs[1], ref_leaves[1])):
        leaf = z.clone().requires_grad_(True)
        value = loss_fn(leaf, y, indices=idx)
        torch.testing.assert_close(value, ref, rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(_grads(value, leaf)[0], _grads(ref, ref_leaf)[0], rtol=1e-7, atol=1e-12)


def test_elr_updates_its_targets_in_training_mode_only():
    z, y, _ = _batch(2.0)
    loss_fn = build_loss("elr", num_classes=C, num_samples=N)
    loss_fn.eval()
    loss_fn(z.float(), y, indices=torch.arange(N))
    assert loss_fn.ema_targets.abs().sum() == 0
    loss_fn.train()
    loss_fn(z.float(), y, indices=torch.arange(N))
    torch.testing.assert_close(loss_fn.ema_targets.sum(dim=1), torch.full((N,), 0.3))  # (1 - beta) * 1


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("params", [{}, {"alpha": 1.0, "beta": 2.0, "delta": 1e-2, "min_prob": 1e-3}])
def test_anl_ce_matches_its_formula_in_value_and_gradient_through_the_model(params, scale):
    z0, y, f = _batch(scale)
    torch.manual_seed(0)
    model = torch.nn.Linear(D, C).double()
    with torch.no_grad():
        model.weight.mul_(scale)
    value = build_loss("anl_ce", num_classes=C, **params)(model(f), y, model=model)
    ref = anl_ce(model(f), y, model, **params)
    torch.testing.assert_close(value, ref, rtol=1e-9, atol=1e-12)
    for got, want in zip(_grads(value, *model.parameters()), _grads(ref, *model.parameters())):
        torch.testing.assert_close(got, want, rtol=1e-7, atol=1e-12)


# -- stability with the extra terms on, gradcheck with respect to the extra inputs -------------------
def _huge(n, c, seed):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, c, generator=g) * 1e4
    y = torch.randint(0, c, (n,), generator=g)
    if n >= 3:
        z[1], z[2] = -1e4, 1e4
        z[1, y[1]], z[2, y[2]] = 1e4, -1e4  # confidently right (p_y = 1), confidently wrong (p_y = 0)
    return z, y


@pytest.mark.parametrize("autocast", [False, True])
@pytest.mark.parametrize("c", [2, 1000])
@pytest.mark.parametrize("name,params", [("ib", {"start_epoch": 0}), ("ib_focal", {"start_epoch": 0}),
                                         ("ib_focal", {"start_epoch": 0, "p_from_weighted_ce": False}),
                                         ("elr", {"num_samples": 8}), ("anl_ce", {"delta": 1e-2})])
def test_extra_terms_stay_finite_on_huge_logits(name, params, c, autocast):
    counts = [max(1, int(500 * 0.99 ** k)) for k in range(c)]
    loss_fn = build_loss(name, num_classes=c, class_counts=counts, **params)
    z, y = _huge(8, c, seed=c)
    features = (torch.randn(8, 32) * 1e3).requires_grad_(True)  # large features too
    model = torch.nn.Linear(32, c)
    dtype = torch.bfloat16 if autocast else torch.float32
    leaf = z.to(dtype).requires_grad_(True)
    inputs = {"features": features.to(dtype), "indices": torch.arange(8), "model": model}
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        value = loss_fn(leaf, y, **{k: inputs[k] for k in loss_fn.needs})
        value = loss_fn(leaf, y, **{k: inputs[k] for k in loss_fn.needs})  # elr: a second step on its targets
    value.backward()
    assert value.dtype == torch.float32 and torch.isfinite(value)
    assert torch.isfinite(leaf.grad).all()
    for tensor in [features] * ("features" in loss_fn.needs) + list(model.parameters()) * ("model" in loss_fn.needs):
        assert torch.isfinite(tensor.grad).all()


@pytest.mark.parametrize("name,params", [("ib", {"start_epoch": 0, "alpha": 2.0, "epsilon": 0.5}),
                                         ("ib_focal", {"start_epoch": 0, "alpha": 2.0, "epsilon": 0.5, "gamma": 2.0})])
def test_ib_gradcheck_with_respect_to_logits_and_features(name, params):
    z, y, f = _batch(2.0, n=6)
    loss_fn = build_loss(name, num_classes=C, class_counts=COUNTS.tolist(), **params)
    assert torch.autograd.gradcheck(lambda a, b: loss_fn(a, y, features=b),
                                    (z.requires_grad_(True), f.requires_grad_(True)), eps=1e-6, atol=1e-7, rtol=1e-5)


class _Affine(torch.nn.Module):
    """x W^T + b with W, b given tensors (gradcheck's inputs), reported by `parameters()`."""

    def __init__(self, weight, bias):
        super().__init__()
        self.w, self.b = weight, bias

    def parameters(self, recurse=True):
        return iter((self.w, self.b))

    def forward(self, x):
        return x @ self.w.t() + self.b


def test_anl_ce_gradcheck_with_respect_to_the_model_parameters():
    _, y, f = _batch(2.0, n=6)
    g = torch.Generator().manual_seed(3)
    w, b = torch.randn(C, D, generator=g, dtype=torch.float64), torch.randn(C, generator=g, dtype=torch.float64)
    loss_fn = build_loss("anl_ce", num_classes=C, delta=1e-2, min_prob=1e-3)

    def loss_of_parameters(weight, bias):
        model = _Affine(weight, bias)
        return loss_fn(model(f), y, model=model)

    assert torch.autograd.gradcheck(loss_of_parameters, (w.requires_grad_(True), b.requires_grad_(True)), eps=1e-6,
                                    atol=1e-7, rtol=1e-5)


# -- the contract ----------------------------------------------------------------------------------
def test_every_loss_with_needs_has_a_formula_test_here():
    assert sorted(name for name in list_losses() if get_loss_class(name).needs) == ["anl_ce", "elr", "ib", "ib_focal"]


def test_a_missing_or_unexpected_keyword_is_a_type_error_naming_it():
    z, y, f = _batch(1.0)
    ib_loss = build_loss("ib", num_classes=C, class_counts=COUNTS.tolist())
    with pytest.raises(TypeError, match=r"loss 'ib' takes \(logits, targets\) and features=; got none"):
        ib_loss(z, y)
    with pytest.raises(TypeError, match="got features=, indices="):
        ib_loss(z, y, features=f, indices=torch.arange(N))
    with pytest.raises(TypeError, match=r"loss 'ce' takes \(logits, targets\) and no keyword; got features="):
        build_loss("ce", num_classes=C)(z, y, features=f)


def test_elr_without_a_training_set_size_says_how_to_give_it():
    z, y, _ = _batch(1.0)
    with pytest.raises(ValueError, match="pass num_samples= or train it through ClassificationModule"):
        build_loss("elr", num_classes=C)(z, y, indices=torch.arange(N))
    loss_fn = build_loss("elr", num_classes=C, num_samples=10)
    with pytest.raises(ValueError, match="holds targets for 10 samples but the training set has 12"):
        loss_fn.bind_training_set(num_samples=12)
