"""The multi-label losses (losses/multilabel.py) against float64 re-implementations of their authors'
code, written in the code's own layout: ASL's `AsymmetricLoss` (Alibaba-MIIL/ASL 05b193d), the
distribution-balanced `ResampleLoss` with the COCO-MLT config (wutong16/DistributionBalancedLoss
2567764), the Gumbel loss's `binary_cross_entropy` with activation gumbel
(kostas1515/LongTailActivations 2960c41 `Icloglog`), ShannonAI's Dice (dice_loss_for_NLP d1ff9e5);
torchvision's sigmoid focal loss and torch's BCE; then identities, stability, gradcheck and learning
synthetic_multilabel."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lossbench.losses import build_loss, list_losses
from tests.conftest import assert_finite_under_bf16_autocast, train_full_batch, value_and_grad

MULTILABEL = ["asl_multilabel", "bce_multilabel", "db", "dice", "focal_multilabel", "gumbel_bce"]
C, N, TRAIN = 6, 24, 500
COUNTS = [300, 120, 60, 25, 9, 3]  # positive training examples per class, of TRAIN examples


def _loss(name, **params):
    params.setdefault("class_counts", COUNTS)
    if name == "db":
        params.setdefault("train_size", TRAIN)
    return build_loss(name, num_classes=C, **params)


def _batch(scale, seed=0, n=N):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, C, generator=g, dtype=torch.float64) * scale
    y = (torch.rand(n, C, generator=g) < 0.3).double()
    y[torch.arange(n), torch.randint(0, C, (n,), generator=g)] = 1.0  # every example has a label
    return z, y


# -- the authors' code, as written there ---------------------------------------------------------------
def ref_asl(x, y, gamma_neg=4, gamma_pos=0, clip=0.05, eps=1e-8, detach=False):
    """Alibaba-MIIL/ASL src/loss_functions/losses.py AsymmetricLoss.forward (-loss.sum()); `detach` is
    AsymmetricLossOptimized's disable_torch_grad_focal_loss."""
    x_sigmoid = torch.sigmoid(x)
    xs_pos, xs_neg = x_sigmoid, 1 - x_sigmoid
    if clip is not None and clip > 0:
        xs_neg = (xs_neg + clip).clamp(max=1)
    los_pos = y * torch.log(xs_pos.clamp(min=eps))
    los_neg = (1 - y) * torch.log(xs_neg.clamp(min=eps))
    loss = los_pos + los_neg
    if gamma_neg > 0 or gamma_pos > 0:
        with torch.set_grad_enabled(not detach):
            pt = xs_pos * y + xs_neg * (1 - y)
            one_sided_w = torch.pow(1 - pt, gamma_pos * y + gamma_neg * (1 - y))
        loss = loss * one_sided_w
    return -loss.sum()


def ref_db(cls_score, label, class_freq, train_num, focal=True, gamma=2, balance_param=2.0, neg_scale=2.0,
           init_bias=0.05, alpha=0.1, beta=10.0, map_gamma=0.2):
    """wutong16/DistributionBalancedLoss mllt/models/losses/resample_loss.py ResampleLoss.forward with
    reweight_func='rebalance' and the COCO-MLT config, then mmcv's mean of the [N, C] loss."""
    class_freq = torch.as_tensor(class_freq, dtype=torch.float64)
    freq_inv = torch.ones(class_freq.shape, dtype=torch.float64) / class_freq
    bias = -torch.log(train_num / class_freq - 1) * init_bias / neg_scale
    repeat_rate = torch.sum(label.float() * freq_inv, dim=1, keepdim=True)
    pos_weight = freq_inv.clone().detach().unsqueeze(0) / repeat_rate
    weight = torch.sigmoid(beta * (pos_weight - map_gamma)) + alpha
    logits = cls_score + bias
    logits = logits * (1 - label) * neg_scale + logits * label
    weight = weight / neg_scale * (1 - label) + weight * label
    if focal:
        logpt = -F.binary_cross_entropy_with_logits(logits.clone(), label, weight=None, reduction="none")
        pt = torch.exp(logpt)
        loss = F.binary_cross_entropy_with_logits(logits, label, weight=weight, reduction="none")
        loss = balance_param * ((1 - pt) ** gamma) * loss
    else:
        loss = F.binary_cross_entropy_with_logits(logits, label, weight=weight, reduction="none")
    return loss.mean()


