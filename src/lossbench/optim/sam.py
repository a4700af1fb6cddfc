"""Sharpness-aware minimisation around a base optimizer: SAM (Foret, Kleiner, Mobahi and Neyshabur,
"Sharpness-Aware Minimization for Efficiently Improving Generalization", ICLR 2021) and adaptive SAM
(Kwon, Kim, Park and Choi, "ASAM: Adaptive Sharpness-Aware Minimization for Scale-Invariant Learning
of Deep Neural Networks", ICML 2021).

One step, with g(w) the gradient of the batch loss at w:
    e   = rho * T^2 g(w) / ||T g(w)||        T = 1 (SAM), T = |w| + eta, elementwise (ASAM)
    w  <- base_step(w, g(w + e))              the base optimizer's step from w, with the gradient at w + e
two forward-backward passes per step: `step(closure)` calls the closure (forward, backward) at w,
moves to w + e, calls it again, moves back to w exactly (the saved weights, not w + e - e) and lets
the base optimizer (SGD, AdamW, ... with their own momentum, weight decay and fused kernels) step.
The norm is over every parameter of every group, as one vector.

References, followed: davda54/sam, sam.py (commit 87a9604, the SAM that val-iisc/Saddle-LongTail's
cifar_train_sam.py imports): e = rho * (|w|^2 if adaptive else 1) * g / ||(|w| if adaptive else 1) * g||,
its ASAM with eta = 0. Kwon et al.'s own code (SamsungLabs/ASAM) adds eta = 0.01 to |w| for weight
tensors only (parameters named *weight*, biases keep T = 1); `eta` here applies to every parameter,
and its default 0 is davda54's form, which Saddle-LongTail ran. What lossbench's training module adds
(module.py): the closure is Lightning's (training step under autocast, backward, gradient clipping,
so both passes run in bf16 under bf16-mixed and both gradients are clipped; with norm clipping the
first one's direction, and so e, is unchanged); BatchNorm running statistics are updated in the
first pass only (the references update them in both); under DDP both backward passes average the
gradients over the ranks, so every rank perturbs by the same e (the SAM paper's JAX code perturbs
each device by its own gradient, "m-sharpness"); the lr schedule acts on the base optimizer's
groups, which this optimizer shares. The train loss logged is the first pass's (at w).
"""
from __future__ import annotations

import inspect
from collections.abc import Callable

import torch

# optimizer.base: the optimizer group's options that SAM can wrap (their torch.optim classes)
BASES = {"sgd": torch.optim.SGD, "adamw": torch.optim.AdamW, "adam": torch.optim.Adam}


class SAM(torch.optim.Optimizer):
    """SAM / ASAM around `base` (a name of BASES or a torch.optim class), built with `base_kwargs`."""

    def __init__(self, params, base: str | type = "sgd", rho: float = 0.05, adaptive: bool = False,
                 eta: float = 0.0, **base_kwargs):
        if not rho >= 0:
            raise ValueError(f"optimizer.rho={rho!r} is out of range: the neighbourhood radius is a number >= 0.")
        if not eta >= 0:
            raise ValueError(f"optimizer.eta={eta!r} is out of range: a number >= 0.")
        base_class = _base_class(base)
        unknown = sorted(set(base_kwargs) - set(inspect.signature(base_class).parameters))
        if unknown:
            raise ValueError(f"optimizer.base={base}: {base_class.__name__} takes no {', '.join(unknown)}; drop "
                             f"{' '.join('~optimizer.' + k for k in unknown)} (the sam config carries sgd's fields).")
        super().__init__(params, dict(rho=float(rho), adaptive=bool(adaptive), eta=float(eta)))
        self.base_optimizer = base_class(self.param_groups, **base_kwargs)
        # One set of groups and one state: the lr schedule sets the base's lr, and this optimizer's
        # state_dict carries the base's momentum buffers, so a resumed run goes on exactly.
        self.param_groups = self.base_optimizer.param_groups
        self.state = self.base_optimizer.state
        self.defaults.update(self.base_optimizer.defaults)
        self.second_pass = False  # True while the closure runs at w + e (module.py reads it)

    def _scale(self, p: torch.Tensor, group: dict) -> torch.Tensor | float:
        return p.abs() + group["eta"] if group["adaptive"] else 1.0

    @torch.no_grad()
    def perturb(self) -> dict:
        """Move every parameter with a gradient to w + e(w); returns {param: w} to come back to."""
        norms = [(self._scale(p, g) * p.grad).norm(p=2) for g in self.param_groups for p in g["params"]
                 if p.grad is not None]
        if not norms:
            return {}
        norm = torch.linalg.vector_norm(torch.stack([n.double() for n in norms]))  # one scalar per tensor
        saved = {}
        for group in self.param_groups:
            factor = group["rho"] / (norm + 1e-12)
            for p in group["params"]:
                if p.grad is None:
                    continue
                saved[p] = p.detach().clone()
                scale = self._scale(p, group)
                p.add_(scale * scale * p.grad * factor.to(p.dtype))
        return saved

    @torch.no_grad()
    def step(self, closure: Callable | None = None):
        if closure is None:
            raise RuntimeError("SAM takes two forward-backward passes per step: call step(closure), with a closure "
                               "that zeroes the gradients, computes the loss and calls backward() (Lightning does).")
        with torch.enable_grad():
            loss = closure()
        saved = self.perturb()
        self.second_pass = True
        try:
            with torch.enable_grad():
                closure()
        finally:
            self.second_pass = False
            for p, w in saved.items():
                p.copy_(w)
        self.base_optimizer.step()
        return loss

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        self.base_optimizer.param_groups = self.param_groups
        self.base_optimizer.state = self.state


def _base_class(base):
    if isinstance(base, type) and issubclass(base, torch.optim.Optimizer):
        return base
    if base in BASES:
        return BASES[base]
    raise ValueError(f"optimizer.base={base!r} is not an optimizer SAM can wrap: one of {', '.join(BASES)}.")
