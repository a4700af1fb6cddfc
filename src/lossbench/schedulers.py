"""Learning-rate schedules, stepped once per epoch, as closed-form multipliers of the base lr.

`warmup_multistep` is the long-tail recipe of LDAM-DRW's reference code (adjust_learning_rate):
lr * (e + 1) / warmup for the first `warmup_epochs` epochs (0-indexed e), then lr * gamma^k where k
counts the milestones <= e: with milestones [160, 180] and gamma 0.01, x0.01 from epoch 160 and
x0.0001 from epoch 180.
`cosine` is lr * (1 + cos(pi * t)) / 2 over the epochs after the warm-up (CosineAnnealingLR with
eta_min = 0, T_max = max_epochs when warmup_epochs = 0).
`step` is lr * gamma^floor(e / step_size) (StepLR by epochs): the schedule of the LegendreTron
authors' scripts (khflam/legendretron, experiments/lt_mnist.py: StepLR stepped per batch with
step_size = 4 epochs of batches, gamma 0.7, which decays at the same epoch boundaries).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


def _warmup(epoch: int, warmup_epochs: int) -> float | None:
    return (epoch + 1) / warmup_epochs if epoch < warmup_epochs else None


def warmup_multistep(optimizer: Optimizer, *, max_epochs: int, warmup_epochs: int = 5,
                     milestones: Sequence[int] = (160, 180), gamma: float = 0.01) -> LambdaLR:
    def factor(epoch: int) -> float:
        warm = _warmup(epoch, warmup_epochs)
        return warm if warm is not None else gamma ** sum(epoch >= m for m in milestones)

    return LambdaLR(optimizer, factor)


def cosine(optimizer: Optimizer, *, max_epochs: int, warmup_epochs: int = 0) -> LambdaLR:
    def factor(epoch: int) -> float:
        warm = _warmup(epoch, warmup_epochs)
        if warm is not None:
            return warm
        span = max(1, max_epochs - warmup_epochs)
        return 0.5 * (1.0 + math.cos(math.pi * (epoch - warmup_epochs) / span))

    return LambdaLR(optimizer, factor)


def step(optimizer: Optimizer, *, max_epochs: int, step_size: int = 4, gamma: float = 0.7) -> LambdaLR:
    if isinstance(step_size, bool) or not isinstance(step_size, int) or step_size < 1:
        raise ValueError(f"scheduler.step_size={step_size!r} is out of range: it must be an integer >= 1 (epochs).")
    if not 0 < gamma <= 1:
        raise ValueError(f"scheduler.gamma={gamma!r} is out of range: it must be in (0, 1].")
    return LambdaLR(optimizer, lambda epoch: gamma ** (epoch // step_size))