def ref_gumbel(pred, label):
    """kostas1515/LongTailActivations mmdet/models/losses/icloglog.py Icloglog's binary_cross_entropy with activation_name='gumbel', reduction mean."""
    pred = torch.clamp(pred, min=-4, max=10)
    pestim = 1 / (torch.exp(torch.exp(-pred)))
    return F.binary_cross_entropy(pestim, label, reduction="none").mean()


def ref_dice_binary(logits, target, smooth=1e-4, alpha=0.0, square=False):
    """ShannonAI/dice_loss_for_NLP loss/dice_loss.py DiceLoss._binary_class: every element pooled."""
    flat_input, flat_target = torch.sigmoid(logits.reshape(-1)), target.reshape(-1)
    flat_input = ((1 - flat_input) ** alpha) * flat_input
    intersection = torch.sum(flat_input * flat_target, -1)
    if square:
        return 1 - (2 * intersection + smooth) / (torch.sum(flat_input ** 2) + torch.sum(flat_target ** 2) + smooth)
    return 1 - (2 * intersection + smooth) / (flat_input.sum() + flat_target.sum() + smooth)


def test_list_losses_by_task():
    assert list_losses("multilabel") == MULTILABEL
    assert not set(MULTILABEL) & (set(list_losses("multiclass")) | set(list_losses("binary")))


