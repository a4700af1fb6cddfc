"""Special cases that must equal plain cross-entropy (or each other) exactly, in value and gradient."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lossbench.losses import build_loss

C = 7
COUNTS = [100, 60, 35, 20, 12, 7, 4]


def _value_and_grad(loss_fn, logits, targets):
    z = logits.clone().requires_grad_(True)
    value = loss_fn(z, targets)
    (grad,) = torch.autograd.grad(value, z)
    return value.detach(), grad


def _batch(scale: float, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(64, C, generator=g, dtype=torch.float64) * scale, torch.randint(0, C, (64,), generator=g)


CE_CASES = {
    "focal gamma=0": ("focal", {"gamma": 0.0}),
    "poly1 epsilon=0": ("poly1", {"epsilon": 0.0}),
    "comp_sum tau=1": ("comp_sum", {"tau": 1.0}),
    "logit_adjust tau=0": ("logit_adjust", {"tau": 0.0}),
    "vs gamma=0 tau=0": ("vs", {"gamma": 0.0, "tau": 0.0}),
    "ce label_smoothing=0": ("ce", {"label_smoothing": 0.0}),
    "ldam max_margin=0 scale=1": ("ldam", {"max_margin": 0.0, "scale": 1.0}),
    "poly1_focal epsilon=0 gamma=0": ("poly1_focal", {"epsilon": 0.0, "gamma": 0.0}),
    "dual_focal gamma=0": ("dual_focal", {"gamma": 0.0}),
    "sce alpha=1 beta=0": ("sce", {"alpha": 1.0, "beta": 0.0}),
    "mmce lambda_=0": ("mmce", {"lambda_": 0.0}),
    "mdca beta=0": ("mdca", {"beta": 0.0}),
    "mbls alpha=0": ("mbls", {"alpha": 0.0}),
    "flsd all gammas 0": ("flsd", {"gamma_low": 0.0, "gamma_mid": 0.0, "gamma": 0.0}),
    "bi_tempered t1=t2=1": ("bi_tempered", {"t1": 1.0, "t2": 1.0}),
}


@pytest.mark.parametrize("case", CE_CASES, ids=list(CE_CASES))
@pytest.mark.parametrize("scale", [1.0, 30.0])
def test_special_case_equals_cross_entropy(case, scale):
    name, params = CE_CASES[case]
    logits, targets = _batch(scale)
    loss_fn = build_loss(name, num_classes=C, class_counts=COUNTS, **params)
    value, grad = _value_and_grad(loss_fn, logits, targets)
    ce_value, ce_grad = _value_and_grad(lambda z, y: F.cross_entropy(z, y), logits, targets)
    torch.testing.assert_close(value, ce_value, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad, ce_grad, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("q", [0.1, 0.5, 0.7, 1.0])
def test_comp_sum_at_one_plus_q_is_gce(q):
    logits, targets = _batch(5.0, seed=1)
    a = _value_and_grad(build_loss("comp_sum", num_classes=C, tau=1.0 + q), logits, targets)
    b = _value_and_grad(build_loss("gce", num_classes=C, q=q), logits, targets)
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


def test_comp_sum_at_two_and_gce_at_one_are_mae():
    logits, targets = _batch(5.0, seed=2)
    mae = _value_and_grad(build_loss("mae", num_classes=C), logits, targets)
    for loss_fn in (build_loss("comp_sum", num_classes=C, tau=2.0), build_loss("gce", num_classes=C, q=1.0)):
        torch.testing.assert_close(_value_and_grad(loss_fn, logits, targets), mae, rtol=1e-12, atol=1e-14)


def test_balanced_softmax_is_logit_adjust_at_tau_one_and_vs_at_gamma_zero():
    logits, targets = _batch(3.0, seed=3)
    bs = _value_and_grad(build_loss("balanced_softmax", num_classes=C, class_counts=COUNTS), logits, targets)
    la = _value_and_grad(build_loss("logit_adjust", num_classes=C, class_counts=COUNTS, tau=1.0), logits, targets)
    vs = _value_and_grad(build_loss("vs", num_classes=C, class_counts=COUNTS, gamma=0.0, tau=1.0), logits, targets)
    torch.testing.assert_close(bs, la, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(vs, la, rtol=1e-12, atol=1e-14)


def test_focal_and_dual_focal_agree_when_the_target_is_top_and_no_other_class_matters():
    # With C = 2 and the target on top, p_j = 1 - p_y, so dual focal's base is 2 (1 - p_y).
    logits = torch.tensor([[3.0, -1.0], [0.5, 0.2]], dtype=torch.float64)
    targets = torch.tensor([0, 0])
    gamma = 1.5
    dual = build_loss("dual_focal", num_classes=2, gamma=gamma)(logits, targets)
    focal = build_loss("focal", num_classes=2, gamma=gamma)(logits, targets)
    torch.testing.assert_close(dual, focal * 2.0 ** gamma, rtol=1e-12, atol=0)


def test_ldr_kl_on_raw_logits_without_margin_is_ce_minus_log_c():
    logits, targets = _batch(4.0, seed=4)
    ldr = build_loss("ldr_kl", num_classes=C, normalize=False, margin=0.0, lambda_=1.0)
    value, grad = _value_and_grad(ldr, logits, targets)
    ce_value, ce_grad = _value_and_grad(lambda z, y: F.cross_entropy(z, y), logits, targets)
    torch.testing.assert_close(value, ce_value - torch.log(torch.tensor(float(C), dtype=torch.float64)),
                               rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad, ce_grad, rtol=1e-10, atol=1e-14)


def test_square_with_k_and_m_one_is_mean_squared_error_to_the_one_hot_target():
    logits, targets = _batch(3.0, seed=5)
    loss_fn = build_loss("square", num_classes=C)  # C = 7: the paper's unscaled setting k = M = 1
    expected = _value_and_grad(lambda z, y: F.mse_loss(z, F.one_hot(y, C).double()), logits, targets)
    torch.testing.assert_close(_value_and_grad(loss_fn, logits, targets), expected, rtol=1e-12, atol=1e-14)


def test_flsd_with_one_gamma_everywhere_is_focal():
    logits, targets = _batch(3.0, seed=6)
    flsd = build_loss("flsd", num_classes=C, gamma_low=2.0, gamma_mid=2.0, gamma=2.0)
    focal = build_loss("focal", num_classes=C, gamma=2.0)
    torch.testing.assert_close(_value_and_grad(flsd, logits, targets), _value_and_grad(focal, logits, targets),
                               rtol=1e-12, atol=1e-14)


def test_spherical_z_is_shift_and_scale_invariant():
    logits, targets = _batch(3.0, seed=7)
    loss_fn = build_loss("spherical_z", num_classes=C, a=0.5, b=2.0)
    torch.testing.assert_close(loss_fn(logits * 7.5 - 40.0, targets), loss_fn(logits, targets), rtol=1e-12, atol=0)


def test_mmce_and_mdca_vanish_on_a_batch_that_is_calibrated_in_the_batch_sense():
    # Every sample right with confidence 1 (huge margin): MMCE's c - r and MDCA's gaps are ~0, so
    # the loss is the cross-entropy, which is ~0 too; then a batch where all are wrong is penalised.
    targets = torch.arange(C)
    right = torch.eye(C, dtype=torch.float64) * 60.0
    for name in ("mmce", "mdca"):
        assert build_loss(name, num_classes=C)(right, targets).item() < 1e-20
    wrong = right[:, torch.roll(torch.arange(C), 1)]
    mmce = build_loss("mmce", num_classes=C, lambda_=1.0)(wrong, targets) - F.cross_entropy(wrong, targets)
    torch.testing.assert_close(mmce, torch.tensor(1.0, dtype=torch.float64))  # (c - r) = -1 and k = 1 everywhere
