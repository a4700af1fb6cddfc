"""EnsLoss: a random calibrated convex loss at every step (Dai, Shen and Wang, "EnsLoss: Stochastic
Calibrated Loss Ensembles for Preventing Overfitting in Classification", 2024; code statmlben/ensLoss
at fd37682, losses.py `ensLoss`).

Instead of a loss, each step draws its derivative l'(m) at the batch's margins m_i = t_i s_i:
    g_i = -BoxCox^-1(z_i; lambda), z_i ~ N(0, 1)    (lambda = 0: -exp(z), a negative log-normal)
    sorted, so the smallest margin gets the most negative derivative (l' non-decreasing: convex),
    floored at -1,
    divided by m_i where m_i > 1 (a superlinearly vanishing tail),
    minus 1e-6 (l'(m) < 0 everywhere, which with convexity makes the loss classification-calibrated),
and the step descends sum_i g_i m_i / N with g held fixed: its gradient in the scores is g_i t_i / N,
that of a loss with derivative g at those margins. The value it reports is that surrogate, not a
loss's value (it is negative and changes with the draw).

The draws use this loss's own generator, seeded from `seed` and the training step (a counter kept
as the module's extra state, so it is in the checkpoint): a run is reproducible, and a resumed run
draws what the uninterrupted one would; the authors draw from torch's global generator. The counter
advances on every call in training mode; evaluation never draws (an inspection call does, without
advancing it). Their `period` (redraw every k steps) is set but unused in
their forward: every step draws, as here.
"""
from __future__ import annotations

import torch
from torch import Tensor

from lossbench.losses.base import check_range
from lossbench.losses.binary import BinaryLoss
from lossbench.losses.registry import register_loss


@register_loss("ensloss")
class EnsLoss(BinaryLoss):
    """The step's random derivative times the margin, averaged (see the module docstring)."""

    def __init__(self, *, lam: float = 0.0, seed: int = 0, **common):
        super().__init__(**common)
        self.lam = check_range("lam", lam, 0.0)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed={seed!r} is not an integer.")
        self.seed, self.step = seed, 0

    def _box_cox_inverse(self, z: Tensor) -> Tensor:
        if self.lam == 0:
            return torch.exp(z)
        return torch.relu(1 + self.lam * z) ** (1 / self.lam)

    def derivatives(self, margins: Tensor) -> Tensor:
        """The step's g [N] at these margins, drawn from the generator of (seed, step)."""
        # On the margins' device: no host round trip per step (a CUDA run draws other numbers than a CPU run).
        generator = torch.Generator(device=margins.device).manual_seed(self.seed * 1_000_003 + self.step)
        z = torch.randn(len(margins), generator=generator, device=margins.device, dtype=margins.dtype)
        drawn = torch.sort(-self._box_cox_inverse(z)).values.clamp_min(-1.0)
        g = torch.empty_like(margins)
        g[torch.argsort(margins.detach())] = drawn
        tail = margins.detach() > 1
        g = torch.where(tail, g / margins.detach().clamp_min(1.0), g)
        return g - 1e-6

    def per_sample(self, logits, targets, **inputs):
        m = self.margins(logits, targets)
        g = self.derivatives(m)
        if self.training:
            self.step += 1
        return g.detach() * m

    # The step counter is checkpointed as the module's extra state (a Python int: never read from a device).
    def get_extra_state(self) -> dict:
        return {"step": self.step}

    def set_extra_state(self, state: dict) -> None:
        self.step = int(state["step"])

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, lam={self.lam:g}, seed={self.seed}"
