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
    "eql gamma=0": ("eql", {"gamma": 0.0, "lambda_": 0.5}),
    "eql lambda=0 (no rare class)": ("eql", {"lambda_": 0.0}),
    "seesaw p=0 q=0": ("seesaw", {"p": 0.0, "q": 0.0}),
    "label_aware_smoothing eps=0": ("label_aware_smoothing", {"eps_head": 0.0, "eps_tail": 0.0}),
    "mmce lambda_=0": ("mmce", {"lambda_": 0.0}),
    "mdca beta=0": ("mdca", {"beta": 0.0}),
    "mbls alpha=0": ("mbls", {"alpha": 0.0}),
    "flsd all gammas 0": ("flsd", {"gamma_low": 0.0, "gamma_mid": 0.0, "gamma": 0.0}),
    "bi_tempered t1=t2=1": ("bi_tempered", {"t1": 1.0, "t2": 1.0}),
    "pairwise_margin margin=none": ("pairwise_margin", {"margin": "none"}),
    "pairwise_margin tau=0": ("pairwise_margin", {"margin": "adaptive", "tau": 0.0}),
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


@pytest.mark.parametrize("tau", [0.5, 1.0, 2.0])
def test_pairwise_margin_logit_adjusted_is_logit_adjust(tau):
    logits, targets = _batch(3.0, seed=5)
    pm = build_loss("pairwise_margin", num_classes=C, class_counts=COUNTS, margin="logit_adjusted", tau=tau)
    la = build_loss("logit_adjust", num_classes=C, class_counts=COUNTS, tau=tau)
    torch.testing.assert_close(_value_and_grad(pm, logits, targets), _value_and_grad(la, logits, targets),
                               rtol=1e-12, atol=1e-14)


def test_pairwise_margin_adaptive_is_unscaled_ldam_with_the_rarest_class_margin_pi_min_to_minus_a_quarter():
    # LDAM's margins are max_margin n_y^(-1/4) / max n^(-1/4); with max_margin = pi_min^(-1/4) they are pi_y^(-1/4).
    logits, targets = _batch(3.0, seed=6)
    pi_min = min(COUNTS) / sum(COUNTS)
    pm = build_loss("pairwise_margin", num_classes=C, class_counts=COUNTS, margin="adaptive")
    ldam = build_loss("ldam", num_classes=C, class_counts=COUNTS, max_margin=pi_min ** -0.25, scale=1.0)
    torch.testing.assert_close(_value_and_grad(pm, logits, targets), _value_and_grad(ldam, logits, targets),
                               rtol=1e-12, atol=1e-14)


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


@pytest.mark.parametrize("profile", ["concave", "linear", "convex"])
def test_label_aware_smoothing_with_equal_ends_is_label_smoothing(profile):
    logits, targets = _batch(5.0, seed=2)
    las = build_loss("label_aware_smoothing", num_classes=C, class_counts=COUNTS, eps_head=0.2, eps_tail=0.2,
                     profile=profile)
    smoothed = lambda z, y: F.cross_entropy(z, y, label_smoothing=0.2)  # noqa: E731
    torch.testing.assert_close(_value_and_grad(las, logits, targets), _value_and_grad(smoothed, logits, targets),
                               rtol=1e-12, atol=1e-14)


def test_label_aware_smoothing_on_balanced_counts_is_label_smoothing_at_eps_head():
    # The reference's factors are 0/0 there; lossbench treats every class as a head class.
    logits, targets = _batch(5.0, seed=3)
    las = build_loss("label_aware_smoothing", num_classes=C, class_counts=[30] * C)
    torch.testing.assert_close(las(logits, targets), F.cross_entropy(logits, targets, label_smoothing=0.3),
                               rtol=1e-12, atol=1e-14)


def test_label_aware_smoothing_factors_run_from_eps_tail_to_eps_head():
    for profile in ("concave", "linear", "convex"):
        las = build_loss("label_aware_smoothing", num_classes=C, class_counts=COUNTS, eps_head=0.3, eps_tail=0.1,
                         profile=profile)
        assert las.smoothing[0].item() == pytest.approx(0.3, abs=1e-15)   # the commonest class
        assert las.smoothing[-1].item() == pytest.approx(0.1, abs=1e-15)  # the rarest class
        assert (las.smoothing.diff() <= 0).all()                          # monotone in the count
    mid = [build_loss("label_aware_smoothing", num_classes=3, class_counts=[10, 6, 2], profile=p).smoothing[1].item()
           for p in ("concave", "linear", "convex")]
    assert mid == pytest.approx([0.3 * 2 ** -0.5, 0.15, 0.3 * (1 - 2 ** -0.5)], abs=1e-15)


@pytest.mark.parametrize("scale", [1.0, 30.0])
def test_cb_focal_at_gamma_zero_is_cb_sigmoid(scale):
    logits, targets = _batch(scale, seed=4)
    a = _value_and_grad(build_loss("cb_focal", num_classes=C, class_counts=COUNTS, gamma=0.0), logits, targets)
    b = _value_and_grad(build_loss("cb_sigmoid", num_classes=C, class_counts=COUNTS), logits, targets)
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


