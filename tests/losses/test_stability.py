"""Numerical robustness: finite values and gradients for logits up to 1e4 in float32 and under CPU
bf16 autocast, batch of 1, C = 2 and C = 1000; torch.autograd.gradcheck in float64."""
from __future__ import annotations

import pytest
import torch

from lossbench.losses import build_loss, list_losses
from lossbench.losses.base import learned_parameters

NAMES = list_losses("multiclass")  # the binary losses: tests/losses/test_binary.py


def _counts(c):
    return [max(1, int(500 * 0.99 ** k)) for k in range(c)]


def _logits(n, c, seed):
    """Gaussian logits scaled to 1e4, plus extreme rows: target far on top, far at the bottom, all equal."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, c, generator=g) * 1e4
    y = torch.randint(0, c, (n,), generator=g)
    if n >= 4:
        z[1] = -1e4
        z[1, y[1]] = 1e4   # confidently right: p_y rounds to 1
        z[2] = 1e4
        z[2, y[2]] = -1e4  # confidently wrong: p_y underflows to 0
        z[3] = -1e4        # all equal, very negative
    return z, y


def _assert_finite(loss_fn, z, y, autocast=False, inputs=None):
    leaf = z.clone().requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        value = loss_fn(leaf, y, **(inputs or {}))
    value.backward()
    assert value.dtype == torch.float32  # never computed in bf16
    assert torch.isfinite(value), f"{loss_fn.name}: loss {value.item()}"
    assert torch.isfinite(leaf.grad).all(), f"{loss_fn.name}: non-finite gradient"


@pytest.mark.parametrize("c", [2, 1000])
@pytest.mark.parametrize("n", [1, 8])
@pytest.mark.parametrize("name", NAMES)
def test_huge_logits_give_finite_loss_and_gradient_in_float32_and_bf16_autocast(name, n, c, needs_inputs):
    loss_fn = build_loss(name, num_classes=c, class_counts=_counts(c))
    z, y = _logits(n, c, seed=n * c)
    _assert_finite(loss_fn, z, y, inputs=needs_inputs(loss_fn, z))
    _assert_finite(loss_fn, z.bfloat16(), y, autocast=True, inputs=needs_inputs(loss_fn, z.bfloat16()))


@pytest.mark.parametrize("name", NAMES)
def test_bf16_autocast_through_a_linear_layer(name, needs_inputs):
    torch.manual_seed(0)
    layer = torch.nn.Linear(16, 10)
    loss_fn = build_loss(name, num_classes=10, class_counts=_counts(10))
    x, y = torch.randn(8, 16) * 1e3, torch.randint(0, 10, (8,))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = layer(x)
        assert logits.dtype == torch.bfloat16
        inputs = needs_inputs(loss_fn, logits)
        # the layer's input is the features, the layer is the model
        inputs.update({k: v for k, v in (("features", x), ("model", layer)) if k in inputs})
        value = loss_fn(logits, y, **inputs)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(layer.weight.grad).all()


@pytest.mark.parametrize("params", [{"t1": 1.0, "t2": 1.01}, {"t1": 0.0, "t2": 4.0}, {"t1": 0.5, "t2": 1.0},
                                    {"t1": 1.0, "t2": 1.2, "num_iters": 1}])
def test_bi_tempered_settings_stay_finite_on_huge_logits(params):
    # t2 = 1.01 underflows p (gaps 2e4) in float32: log_t1(p_y) at t1 = 1 must still be finite.
    for c in (2, 1000):
        loss_fn = build_loss("bi_tempered", num_classes=c, **params)
        z, y = _logits(8, c, seed=c)
        _assert_finite(loss_fn, z, y)
        _assert_finite(loss_fn, z.bfloat16(), y, autocast=True)


def test_options_stay_finite_on_huge_logits():
    z, y = _logits(8, 50, seed=3)
    for options in ({"logit_clip": 1.0}, {"logz_penalty": 1e-4}, {"reweight": "class_balanced"},
                    {"reweight": "inverse"}):
        _assert_finite(build_loss("focal", num_classes=50, class_counts=_counts(50), **options), z, y)
    _assert_finite(build_loss("ce", num_classes=50, logit_clip=5.0), torch.zeros(4, 50), torch.zeros(4, dtype=torch.long))


GRADCHECK_CASES = [(name, {}) for name in NAMES] + [
    ("focal", {"gamma": 0.5, "alpha": [0.5, 1.0, 2.0, 1.0, 1.0]}),
    ("focal", {"p_from_weighted_ce": True, "reweight": "class_balanced", "reweight_beta": 0.99}),
    ("ce", {"label_smoothing": 0.2, "logit_clip": 1.5, "logz_penalty": 0.1}),
    ("ldam", {"reweight": "inverse"}),
    ("pairwise_margin", {"margin": "equalised", "tau": 0.5}),
    ("pairwise_margin", {"margin": "adaptive"}),
    ("comp_sum", {"tau": 0.5}),
    ("comp_sum", {"tau": 2.5}),
    ("encouraging", {"log_end": 1.0}),
    ("dual_focal", {"second": "max_other"}),
    ("ldr_kl", {"normalize": False, "lambda_": 0.5}),
    ("cb_focal", {"gamma": 2.0, "beta": 0.99}),
    ("eql", {"gamma": 1.0, "lambda_": 0.1}),  # classes 3 and 4 always dropped (gamma < 1 would be random)
    ("seesaw", {"q": 0.0}),
    ("seesaw", {"q": 0.0, "p": 2.0}),
    ("lade", {"alpha": 1.0, "lambda_": 0.5}),
    ("label_aware_smoothing", {"profile": "convex", "eps_tail": 0.1}),
    ("agce", {"a": 1e-3, "q": 3.0}),
    ("aul", {"a": 1.05, "q": 0.5}),
    ("nce_ael", {"alpha": 0.5, "beta": 2.0, "a": 0.5}),
    ("js", {"pi1": 0.2, "clamp_probs": False}),
    ("taylor_ce", {"t": 5}),
    ("asl", {"gamma_pos": 1.5, "gamma_neg": 2.5, "eps": 0.4}),
    ("mmce", {"bandwidth": 0.1, "reweight": "inverse"}),
    ("flsd", {"gamma_low": 4.0, "gamma_mid": 2.0, "gamma": 1.0}),
    ("square", {"k": 15.0, "M": 30.0}),
    ("spherical_z", {"a": 0.3, "b": 1.0}),
    ("bi_tempered", {"t1": 0.5, "t2": 2.0}),
    ("bi_tempered", {"t1": 1.0, "t2": 1.5}),
    ("bi_tempered", {"t1": 0.2, "t2": 1.0}),
    ("ib", {"start_epoch": 0}),                  # the influence-balanced term on from the first epoch
    ("ib_focal", {"start_epoch": 0, "gamma": 2.0, "p_from_weighted_ce": False}),
    ("elr", {"lambda_": 1.0, "beta": 0.3}),
    ("anl_ce", {"alpha": 1.0, "beta": 2.0, "delta": 1e-2, "min_prob": 1e-3}),
]
# bi_tempered's gradient is the reference code's explicit one, exact for the exact normalisation;
# finite differences see the num_iters-step fixed point, so gradcheck runs it to convergence.
CONVERGED = {"bi_tempered": {"num_iters": 200}}


def _detaches_part_of_its_value(name, params):
    # Seesaw's compensation factor is computed from detached scores (as in the reference code), so for
    # q > 0 its gradient is by design not the derivative of its value; test_formulas checks that
    # gradient against the float64 reference (which detaches the same way), and q = 0 is gradchecked.
    return name == "seesaw" and params.get("q", 2.0) > 0


@pytest.mark.parametrize("name,params", GRADCHECK_CASES,
                         ids=[n + "".join(f"-{k}" for k in p) for n, p in GRADCHECK_CASES])
def test_gradcheck_in_float64(name, params, needs_inputs):
    if _detaches_part_of_its_value(name, params):
        pytest.skip("the compensation factor is detached by design: gradient checked in test_formulas instead")
    params = {**params, **CONVERGED.get(name, {})}
    loss_fn = build_loss(name, num_classes=5, class_counts=[40, 20, 10, 5, 2], **params)
    if learned_parameters(loss_fn):  # a learned link computes in its parameters' dtype
        loss_fn = loss_fn.double()
    g = torch.Generator().manual_seed(0)
    z = (torch.randn(6, 5, generator=g, dtype=torch.float64) * 2).requires_grad_(True)
    y = torch.tensor([0, 1, 2, 3, 4, 0])
    # A stateful loss (seesaw's running counts, legendretron's data-initialised ActNorms) takes one
    # training step, then is frozen: gradcheck needs the same function on every call.
    warm_up = torch.randn(8, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    loss_fn(warm_up, torch.tensor([0, 0, 0, 0, 1, 1, 2, 3]), **needs_inputs(loss_fn, warm_up))
    loss_fn.eval()
    inputs = needs_inputs(loss_fn, z.detach())  # fixed features / model: the gradient here is the logits'
    assert torch.autograd.gradcheck(lambda t: loss_fn(t, y, **inputs), (z,), eps=1e-6, atol=1e-7, rtol=1e-5)


def test_fast_softplus_matches_torch_in_value_and_gradient():
    from lossbench.losses._terms import softplus

    x = torch.cat([torch.randn(2000, dtype=torch.float64) * s for s in (0.1, 1.0, 10.0, 100.0)])
    x = torch.cat([x, torch.tensor([-800.0, -40.0, -1e-12, 0.0, 1e-12, 40.0, 800.0], dtype=torch.float64)])
    exact = x.clamp_min(0) + torch.log1p(torch.exp(-x.abs()))  # F.softplus returns x itself above 20
    torch.testing.assert_close(softplus(x), exact, rtol=1e-14, atol=1e-300)
    x32 = x.float()
    torch.testing.assert_close(softplus(x32), torch.nn.functional.softplus(x32), rtol=3e-7, atol=1e-38)
    assert torch.autograd.gradcheck(softplus, (torch.randn(50, dtype=torch.float64, requires_grad=True) * 5,))
