"""The Z-loss (de Brebisson & Vincent, "The Z-loss: a shift and scale invariant classification loss
belonging to the Spherical Family", arXiv:1604.08859, 2016). Not the "z-loss" log Z penalty of
large-model training (that is the `logz_penalty` option).

    l(z, y) = 1/a * softplus(a (b - s_y)),   s_y = (z_y - mean_k z_k) / std_k(z)

std is the population standard deviation over the C logits (the paper's sigma^2 = S2/C - mu^2,
computed here as the mean of squared deviations, without cancellation). The loss is invariant to a
shift and to a positive scaling of the logits.

Defaults: a = 1, b = 3. The paper tunes a and b per task (by grid search) and states no
task-independent values; these are lossbench's choice. s_y is at most sqrt(C - 1) (one logit above
all the others, which are equal), so b = 3 asks for a target about as far above the rest as
ten classes allow.

Numerics: std is computed as sqrt(var + 1e-12) so that equal logits (std 0) give s_y = 0 and a finite
gradient instead of 0/0; this changes the loss only where the logits' spread is ~1e-6 or less.
"""
from __future__ import annotations

from torch import Tensor

from lossbench.losses._terms import softplus
from lossbench.losses.base import ClassificationLoss, check_range
from lossbench.losses.registry import register_loss

VARIANCE_FLOOR = 1e-12


@register_loss("spherical_z")
class SphericalZLoss(ClassificationLoss):
    """softplus(a (b - standardised target logit)) / a."""

    def __init__(self, *, a: float = 1.0, b: float = 3.0, **common):
        super().__init__(**common)
        self.a = check_range("a", a, 0.0, low_open=True)
        self.b = check_range("b", b)

    def per_sample(self, logits: Tensor, targets: Tensor) -> Tensor:
        centred = logits - logits.mean(dim=1, keepdim=True)
        std = (centred.square().mean(dim=1) + VARIANCE_FLOOR).sqrt()
        s_y = centred.gather(1, targets[:, None]).squeeze(1) / std
        return softplus((self.b - s_y) * self.a) * (1.0 / self.a)