def test_cb_sigmoid_is_weighted_binary_cross_entropy():
    logits, targets = _batch(3.0, seed=5)
    loss_fn = build_loss("cb_sigmoid", num_classes=C, class_counts=COUNTS, beta=0.99)
    bce = F.binary_cross_entropy_with_logits(logits, F.one_hot(targets, C).double(), reduction="none").sum(dim=1)
    torch.testing.assert_close(loss_fn(logits, targets), (loss_fn.cb_weights[targets] * bce).mean())


def test_lade_at_alpha_zero_is_balanced_softmax_up_to_the_codes_1e9():
    logits, targets = _batch(5.0, seed=6)
    lade = build_loss("lade", num_classes=C, class_counts=COUNTS, alpha=0.0)
    bs = build_loss("balanced_softmax", num_classes=C, class_counts=COUNTS)
    torch.testing.assert_close(_value_and_grad(lade, logits, targets), _value_and_grad(bs, logits, targets),
                               rtol=1e-6, atol=1e-8)


# -- the noisy-label losses of issue 11 -------------------------------------------------------------
@pytest.mark.parametrize("eps", [0.0, 0.1, 0.6])
def test_asl_without_focusing_is_label_smoothed_ce(eps):
    logits, targets = _batch(6.0, seed=5)
    asl = _value_and_grad(build_loss("asl", num_classes=C, gamma_pos=0.0, gamma_neg=0.0, eps=eps), logits, targets)
    ls = _value_and_grad(lambda z, y: F.cross_entropy(z, y, label_smoothing=eps), logits, targets)
    torch.testing.assert_close(asl, ls, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_asl_without_smoothing_is_focal_whatever_gamma_neg(gamma):
    logits, targets = _batch(6.0, seed=6)
    focal = _value_and_grad(build_loss("focal", num_classes=C, gamma=gamma), logits, targets)
    for gamma_neg in (0.0, 4.0):
        asl = build_loss("asl", num_classes=C, gamma_pos=gamma, gamma_neg=gamma_neg, eps=0.0)
        torch.testing.assert_close(_value_and_grad(asl, logits, targets), focal, rtol=1e-12, atol=1e-14)


def test_taylor_ce_of_order_one_is_mae():
    logits, targets = _batch(5.0, seed=7)
    torch.testing.assert_close(_value_and_grad(build_loss("taylor_ce", num_classes=C, t=1), logits, targets),
                               _value_and_grad(build_loss("mae", num_classes=C), logits, targets),
                               rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("t", [2, 10, 100])
def test_taylor_ce_is_ce_less_its_series_tail(t):
    # -log p = sum_k (1-p)^k / k, so CE - taylor_ce(t) = sum_{k>t} (1-p)^k / k lies between its first
    # term (1-p)^(t+1)/(t+1) and sum_{k>t} (1-p)^k/(t+1) = (1-p)^(t+1)/((t+1) p).
    logits, targets = _batch(1.0, seed=8)
    ce = F.cross_entropy(logits, targets, reduction="none")
    p = torch.exp(-ce)
    tail = ce - build_loss("taylor_ce", num_classes=C, t=t).per_sample(logits, targets)
    first_term = (1 - p) ** (t + 1) / (t + 1)
    assert (tail >= first_term * (1 - 1e-9) - 1e-15).all()
    assert (tail <= first_term / p * (1 + 1e-9) + 1e-15).all()


@pytest.mark.parametrize("name,single,params", [("nce_agce", "agce", {"a": 2.0, "q": 0.7}),
                                                ("nce_aul", "aul", {"a": 3.0, "q": 1.5}),
                                                ("nce_ael", "ael", {"a": 1.5})])
def test_nce_combinations_are_alpha_nce_plus_beta_the_single_loss(name, single, params):
    logits, targets = _batch(4.0, seed=9)
    alpha, beta = 2.5, 0.3
    combined = _value_and_grad(build_loss(name, num_classes=C, alpha=alpha, beta=beta, **params), logits, targets)
    nce, part = build_loss("nce", num_classes=C), build_loss(single, num_classes=C, **params)
    expected = _value_and_grad(lambda z, y: alpha * nce(z, y) + beta * part(z, y), logits, targets)
    torch.testing.assert_close(combined, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("pi1", [1e-6, 1e-8])
def test_js_tends_to_ce_as_pi1_tends_to_zero(pi1):
    # JS_pi / Z = CE + O(pi1 / p_y) (expand log m_y = log(pi2 p_y) + log(1 + pi1 / (pi2 p_y))).
    logits, targets = _batch(2.0, seed=10)
    ce = F.cross_entropy(logits, targets, reduction="none")
    js = build_loss("js", num_classes=C, pi1=pi1, clamp_probs=False).per_sample(logits, targets)
    assert ((js - ce).abs() <= 2 * pi1 / torch.exp(-ce) + 1e-9).all()


def test_js_tends_to_mae_as_pi1_tends_to_one():
    # JS_pi / Z = (1 - p_y) + [(1 - p_y) + p_y log p_y] / (-log pi2) + O(pi2 log pi2).
    logits, targets = _batch(2.0, seed=11)
    pi2 = 1e-9
    ce = F.cross_entropy(logits, targets, reduction="none")
    p = torch.exp(-ce)
    js = build_loss("js", num_classes=C, pi1=1 - pi2, clamp_probs=False).per_sample(logits, targets)
    first_order = (1 - p) + ((1 - p) - p * ce) / -torch.log(torch.tensor(pi2, dtype=torch.float64))
    torch.testing.assert_close(js, first_order, rtol=0, atol=1e-7)
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
