"""Losses of multi-label classification: logits z [N, C], one sigmoid per class, targets y multi-hot
[N, C] (0/1, any float or integer dtype). Each is a loss per label l(z_ic, y_ic), reduced over the
labels of an example (`label_reduction`: `mean`, as torch's BCEWithLogitsLoss and the
distribution-balanced code average over N x C, or `sum`, the per-image sum the ASL code takes) and
then averaged over the batch. All are computed in log space (logsigmoid / softplus), never log(sigmoid).

  bce_multilabel    softplus(z) - y z: binary cross-entropy with logits, one per class
  focal_multilabel  -alpha_t (1 - p_t)^gamma log p_t per class, p_t = sigmoid(t z), t = 2y - 1 (Lin
                    et al., ICCV 2017; the sigmoid focal loss): gamma 2, alpha None (off)
  asl_multilabel    the asymmetric loss (Ridnik et al., "Asymmetric Loss For Multi-Label
                    Classification", ICCV 2021; Alibaba-MIIL/ASL at 05b193d, src/loss_functions/losses.py
                    `AsymmetricLoss`, as its train.py builds it: gamma_neg 4, gamma_pos 0, clip 0.05,
                    eps 1e-8). With p = sigmoid(z) and the shifted negative probability
                    p_m = max(p - clip, 0):
                        positive  -(1 - p)^gamma_pos log(max(p, eps))
                        negative  -p_m^gamma_neg log(max(1 - p_m, eps))
                    The focusing weight carries gradient, as `AsymmetricLoss` (its no-grad lines are
                    commented out); `detach_weight: true` is `AsymmetricLossOptimized` with
                    disable_torch_grad_focal_loss. The code sums over batch and labels (reduction
                    `sum` over labels here; the batch mean divides by N, a learning-rate factor).
  db                the distribution-balanced loss (Wu et al., "Distribution-Balanced Loss for
                    Multi-Label Classification in Long-Tailed Datasets", ECCV 2020; wutong16/
                    DistributionBalancedLoss at 2567764, mllt/models/losses/resample_loss.py
                    `ResampleLoss` with configs/coco/LT_resnet50_pfc_DB.py's settings). With n_c
                    the positive training examples of class c and N the training set's size:
                      re-balanced weight (`rebalance`): r_ic = (1 / n_c) / sum_{k in y_i} 1 / n_k,
                        w_ic = sigmoid(map_beta (r_ic - map_gamma)) + map_alpha (0.1, 10, 0.2);
                      negative-tolerant regularisation: z' = z + b_c with
                        b_c = -log(N / n_c - 1) init_bias / neg_scale (0.05, 2), a negative's
                        logit and weight scaled to neg_scale z' and w / neg_scale;
                      focal (`focal`): balance_param (1 - p_t)^gamma w BCE(z', y) (2, 2), p_t from
                        the regularised logit; the code's pt is not detached, nor is it here.
                    b_c is added inside the loss, as in the code: the model's own logits (without
                    b_c) are what evaluation scores. N comes from the training module
                    (`bind_training_set`), or `train_size`.
  dice              the soft Dice (F1) loss of each class over the batch, 1 - mean_c
                    (2 sum_i p_ic y_ic + smooth) / (sum_i p_ic + sum_i y_ic + smooth), p = sigmoid(z)
                    (Milletari et al. 2016; Li et al., "Dice Loss for Data-imbalanced NLP Tasks",
                    ACL 2020, ShannonAI/dice_loss_for_NLP at d1ff9e5, loss/dice_loss.py: smooth 1e-4, `alpha`
                    the self-adjusting (1 - p)^alpha p, `square_denominator` V-Net's sum of squares).
                    `average: micro` pools every label of the batch into one Dice (that code's binary
                    path); its multi-class path divides one example's intersection by the batch's
                    sums, which is neither, and is not offered. A loss of the batch (`batch_term`).
  gumbel_bce        BCE with the Gumbel link p = exp(-exp(-z)) (Alexandridis et al., "Long-tailed
                    Instance Segmentation using Gumbel Optimized Loss", ECCV 2022; the authors'
                    kostas1515/LongTailActivations at 2960c41, mmdet/models/losses/icloglog.py
                    `Icloglog`, activation gumbel; kostas1515/GOL at 9bca616 for the bias): z
                    clamped to [-4, 10] and F.binary_cross_entropy of p, as the code does. Its value is exact there (log p >=
                    -54.6), but torch's BCE backward floors p (1 - p) at 1e-12, so a positive label's
                    gradient vanishes below z = -3.32 (p < 1e-12): the code's behaviour, followed.
                    `exact_gradient: true` differentiates the log-space loss instead, -log p = exp(-z),
                    -log(1 - p) = -log(-expm1(-exp(-z))). The code's classifier starts at bias -2
                    (p = 6e-4): model.head_bias_init=gumbel. At evaluation the logits become logit(p),
                    so the metrics score the Gumbel probabilities. The code clamps the reduced loss at
                    20; that clamp is not applied.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from lossbench.losses.base import ClassificationLoss, check_choice, check_range
from lossbench.losses.binary import sigmoid_focal
from lossbench.losses.registry import register_loss

LABEL_REDUCTIONS = ("mean", "sum")
GUMBEL_CLAMP = (-4.0, 10.0)  # the GOL code's clamp of the logits in the loss
GUMBEL_EVAL_CLAMP = (-30.0, 80.0)  # beyond these p is 0 or 1 in float32: keeps logit(p) finite


class MultiLabelLoss(ClassificationLoss):
    """Base of the multi-label losses: per_label(logits [N, C], targets [N, C] float) -> [N, C]."""

    tasks = frozenset({"multilabel"})

    def __init__(self, *, label_reduction: str = "mean", **common):
        if common.get("reweight", "none") != "none":
            raise ValueError("reweight weights an example by its one class; a multi-label example has several. "
                             "Use loss=db (re-balanced weights per label) or leave reweight=none.")
        for key, why in (("logz_penalty", "a softmax's log-normaliser"),
                         ("posthoc_tau", "a softmax's logits by the class prior")):
            if common.get(key):
                raise ValueError(f"{key} acts on {why}; multi-label losses have one sigmoid per class: leave it at 0.")
        super().__init__(**common)
        self.label_reduction = check_choice("label_reduction", label_reduction, LABEL_REDUCTIONS)

    def multi_hot(self, logits: Tensor, targets: Tensor) -> Tensor:
        if targets.shape != logits.shape:
            raise ValueError(f"a multi-label loss takes multi-hot targets of the logits' shape {tuple(logits.shape)}, "
                             f"got {tuple(targets.shape)}: use a multi-label dataset (lossbench list data).")
        return targets.to(logits.dtype)

    def per_label(self, logits: Tensor, targets: Tensor) -> Tensor:
        raise NotImplementedError

    def per_sample(self, logits, targets, **inputs):
        losses = self.per_label(logits, self.multi_hot(logits, targets))
        return losses.mean(dim=1) if self.label_reduction == "mean" else losses.sum(dim=1)


@register_loss("bce_multilabel")
class BCEMultiLabelLoss(MultiLabelLoss):
    """softplus(z) - y z per class."""

    def per_label(self, logits, targets):
        return F.binary_cross_entropy_with_logits(logits, targets, reduction="none")


@register_loss("focal_multilabel")
class FocalMultiLabelLoss(MultiLabelLoss):
    """-alpha_t (1 - p_t)^gamma log p_t per class."""

    def __init__(self, *, gamma: float = 2.0, alpha: float | None = None, **common):
        super().__init__(**common)
        self.gamma = check_range("gamma", gamma, 0.0)
        self.alpha = None if alpha is None else check_range("alpha", alpha, 0.0, 1.0)

    def per_label(self, logits, targets):
        return sigmoid_focal(logits * (2 * targets - 1), targets, self.gamma, self.alpha)


@register_loss("asl_multilabel")
class AsymmetricMultiLabelLoss(MultiLabelLoss):
    """Ridnik et al.'s asymmetric loss: asymmetric focusing and the probability margin `clip`."""

    def __init__(self, *, gamma_pos: float = 0.0, gamma_neg: float = 4.0, clip: float = 0.05, eps: float = 1e-8,
                 detach_weight: bool = False, **common):
        super().__init__(**common)
        self.gamma_pos, self.gamma_neg = check_range("gamma_pos", gamma_pos, 0.0), check_range("gamma_neg", gamma_neg, 0.0)
        self.clip = check_range("clip", clip, 0.0, 1.0, high_open=True)
        self.eps = check_range("eps", eps, 0.0, 1.0, low_open=True, high_open=True)
        self.detach_weight = bool(detach_weight)

    def per_label(self, logits, y):
        log_eps = math.log(self.eps)
        log_pos = F.logsigmoid(logits).clamp(min=log_eps)  # log(max(p, eps)), the same gradient
        p = torch.sigmoid(logits)
        if self.clip > 0:
            q = (torch.sigmoid(-logits) + self.clip).clamp(max=1.0)  # 1 - p_m; >= clip, so no eps clamp needed
            log_neg = torch.log(q.clamp(min=self.eps))
        else:
            q = torch.sigmoid(-logits)
            log_neg = F.logsigmoid(-logits).clamp(min=log_eps)
        loss = y * log_pos + (1 - y) * log_neg
        if self.gamma_pos > 0 or self.gamma_neg > 0:
            with torch.set_grad_enabled(torch.is_grad_enabled() and not self.detach_weight):
                one_minus_pt = 1 - (y * p + (1 - y) * q)
                weight = torch.pow(one_minus_pt, self.gamma_pos * y + self.gamma_neg * (1 - y))
            loss = loss * weight
        return -loss