@pytest.mark.parametrize("scale", [0.5, 4.0, 30.0])
@pytest.mark.parametrize("options", [{}, {"gamma_pos": 1.0}, {"clip": 0.0}, {"detach_weight": True}])
def test_asl_is_the_authors_asymmetric_loss(scale, options):
    z, y = _batch(scale)
    loss = _loss("asl_multilabel", label_reduction="sum", **options)
    value, grad = value_and_grad(lambda t, u: loss(t, u) * len(t), z, y)  # theirs sums over the batch too
    kwargs = {"gamma_pos": options.get("gamma_pos", 0.0), "clip": options.get("clip", 0.05),
              "detach": options.get("detach_weight", False)}
    ref_value, ref_grad = value_and_grad(lambda t, u: ref_asl(t, u, **kwargs), z, y)
    torch.testing.assert_close(value, ref_value, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("scale", [0.5, 4.0, 20.0])
@pytest.mark.parametrize("focal", [True, False])
def test_db_is_the_authors_resample_loss_with_the_coco_mlt_config(scale, focal):
    z, y = _batch(scale)
    value, grad = value_and_grad(_loss("db", focal=focal), z, y)
    ref_value, ref_grad = value_and_grad(lambda t, u: ref_db(t, u, COUNTS, TRAIN, focal=focal), z, y)
    torch.testing.assert_close(value, ref_value, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-8, atol=1e-12)


def test_db_takes_the_training_set_size_from_the_training_module():
    loss = build_loss("db", num_classes=C, class_counts=COUNTS)
    z, y = _batch(1.0)
    with pytest.raises(ValueError, match="training set's size"):
        loss(z, y)
    loss.bind_training_set(num_samples=TRAIN)  # what ClassificationModule.setup does
    torch.testing.assert_close(loss(z, y), ref_db(z, y, COUNTS, TRAIN))
    with pytest.raises(ValueError, match="positive in all 300"):
        build_loss("db", num_classes=C, class_counts=COUNTS, train_size=300)


@pytest.mark.parametrize("scale", [0.5, 3.0, 20.0])
def test_gumbel_is_the_authors_gumbel_bce(scale):
    z, y = _batch(scale)
    value, grad = value_and_grad(_loss("gumbel_bce"), z, y)
    ref_value, ref_grad = value_and_grad(ref_gumbel, z, y)
    torch.testing.assert_close(value, ref_value, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-8, atol=1e-12)
    exact_value, exact_grad = value_and_grad(_loss("gumbel_bce", exact_gradient=True), z, y)
    torch.testing.assert_close(exact_value, ref_value, rtol=1e-10, atol=1e-12)  # the same loss
    # ... whose gradient differs only where the code's BCE backward floors p (1 - p) at 1e-12
    p = torch.exp(-torch.exp(-z.clamp(-4, 10)))
    floored = p * (1 - p) < 1e-12
    torch.testing.assert_close(exact_grad[~floored], ref_grad[~floored], rtol=1e-8, atol=1e-12)


def test_gumbel_code_gradient_vanishes_for_a_positive_below_minus_3_32():
    """-log p = exp(-z): the exact gradient at z = -3.5 is -e^3.5 = -33; the code's, (p - 1) / 1e-12 dp/dz with
    p = 4e-15, is 0.4% of it."""
    z, y = torch.tensor([[-3.5, -3.0]], dtype=torch.float64), torch.ones(1, 2, dtype=torch.float64)
    _, code = value_and_grad(build_loss("gumbel_bce", num_classes=2, label_reduction="sum"), z, y)
    _, exact = value_and_grad(build_loss("gumbel_bce", num_classes=2, label_reduction="sum", exact_gradient=True), z, y)
    assert exact[0, 0] == pytest.approx(-torch.exp(torch.tensor(3.5)).item())
    assert abs(code[0, 0]) < 0.01 * abs(exact[0, 0]) and code[0, 1] == pytest.approx(exact[0, 1].item(), rel=1e-6)


def test_gumbel_evaluation_logits_give_the_gumbel_probability_and_stay_finite():
    z = torch.tensor([[-1e4, -40.0, -3.0, 0.0, 2.0, 15.0, 60.0, 1e4]])
    logits = build_loss("gumbel_bce", num_classes=8).adjust_eval_logits(z)
    assert torch.isfinite(logits).all()
    inner = torch.tensor([-3.0, 0.0, 2.0, 15.0], dtype=torch.float64)
    torch.testing.assert_close(torch.sigmoid(logits[0, 2:6].double()), torch.exp(-torch.exp(-inner)), rtol=1e-5,
                               atol=1e-7)


@pytest.mark.parametrize("options", [{}, {"alpha": 0.5}, {"square_denominator": True}, {"smooth": 1.0}])
def test_dice_is_shannonais_dice_per_class_and_pooled(options):
    z, y = _batch(2.0)
    ref_options = {"smooth": options.get("smooth", 1e-4), "alpha": options.get("alpha", 0.0),
                   "square": options.get("square_denominator", False)}
    micro, micro_grad = value_and_grad(_loss("dice", average="micro", **options), z, y)
    ref, ref_grad = value_and_grad(lambda t, u: ref_dice_binary(t, u, **ref_options), z, y)
    torch.testing.assert_close(micro, ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(micro_grad, ref_grad, rtol=1e-8, atol=1e-12)
    macro, macro_grad = value_and_grad(_loss("dice", **options), z, y)
    per_class = lambda t, u: sum(ref_dice_binary(t[:, c], u[:, c], **ref_options) for c in range(C)) / C  # noqa: E731
    ref, ref_grad = value_and_grad(per_class, z, y)
    torch.testing.assert_close(macro, ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(macro_grad, ref_grad, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("alpha", [None, 0.25])
@pytest.mark.parametrize("gamma", [0.0, 2.0])
def test_focal_is_torchvisions_sigmoid_focal_loss(alpha, gamma):
    from torchvision.ops import sigmoid_focal_loss

    z, y = _batch(5.0)
    value, grad = value_and_grad(_loss("focal_multilabel", gamma=gamma, alpha=alpha), z, y)
    ref_value, ref_grad = value_and_grad(
        lambda t, u: sigmoid_focal_loss(t, u, alpha=-1 if alpha is None else alpha, gamma=gamma, reduction="mean"), z, y)
    torch.testing.assert_close(value, ref_value, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-8, atol=1e-12)


def test_bce_is_torchs_bce_with_logits_and_sum_is_c_times_mean():
    z, y = _batch(8.0)
    torch.testing.assert_close(_loss("bce_multilabel")(z, y), torch.nn.BCEWithLogitsLoss()(z, y))
    torch.testing.assert_close(_loss("bce_multilabel", label_reduction="sum")(z, y),
                               C * torch.nn.BCEWithLogitsLoss()(z, y))


def test_asl_without_focusing_or_clip_is_bce_and_db_without_its_parts_is_bce():
    z, y = _batch(3.0)
    bce = _loss("bce_multilabel")(z, y)
    torch.testing.assert_close(_loss("asl_multilabel", gamma_neg=0.0, clip=0.0)(z, y), bce)
    plain_db = _loss("db", rebalance=False, focal=False, neg_scale=1.0, init_bias=0.0)
    torch.testing.assert_close(plain_db(z, y), bce)


def test_asl_probability_margin_zeroes_easy_negatives():
    """A negative with p <= clip has p_m = 0: no loss and no gradient (the paper's hard threshold)."""
    z = torch.tensor([[-4.0, -2.0] * 3], dtype=torch.float64)  # p = 0.018 and 0.119
    value, grad = value_and_grad(_loss("asl_multilabel"), z, torch.zeros_like(z))
    assert grad[0, 0] == 0 and grad[0, 1] > 0 and value > 0


# -- every multi-label loss ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", MULTILABEL)
def test_gradcheck_in_float64(name):
    # gumbel_bce's code path floors its gradient (above): the log-space form is the one with a derivative
    loss = _loss(name, **({"exact_gradient": True} if name == "gumbel_bce" else {})).eval()
    z, y = _batch(1.5, n=8)
    z.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: loss(t, y), (z,), eps=1e-6, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("name", MULTILABEL)
@pytest.mark.parametrize("scale", [1.0, 1e2, 1e4])
def test_finite_for_huge_logits_in_float32_and_bf16_autocast(name, scale):
    assert_finite_under_bf16_autocast(_loss(name).train(), *_batch(scale))


@pytest.mark.parametrize("name", MULTILABEL)
def test_set_epoch_changes_nothing(name):
    z, y = _batch(2.0)
    loss = _loss(name)
    before = loss(z, y)
    loss.set_epoch(50)
    assert loss(z, y) == before


def test_a_multilabel_loss_refuses_single_labels_and_single_label_options():
    with pytest.raises(ValueError, match=r"multi-hot targets of the logits' shape \(4, 6\)"):
        _loss("bce_multilabel")(torch.randn(4, C), torch.tensor([0, 1, 2, 3]))
    for option in ({"reweight": "inverse"}, {"logz_penalty": 0.1}, {"posthoc_tau": 1.0}):
        with pytest.raises(ValueError, match=next(iter(option))):
            _loss("focal_multilabel", **option)
    with pytest.raises(ValueError, match="label_reduction: dice is one Dice of the whole batch"):
        _loss("dice", label_reduction="sum")


@pytest.mark.parametrize("name", MULTILABEL)
def test_each_multilabel_loss_learns_synthetic_multilabel(name):
    """A linear model trained full-batch with Adam (300 steps) on scikit-learn's multi-label generator:
    its mAP is far above the ~0.3 of a random ranking (the labels' mean frequency). (Dice, a poor ranker, is the
    lowest: 0.69.)"""
    from lossbench.data import SyntheticMultiLabelDataModule
    from lossbench.metrics import multilabel_metrics

    torch.manual_seed(0)
    data = SyntheticMultiLabelDataModule(name="synthetic_multilabel", val_fraction=0.0)
    data.setup()
    x, y = data.train_x.flatten(1), data.train_y
    model = torch.nn.Linear(x.shape[1], data.num_classes)
    if name == "gumbel_bce":
        torch.nn.init.constant_(model.bias, -2.0)  # the authors' classifier start (model.head_bias_init=gumbel)
    loss = build_loss(name, num_classes=data.num_classes, class_counts=data.class_counts,
                      **({"train_size": len(y)} if name == "db" else {})).train()
    train_full_batch(model, loss, x, y)
    with torch.no_grad():
        logits = loss.adjust_eval_logits(model(data.test_x.flatten(1)))
    metrics = multilabel_metrics(logits, data.test_y, data.class_counts)
    assert metrics["map"] > 0.65 and metrics["macro_f1"] > 0.5, metrics
