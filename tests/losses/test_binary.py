"""The binary losses (losses/binary.py, anyloss.py, ensloss.py) against float64 re-implementations of
their authors' code: the EnsLoss baselines (statmlben/ensLoss fd37682, losses.py: BCELoss, Hinge,
EXP, sigmoid_focal_loss) and ensLoss's forward, AnyLoss's README losses (doheonhan/anyloss fb98590)
and its notebook's hand-derived gradients; then stability, gradcheck and learning breast_cancer."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from lossbench.losses import build_loss, list_losses
from tests.conftest import assert_finite_under_bf16_autocast, train_full_batch, value_and_grad

BINARY = ["anyloss", "bce", "binary_focal", "binary_mse", "ensloss", "exponential", "hinge", "sigmoid_ramp",
          "squared_hinge"]
COUNTS = [30, 10]  # training class counts: 40 examples, the size of _batch's batches (AnyLoss's n)


def _loss(name, **params):
    return build_loss(name, class_counts=COUNTS, **params)


def _batch(scale, n=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(n, generator=g, dtype=torch.float64) * scale
    y = torch.randint(0, 2, (n,), generator=g)
    y[:3], y[3:6] = 1, 0  # both classes present
    return s, y


# -- the authors' losses, written as their code has them ----------------------------------------------
def ref_bce(s, y):
    return torch.nn.BCEWithLogitsLoss(reduction="none")(s, y.double())


def ref_hinge(s, y):
    score = s * (2.0 * y - 1.0)
    return torch.maximum(1.0 - score, torch.zeros_like(score))


def ref_exp(s, y):
    return torch.exp(-(s * (2.0 * y - 1.0)))


def ref_focal(s, y, alpha=-1, gamma=2):
    t = y.double()
    p = torch.sigmoid(s)
    ce = F.binary_cross_entropy_with_logits(s, t, reduction="none")
    p_t = p * t + (1 - p) * (1 - t)
    loss = ce * ((1 - p_t) ** gamma)
    if alpha >= 0:
        loss = (alpha * t + (1 - alpha) * (1 - t)) * loss
    return loss


REFERENCES = {
    "bce": ref_bce, "hinge": ref_hinge, "exponential": ref_exp,
    "squared_hinge": lambda s, y: ref_hinge(s, y) ** 2,
    "sigmoid_ramp": lambda s, y: 1 - torch.sigmoid(s * (2.0 * y - 1.0)),
    "binary_focal": ref_focal,
    # AnyLoss's MSE baseline (notebook 4-22: tf.reduce_mean(tf.math.square(y_true - y_pred)), y_pred = sigmoid(s))
    "binary_mse": lambda s, y: (y.double() - torch.sigmoid(s)) ** 2,
}


def test_list_losses_by_task():
    assert list_losses("binary") == BINARY
    assert not set(BINARY) & set(list_losses("multiclass"))


@pytest.mark.parametrize("scale", [0.5, 5.0, 30.0])
@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_margin_losses_match_the_reference_code_in_float64(name, scale):
    s, y = _batch(scale)
    value, grad = value_and_grad(_loss(name), s, y)
    ref_value, ref_grad = value_and_grad(lambda z, t: REFERENCES[name](z, t).mean(), s, y)
    torch.testing.assert_close(value, ref_value, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("alpha", [0.25, 0.75])
def test_binary_focal_with_alpha_is_retinanets(alpha):
    s, y = _batch(3.0)
    value, grad = value_and_grad(_loss("binary_focal", alpha=alpha, gamma=1.5), s, y)
    ref_value, ref_grad = value_and_grad(lambda z, t: ref_focal(z, t, alpha, 1.5).mean(), s, y)
    torch.testing.assert_close(value, ref_value, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-8, atol=1e-12)


def test_scores_of_shape_n_by_1_are_the_same_as_n():
    s, y = _batch(2.0)
    for name in BINARY:
        loss = _loss(name).eval()  # ensloss: the same draw for both calls
        torch.testing.assert_close(loss(s[:, None], y), loss(s, y))


# -- AnyLoss -------------------------------------------------------------------------------------------
def ref_anyloss(metric, s, y, L=73.0, beta=1.0, yl=None):
    """The README's Ours_Accu / Ours_Fbeta / Ours_Gmean / Ours_BAccu, y_pred = sigmoid(s); yl is their
    y_train.shape[0] (the training set's size; the batch's own in full-batch training)."""
    y = y.double()
    y_pred = 1 / (1 + torch.exp(-L * (torch.sigmoid(s) - 0.5)))
    yl = len(y) if yl is None else yl
    if metric == "accuracy":
        return 1 - (yl - y.sum() - y_pred.sum() + 2 * (y * y_pred).sum()) / yl
    if metric == "f_beta":
        return 1 - (1 + beta ** 2) * (y * y_pred).sum() / (beta ** 2 * y.sum() + y_pred.sum())
    syhy, sy = (y * y_pred).sum(), y.sum()
    if metric == "gmean":
        return 1 - torch.sqrt(syhy * (yl - y_pred.sum() - sy + syhy) / (sy * (yl - sy)))
    return 1 - (yl * (syhy + sy) - sy * (y_pred.sum() + sy)) / (2 * sy * (yl - sy))


@pytest.mark.parametrize("size,train_size", [("train", 40), ("train", 1000), ("batch", 40)])
@pytest.mark.parametrize("metric", ["accuracy", "f_beta", "gmean", "balanced_accuracy"])
@pytest.mark.parametrize("scale", [0.05, 0.5, 3.0])
def test_anyloss_is_the_authors_metric_loss(metric, scale, size, train_size):
    """size=train: their Keras losses' yl = y_train.shape[0] with batch sums (here a training set of
    1000 and batches of 40); size=batch: the metric of the batch (yl = 40)."""
    s, y = _batch(scale)
    loss = build_loss("anyloss", metric=metric, size=size, class_counts=[train_size - 10, 10])
    value, grad = value_and_grad(loss, s, y)
    yl = train_size if size == "train" else len(y)
    ref_value, ref_grad = value_and_grad(lambda z, t: ref_anyloss(metric, z, t, yl=yl), s, y)
    torch.testing.assert_close(value, ref_value, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-7, atol=1e-12)


def test_anyloss_f2_and_the_amplifier():
    s, y = _batch(0.5)
    value, _ = value_and_grad(_loss("anyloss", metric="f_beta", beta=2.0, amplifier=10.0), s, y)
    torch.testing.assert_close(value, ref_anyloss("f_beta", s, y, L=10.0, beta=2.0), rtol=1e-10, atol=0)


@pytest.mark.parametrize("metric", ["accuracy", "f_beta", "balanced_accuracy"])
def test_anyloss_gradient_is_the_notebooks_hand_derivation(metric):
    """'AnyLoss - Code.ipynb': gradient_descent_acc / _fbeta / _balacc, dL/ds_i from their X-products."""
    s, y = _batch(0.4)
    L, yd = 73.0, y.double()
    p = torch.sigmoid(s)
    yh = 1 / (1 + torch.exp(-L * (p - 0.5)))
    yp_pz = L * yh * (1 - yh) * p * (1 - p)  # d yh / d s
    yl, sy, syh, syhy = len(y), yd.sum(), yh.sum(), (yd * yh).sum()
    if metric == "accuracy":
        expected = (yp_pz - 2 * yd * yp_pz) / yl
    elif metric == "f_beta":  # beta = 1: bs = 1, bs_sy = sy
        expected = -(2 * (yd * yp_pz * (sy + syh) - yp_pz * syhy)) / (sy + syh) ** 2
    else:
        expected = -(yl * yd * yp_pz - sy * yp_pz) / (2 * sy * (yl - sy))
    _, grad = value_and_grad(_loss("anyloss", metric=metric), s, y)
    torch.testing.assert_close(grad, expected, rtol=1e-8, atol=1e-14)


def test_anyloss_refuses_reweighting_and_survives_a_batch_of_one_class():
    with pytest.raises(ValueError, match="no per-example terms to weight"):
        build_loss("anyloss", reweight="inverse", class_counts=[10, 5])
    with pytest.raises(ValueError, match="needs class_counts"):  # size=train: n is the training set's size
        build_loss("anyloss")
    s = torch.randn(8, dtype=torch.float64, requires_grad=True)
    for metric in ("accuracy", "f_beta", "gmean", "balanced_accuracy"):
        value = _loss("anyloss", metric=metric)(s, torch.zeros(8, dtype=torch.long))
        (grad,) = torch.autograd.grad(value, s)
        assert torch.isfinite(value) and torch.isfinite(grad).all()


# -- EnsLoss -------------------------------------------------------------------------------------------
def ref_ensloss(s, y, z):
    """ensLoss.forward with lam = 0 and its standard-normal draws z given (theirs: torch.randn)."""
    target = 2.0 * y.double() - 1.0
    s_batch = s.flatten() * target.flatten()
    rd_grad = -torch.exp(z)
    rd_grad, _ = torch.sort(rd_grad)
    rd_grad = torch.maximum(rd_grad, torch.tensor(-1.0, dtype=rd_grad.dtype))
    _, ind_tmp = torch.sort(s_batch)
    g_batch = torch.zeros(len(s_batch), dtype=s.dtype)
    g_batch[ind_tmp] = rd_grad
    s_no_grad = s_batch.detach()
    pos = s_no_grad > 1.0
    g_batch[pos] *= 1 / s_no_grad[pos]
    g_batch = g_batch.detach() - 1e-6
    return (g_batch * s_batch).mean()


def test_ensloss_is_the_authors_forward_given_the_same_draws():
    loss = _loss("ensloss", seed=3).double().train()
    for step in range(3):
        s, y = _batch(2.0, seed=step)
        z = torch.randn(len(s), generator=torch.Generator().manual_seed(3 * 1_000_003 + step), dtype=torch.float64)
        value, grad = value_and_grad(loss, s, y)
        ref_value, ref_grad = value_and_grad(lambda a, b: ref_ensloss(a, b, z), s, y)
        torch.testing.assert_close(value, ref_value, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(grad, ref_grad, rtol=1e-12, atol=1e-14)
    assert loss.step == 3


def test_ensloss_derivatives_are_negative_non_decreasing_and_vanish_superlinearly():
    loss = _loss("ensloss").double().train()
    m = torch.linspace(-3, 6, 200, dtype=torch.float64)
    g = loss.derivatives(m)
    assert (g < 0).all() and (g >= -1 - 1e-6).all()
    inner = m <= 1  # before the tail division the draws are sorted with the margins: convex
    assert (torch.diff(g[inner]) >= 0).all()
    assert (g[m > 1].abs() <= 1 / m[m > 1] + 1e-6).all()


def test_ensloss_is_reproducible_and_resumes_its_draws():
    s, y = _batch(1.0)
    first = _loss("ensloss", seed=5).train()
    values = [first(s.float(), y) for _ in range(4)]
    again = _loss("ensloss", seed=5).train()
    torch.testing.assert_close([again(s.float(), y) for _ in range(4)], values)
    resumed = _loss("ensloss", seed=5).train()
    partial = _loss("ensloss", seed=5).train()
    partial(s.float(), y), partial(s.float(), y)
    resumed.load_state_dict(partial.state_dict())  # the step counter travels in the checkpoint
    torch.testing.assert_close([resumed(s.float(), y) for _ in range(2)], values[2:])
    other = _loss("ensloss", seed=6).train()
    assert not torch.equal(other(s.float(), y), values[0])
    frozen = _loss("ensloss", seed=5).eval()
    frozen(s.float(), y)
    assert frozen.step == 0  # evaluation does not advance the draws


# -- every binary loss ---------------------------------------------------------------------------------
# ensloss's value is the surrogate mean(g m) with g held fixed (and g = draw / m past m = 1), so its
# gradient is by design not the derivative of its value: checked against the authors' forward above.
@pytest.mark.parametrize("name", [n for n in BINARY if n != "ensloss"])
def test_gradcheck_in_float64(name):
    loss = _loss(name).eval()
    s, y = _batch(1.5, n=10)
    s.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: loss(t, y), (s,), eps=1e-6, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("name", [n for n in BINARY if n != "exponential"])
@pytest.mark.parametrize("scale", [1.0, 1e2, 1e4])
def test_finite_for_huge_scores_in_float32_and_bf16_autocast(name, scale):
    assert_finite_under_bf16_autocast(_loss(name).train(), *_batch(scale))


def test_exponential_overflows_as_the_reference_does():
    s = torch.tensor([-100.0, 2.0])
    assert math.isinf(_loss("exponential")(s, torch.tensor([1, 1])).item())


def test_evaluation_logits_are_zero_and_the_score_with_post_hoc_adjustment():
    s, y = _batch(2.0)
    logits = _loss("bce").adjust_eval_logits(s[:, None])
    assert logits.shape == (len(s), 2) and torch.equal(logits[:, 0], torch.zeros(len(s), dtype=s.dtype))
    torch.testing.assert_close(logits.softmax(1)[:, 1], torch.sigmoid(s))
    adjusted = build_loss("bce", posthoc_tau=1.0, class_counts=[90, 10]).adjust_eval_logits(s)
    torch.testing.assert_close(adjusted[:, 1], s - math.log(10 / 90))


def test_a_binary_loss_refuses_more_classes_and_the_logz_penalty():
    with pytest.raises(ValueError, match="a binary loss has two classes"):
        _loss("hinge", num_classes=10)
    with pytest.raises(ValueError, match="logz_penalty"):
        _loss("bce", logz_penalty=0.1)
    with pytest.raises(ValueError, match=r"one score per example \(\[N\] or \[N, 1\]\)"):
        _loss("bce")(torch.randn(4, 3), torch.tensor([0, 1, 0, 1]))


@pytest.mark.parametrize("name", BINARY)
def test_each_binary_loss_learns_breast_cancer(name):
    """A linear scorer trained full-batch with Adam (300 steps) on the standardised table: well above
    the 63% of always predicting the majority, and ranking malignant above benign."""
    from lossbench.data import TabularDataModule
    from lossbench.metrics import binary_metrics

    torch.manual_seed(0)
    data = TabularDataModule(name="breast_cancer", table="breast_cancer", scaling="standard", val_fraction=0.0,
                             mean=[0.0], std=[1.0])
    data.setup()
    x, y = data.train_x.flatten(1), data.train_y
    model = torch.nn.Linear(x.shape[1], 1)
    loss = build_loss(name, class_counts=data.class_counts,
                      **({"metric": "balanced_accuracy"} if name == "anyloss" else {})).train()
    train_full_batch(model, loss, x, y)
    with torch.no_grad():
        p = torch.sigmoid(model(data.test_x.flatten(1))[:, 0])
    metrics = binary_metrics(p, data.test_y)
    accuracy = ((p > 0.5).long() == data.test_y).float().mean().item()
    assert accuracy > 0.9 and metrics["auroc"] > 0.95, (accuracy, metrics)