@register_loss("db")
class DistributionBalancedLoss(MultiLabelLoss):
    """Wu et al.'s distribution-balanced loss: re-balanced weights, negative-tolerant regularisation, focal."""

    needs_class_counts = True

    def __init__(self, *, rebalance: bool = True, focal: bool = True, gamma: float = 2.0, balance_param: float = 2.0,
                 neg_scale: float = 2.0, init_bias: float = 0.05, map_alpha: float = 0.1, map_beta: float = 10.0,
                 map_gamma: float = 0.2, train_size: int | None = None, **common):
        super().__init__(**common)
        self.rebalance, self.focal = bool(rebalance), bool(focal)
        self.gamma = check_range("gamma", gamma, 0.0)
        self.balance_param = check_range("balance_param", balance_param, 0.0, low_open=True)
        self.neg_scale = check_range("neg_scale", neg_scale, 0.0, low_open=True)
        self.init_bias = check_range("init_bias", init_bias, 0.0)
        self.map_alpha, self.map_beta = check_range("map_alpha", map_alpha, 0.0), check_range("map_beta", map_beta, 0.0)
        self.map_gamma = check_range("map_gamma", map_gamma)
        self.register_buffer("logit_bias", None, persistent=False)
        if train_size is not None:
            self.bind_training_set(num_samples=int(train_size))

    def bind_training_set(self, *, num_samples: int) -> None:
        """N, the training set's size: b_c = -log(N / n_c - 1) init_bias / neg_scale."""
        counts = self.class_counts
        if not bool((counts < num_samples).all()):
            raise ValueError(f"loss db: a class is positive in all {num_samples} training examples, so its bias "
                             f"-log(N / n_c - 1) is infinite; set loss.init_bias=0 or use another dataset.")
        self.logit_bias = -torch.log(num_samples / counts - 1) * self.init_bias / self.neg_scale

    def per_label(self, logits, y):
        if self.logit_bias is None and self.init_bias > 0:
            raise ValueError("loss db needs the training set's size N for its bias -log(N / n_c - 1): train it with "
                             "a lossbench data module, or give loss.train_size.")
        weight = torch.ones_like(logits)
        if self.rebalance:
            inverse = (1.0 / self.class_counts).to(device=logits.device, dtype=logits.dtype)
            repeat_rate = (y * inverse).sum(dim=1, keepdim=True)  # sum over the example's labels of 1 / n_k
            weight = torch.sigmoid(self.map_beta * (inverse / repeat_rate - self.map_gamma)) + self.map_alpha
        z = logits if self.logit_bias is None else logits + self.logit_bias.to(device=logits.device, dtype=logits.dtype)
        z = y * z + (1 - y) * self.neg_scale * z
        weight = y * weight + (1 - y) * weight / self.neg_scale
        bce = F.binary_cross_entropy_with_logits(z, y, reduction="none")
        loss = weight * bce
        if self.focal:
            # (1 - p_t)^gamma with p_t = exp(-bce) = sigmoid(t z): exp(gamma logsigmoid(-t z)).
            loss = self.balance_param * torch.exp(self.gamma * F.logsigmoid(-(2 * y - 1) * z)) * loss
        return loss


