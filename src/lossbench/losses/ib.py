"""Influence-balanced loss (Park, Lim, Jeon & Choi, "Influence-Balanced Loss for Imbalanced Visual
Classification", ICCV 2021). Needs the penultimate features (`needs = {"features"}`).

    ib:        l_i = w_y CE_i * IB_i
    ib_focal:  l_i = (1 - exp(-w_y CE_i))^gamma w_y CE_i * IB_i
    IB_i = alpha / (||p_i - e_y||_1 ||h_i||_1 + epsilon),   ||p - e_y||_1 = 2 (1 - p_y)

with h_i the sample's penultimate features, ||p - e_y||_1 the L1 norm of dCE/dz, w the
class weights, and the batch loss the plain mean over samples. Before `start_epoch` both are plain
(unweighted) CE, as in the reference training script.

Reference: pseulki/IB-Loss (commit e15d390), losses.py `IBLoss` / `IB_FocalLoss` and
cifar_train.py. Defaults are its CIFAR settings: alpha = 1000 (the script passes 1000; the class
default is 10000), epsilon = 1e-3, weights `inverse` (its `--train_rule IBReweight`: w_j ∝ 1/n_j,
summing to C; `class_balanced`, its `--train_rule CBReweight` for the paper's IB + CB row: Cui et al.'s
weights with beta = `reweight_beta`, 0.9999 as the script, also summing to C), start_epoch = 100 (`--start_ib_epoch`, of 200 epochs; 0-based, the script's
`epoch >= start_ib_epoch`), gamma = 1 for ib_focal (the script's value).
As the code:
  - h enters as ||h||_1 (its models return torch.sum(|features|, 1)) and nothing is detached: the
    gradient flows through IB_i into the logits and the features (the paper writes IB as a weight);
  - the weights enter through `F.cross_entropy(weight=w, reduction='none')`, then `.mean()`: the
    mean of w_y CE_i IB_i, not sum / sum w (so the shared `reweight` option, which gives
    sum w l / sum w, is a different and additional weighting; leave it `none` for the paper's method);
  - ib_focal's modulating factor uses p = exp(-w_y CE), the weighted CE (as the LDAM-DRW focal
    the code comes from); `p_from_weighted_ce=false` uses p_y instead.
Not reproduced: the script's own learning-rate schedule for IB (lr x0.01 from start_epoch); that is
the optimiser's config, not the loss. ||p - e_y||_1 is computed as 2 (1 - p_y) = -2 expm1(-CE),
equal to the code's sum of absolute differences (and its gradient) without its cancellation.
"""
from __future__ import annotations

from torch import Tensor

from lossbench.losses._terms import NLLMap, focal_value_and_slope, p_minus_one, target_nll
from lossbench.losses.base import (ClassificationLoss, check_choice, check_range, class_balanced_weights,
                                   inverse_frequency_weights)
from lossbench.losses.registry import register_loss

WEIGHTINGS = ("inverse", "class_balanced", "none")


class _InfluenceBalanced(ClassificationLoss):
    needs = frozenset({"features"})
    needs_class_counts = True

    def __init__(self, *, alpha: float, epsilon: float, weighting: str, start_epoch: int, **common):
        super().__init__(**common)
        self.alpha = check_range("alpha", alpha, 0.0, low_open=True)
        self.epsilon = check_range("epsilon", epsilon, 0.0, low_open=True)
        self.weighting = check_choice("weighting", weighting, WEIGHTINGS)
        self.start_epoch = int(check_range("start_epoch", start_epoch, 0))
        weights = None
        if weighting == "inverse":
            weights = inverse_frequency_weights(self.class_counts)
        elif weighting == "class_balanced":  # the script's --train_rule CBReweight, beta 0.9999 there
            weights = class_balanced_weights(self.class_counts, self.reweight_beta)
        self.register_buffer("ib_weights", weights, persistent=False)

    def sample_loss(self, nll: Tensor, weights: Tensor | None) -> Tensor:
        """The loss of each sample before the influence factor, from CE and the class weight w_y."""
        raise NotImplementedError

    def per_sample(self, logits: Tensor, targets: Tensor, *, features: Tensor) -> Tensor:
        nll = target_nll(logits, targets)
        if self.epoch < self.start_epoch:
            return nll
        grad_norm = p_minus_one(nll) * -2.0                                  # ||p - e_y||_1
        feature_norm = features.to(logits.dtype).flatten(1).abs().sum(dim=1)  # ||h||_1
        influence = self.alpha / (grad_norm * feature_norm + self.epsilon)
        weights = None if self.ib_weights is None else self.ib_weights.to(logits.dtype)[targets]
        return self.sample_loss(nll, weights) * influence


@register_loss("ib")
class IBLoss(_InfluenceBalanced):
    """w_y CE * alpha / (||p - e_y||_1 ||h||_1 + epsilon), from start_epoch; CE before."""

    def __init__(self, *, alpha: float = 1000.0, epsilon: float = 1e-3, weighting: str = "inverse",
                 start_epoch: int = 100, **common):
        super().__init__(alpha=alpha, epsilon=epsilon, weighting=weighting, start_epoch=start_epoch, **common)

    def sample_loss(self, nll: Tensor, weights: Tensor | None) -> Tensor:
        return nll if weights is None else nll * weights


@register_loss("ib_focal")
class IBFocalLoss(_InfluenceBalanced):
    """(1 - p)^gamma w_y CE * alpha / (||p - e_y||_1 ||h||_1 + epsilon), p = exp(-w_y CE); CE before."""

    def __init__(self, *, alpha: float = 1000.0, epsilon: float = 1e-3, gamma: float = 1.0,
                 weighting: str = "inverse", start_epoch: int = 100, p_from_weighted_ce: bool = True, **common):
        super().__init__(alpha=alpha, epsilon=epsilon, weighting=weighting, start_epoch=start_epoch, **common)
        self.gamma = check_range("gamma", gamma, 0.0)
        if not isinstance(p_from_weighted_ce, bool):
            raise ValueError(f"p_from_weighted_ce={p_from_weighted_ce!r} is not a boolean (true or false).")
        self.p_from_weighted_ce = p_from_weighted_ce

    def sample_loss(self, nll: Tensor, weights: Tensor | None) -> Tensor:
        # (1 - p)^gamma x as `focal` computes it (base floored, one autograd node), x = w_y CE or CE
        if self.p_from_weighted_ce or weights is None:
            weighted = nll if weights is None else nll * weights
            return NLLMap.apply(weighted, lambda t: focal_value_and_slope(t, self.gamma))
        return NLLMap.apply(nll, lambda t: focal_value_and_slope(t, self.gamma)) * weights
