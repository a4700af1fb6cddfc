"""Class-balanced sigmoid losses (Cui et al., "Class-Balanced Loss Based on Effective Number of
Samples", CVPR 2019), the sigmoid forms of the paper's Tables 2 and 3.

One-vs-all sigmoid per class, t = e_y (one-hot target), s_j = (1 - 2 t_j) z_j (s_j = z_j for j != y,
s_y = -z_y), so the binary cross-entropy of class j is softplus(s_j) and its 1 - p_t is sigmoid(s_j):

    cb_sigmoid:  l(z, y) = w_y sum_j softplus(s_j)
    cb_focal:    l(z, y) = w_y sum_j sigmoid(s_j)^gamma softplus(s_j)
    w_j = (1 - beta) / (1 - beta^n_j), normalised to sum to C;  loss = mean over the batch.

Defaults: beta = 0.9999 and gamma = 1.0, the values of the reference script
(richardaecn/class-balanced-loss, cifar_im_trainval_cb.sh: BETA=0.9999, GAMMA=1.0). The weights are
the reference's (src/cifar_main.py, "Normalized weights based on inverse number of effective data
per class"); like the reference, the batch loss is sum_i w_{y_i} sum_j l_ij / N (the code divides the
sum by the number of positive labels, N): a plain mean with the weight inside, not
sum w l / sum w. The focal modulator is computed as exp(gamma logsigmoid(s_j)), the log-space form of
the reference's exp(-gamma t z - gamma log1p(exp(-z))); softplus and logsigmoid keep every term
finite for |z| up to 1e4 (in float32 the reference's log1p(exp(-z)) is inf for z < -89, which
sets the modulator of a badly missed positive to 0 instead of ~1).

Model side: the reference initialises the last layer's bias to -log(C - 1) for these losses
(src/model_base.py, `_fully_connected`), so that every sigmoid starts at p = 1/C; in lossbench that is
`model.head_bias_init=sigmoid_prior` (off by default, set it with these losses to follow the
reference). Not reproduced: the reference also exempts that bias from weight decay.

The shared `reweight` option, if also set, applies its weighted mean on top of the built-in weights.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from lossbench.losses._terms import softplus
from lossbench.losses.base import ClassificationLoss, check_range, class_balanced_weights
from lossbench.losses.registry import register_loss


def flipped_logits(logits: Tensor, targets: Tensor) -> Tensor:
    """s = (1 - 2 e_y) z: the target's logit negated, so that BCE_j = softplus(s_j)."""
    target_logit = logits.gather(1, targets[:, None])
    return logits.scatter(1, targets[:, None], -target_logit)


class _ClassBalancedSigmoid(ClassificationLoss):
    needs_class_counts = True

    def _set_weights(self, beta: float) -> None:
        self.beta = check_range("beta", beta, 0.0, 1.0, high_open=True)
        self.register_buffer("cb_weights", class_balanced_weights(self.class_counts, self.beta), persistent=False)

    def class_terms(self, flipped: Tensor) -> Tensor:
        """The per-class binary losses, [N, C], from s."""
        raise NotImplementedError

    def per_sample(self, logits: Tensor, targets: Tensor) -> Tensor:
        terms = self.class_terms(flipped_logits(logits, targets))
        return terms.sum(dim=1) * self.cb_weights.to(logits.dtype)[targets]


@register_loss("cb_sigmoid")
class ClassBalancedSigmoidLoss(_ClassBalancedSigmoid):
    """w_y sum_j BCE(z_j, e_yj), class-balanced weights w."""

    def __init__(self, *, beta: float = 0.9999, **common):
        super().__init__(**common)
        self._set_weights(beta)

    def class_terms(self, flipped: Tensor) -> Tensor:
        return softplus(flipped)


@register_loss("cb_focal")
class ClassBalancedFocalLoss(_ClassBalancedSigmoid):
    """w_y sum_j (1 - p_t)^gamma BCE(z_j, e_yj), sigmoid focal loss with class-balanced weights w."""

    def __init__(self, *, beta: float = 0.9999, gamma: float = 1.0, **common):
        super().__init__(**common)
        self._set_weights(beta)
        self.gamma = check_range("gamma", gamma, 0.0)

    def class_terms(self, flipped: Tensor) -> Tensor:
        bce = softplus(flipped)
        if self.gamma == 0:
            return bce
        return (self.gamma * F.logsigmoid(flipped)).exp() * bce