@register_loss("dice")
class DiceLoss(MultiLabelLoss):
    """1 - the soft Dice of each class over the batch, averaged over classes (or pooled: micro)."""

    def __init__(self, *, smooth: float = 1e-4, alpha: float = 0.0, square_denominator: bool = False,
                 average: str = "macro", **common):
        if common.get("label_reduction", "mean") != "mean":
            raise ValueError("label_reduction: dice is one Dice of the whole batch per class, with no per-label "
                             "terms to sum; use loss.average=micro|macro.")
        super().__init__(**common)
        self.smooth = check_range("smooth", smooth, 0.0)
        self.alpha = check_range("alpha", alpha, 0.0)
        self.square_denominator = bool(square_denominator)
        self.average = check_choice("average", average, ("macro", "micro"))

    def per_sample(self, logits, targets, **inputs):
        return torch.zeros(len(logits), dtype=logits.dtype, device=logits.device)  # the loss is the batch's

    def batch_term(self, logits: Tensor, targets: Tensor, **inputs) -> Tensor:
        y = self.multi_hot(logits, targets)
        p = torch.sigmoid(logits)
        if self.alpha:
            p = torch.exp(self.alpha * F.logsigmoid(-logits)) * p
        dims = (0, 1) if self.average == "micro" else (0,)
        intersection = (p * y).sum(dim=dims)
        denominator = (p.square().sum(dim=dims) + y.square().sum(dim=dims)) if self.square_denominator \
            else p.sum(dim=dims) + y.sum(dim=dims)
        return (1 - (2 * intersection + self.smooth) / (denominator + self.smooth)).mean()


@register_loss("gumbel_bce")
class GumbelBCELoss(MultiLabelLoss):
    """BCE of the Gumbel link p = exp(-exp(-z)) per class."""

    def __init__(self, *, exact_gradient: bool = False, **common):
        super().__init__(**common)
        self.exact_gradient = bool(exact_gradient)

    def per_label(self, logits, y):
        z = logits.clamp(*GUMBEL_CLAMP)
        if self.exact_gradient:
            neg_log_p = torch.exp(-z)
            return y * neg_log_p + (1 - y) * -torch.log(-torch.expm1(-neg_log_p))
        # The code's path: BCE of the probability (which autocast refuses to run in half precision).
        with torch.autocast(device_type=z.device.type, enabled=False):
            return F.binary_cross_entropy(torch.exp(-torch.exp(-z)), y, reduction="none")

    def adjust_eval_logits(self, logits: Tensor) -> Tensor:
        """logit(p) = log p - log(1 - p), so sigmoid of it is the Gumbel probability."""
        z = logits.float().clamp(*GUMBEL_EVAL_CLAMP)
        log_p = -torch.exp(-z)
        return log_p - torch.log(-torch.expm1(log_p))
