"""LegendreTron: a proper multi-class loss learned with the network (Lam, Walder, Penev and Nock,
"LegendreTron: Uprising Proper Multiclass Loss Learning", ICML 2023; code khflam/legendretron at
commit b313840, lib/models.py `LegendreLink`, `DeepConvexFlow`, lib/icnn.py `ICNN3`,
lib/functional.py `log_softmax_plus`).

The model's C logits z give u = z_{1..C-1} - z_C in R^{C-1} (the authors' linear model outputs these
C-1 scores directly, the last class's being 0: `model.pin_last_logit=true` is exactly that). The
inverse canonical link is
    v = grad psi_B o ... o grad psi_1 (u),   psi_b(x) = softplus(w1_b) icnn_b(x) + softplus(w0_b) |x|^2 / 2,
    p = softmax+(v) = softmax([v, 0]),
with each icnn_b an input-convex network, so each grad psi_b is the gradient of a strictly convex
function: a strongly monotone bijection of R^{C-1} (the |x|^2 term). With one block (the MNIST
default) the link is itself such a gradient, monotone; with B > 1 blocks (the authors' LIBSVM
default, 2) each block is one and the composite is an invertible link, so the loss below stays
proper, but a composite of gradients need not be monotone (on random link parameters 3 blocks broke
<grad(u) - grad(v), u - v> >= 0 on some pairs; the tests check monotonicity for one block).
The loss is the log loss of p:
    l(z, y) = -log p_y = -log_softmax([v, 0])_y,
proper for any fixed link (its expected-loss minimiser over u gives p), and the link's parameters
are trained with the network (loss parameters: their own optimizer group, `lr_scale`,
`weight_decay`). At evaluation the logits become log p (`adjust_eval_logits`), so accuracy, NLL and
ECE are those of the probabilities the loss predicts.

The ICNN is the authors' `ICNN3` (from CP-Flow, Huang et al. 2021): a first affine layer of u with
softplus, then `depth - 1` layers softplus(ActNorm(W+ z / m + W_x u)) (W+ = softplus of a weight,
divided by its fan-in m, as their `PosLinear`) each concatenated with softplus(W2 u), and a last
positive layer plus a linear term of u through an ActNorm whose shift is frozen. ActNorm is
initialised from the first training batch (shift to mean 0, scale to unit variance), as theirs;
here the initialisation is a checkpointed buffer (theirs is a Python flag, lost on reload), it
happens only in training mode (their first call is always a training batch), and under DDP the
batch moments are averaged over the ranks so that every rank starts from the same link.
w1 and w0 start at N(0, 1) draws (their `bias_w1=0`, `identity_diag=True`).

Defaults are the authors' lt_mnist.py: hidden = 4, depth = 4, blocks = 1, and the link regularised
as the model: weight_decay = 1e-3 (their L2 term 0.5 * 1e-3 * |theta|^2 over every parameter), lr as
the model's (lr_scale = 1). Their LIBSVM script uses hidden = 2, blocks = 2, weight decay 1e-2.
The loss computes in float32 under bf16-mixed and in float64 under `trainer.precision=64-true` (the
authors train in float64).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lossbench.losses.base import ClassificationLoss
from lossbench.losses.registry import register_loss

_MIN_SCALE = 1e-3  # ActNorm's scale is exp(logs) + 0.001, as CP-Flow's `_scaling_min`


def _all_reduce(*tensors: Tensor) -> None:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        for t in tensors:
            torch.distributed.all_reduce(t)


class PositiveLinear(nn.Linear):
    """(x softplus(W)^T + b) / in_features: non-negative weights keep the network convex in its input."""

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, F.softplus(self.weight), self.bias) / x.shape[1]


class ActNorm(nn.Module):
    """(x + b) * (exp(logs) + 0.001), b and logs set from the first training batch's moments."""

    def __init__(self, features: int, learn_shift: bool = True):
        super().__init__()
        self.b = nn.Parameter(torch.zeros(features), requires_grad=learn_shift)
        self.logs = nn.Parameter(torch.zeros(features))
        self.register_buffer("initialized", torch.tensor(False))

    @torch.no_grad()
    def _initialize(self, x: Tensor) -> None:
        # Two passes (mean, then mean squared deviation), as the authors' code; summed over DDP ranks.
        x = x.to(torch.float64)
        total, count = x.sum(0), torch.tensor(float(x.shape[0]), dtype=torch.float64, device=x.device)
        _all_reduce(total, count)
        mean = total / count
        squares = (x - mean).pow(2).sum(0)
        _all_reduce(squares)
        self.b.copy_(-mean)
        self.logs.copy_(torch.log(1.0 / (torch.sqrt(squares / count) + 1e-6)))  # CP-Flow's scale = 1
        self.initialized.fill_(True)

    def forward(self, x: Tensor) -> Tensor:
        if self.training and not bool(self.initialized):
            self._initialize(x.detach())
        return (x + self.b) * (torch.exp(self.logs) + _MIN_SCALE)


class InputConvexNet(nn.Module):
    """The authors' ICNN3 (softplus activations, no symmetric first activation): R^d -> R, convex."""

    def __init__(self, dim: int, hidden: int, depth: int):
        super().__init__()
        half = hidden // 2
        self.first = nn.Linear(dim, hidden)
        self.z_layers = nn.ModuleList(PositiveLinear(hidden, half) for _ in range(depth - 1))
        self.x_layers = nn.ModuleList(nn.Linear(dim, half) for _ in range(depth - 1))
        self.aug_layers = nn.ModuleList(nn.Linear(dim, half) for _ in range(depth - 1))
        self.norms = nn.ModuleList(ActNorm(half) for _ in range(depth - 1))
        self.last_z = PositiveLinear(hidden, 1, bias=False)
        self.last_x = nn.Linear(dim, 1, bias=False)
        self.last_norm = ActNorm(1, learn_shift=False)

    def forward(self, x: Tensor) -> Tensor:
        z = F.softplus(self.first(x))
        for z_layer, x_layer, aug_layer, norm in zip(self.z_layers, self.x_layers, self.aug_layers, self.norms):
            z = torch.cat([F.softplus(norm(z_layer(z) + x_layer(x))), F.softplus(aug_layer(x))], dim=1)
        return self.last_norm(self.last_z(z) + self.last_x(x))


class ConvexPotentialGradient(nn.Module):
    """x -> grad psi(x), psi(x) = softplus(w1) icnn(x) + softplus(w0) |x|^2 / 2 (CP-Flow's DeepConvexFlow)."""

    def __init__(self, dim: int, hidden: int, depth: int):
        super().__init__()
        self.icnn = InputConvexNet(dim, hidden, depth)
        self.w1 = nn.Parameter(torch.randn(1))
        self.w0 = nn.Parameter(torch.randn(1))

    def potential(self, x: Tensor) -> Tensor:
        return F.softplus(self.w1) * self.icnn(x) + F.softplus(self.w0) * x.pow(2).sum(1, keepdim=True) / 2

    def forward(self, x: Tensor) -> Tensor:
        graph = torch.is_grad_enabled()  # training: the link's own parameters need the graph of the gradient
        # Evaluation runs under inference mode, where autograd is off: the gradient map needs it on.
        with torch.inference_mode(False), torch.enable_grad():
            x = x.clone().requires_grad_(True)
            return torch.autograd.grad(self.potential(x).sum(), x, create_graph=graph)[0]


@register_loss("legendretron")
class LegendreTronLoss(ClassificationLoss):
    """-log softmax([link(z_{<C} - z_C), 0])_y with a learned monotone link (see the module docstring)."""

    weight_decay = 1e-3  # the authors' lt_mnist.py regularises the link as the model

    def __init__(self, *, hidden: int = 4, depth: int = 4, blocks: int = 1, **common):
        super().__init__(**common)
        for key, value, low in (("hidden", hidden, 2), ("depth", depth, 2), ("blocks", blocks, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{key}={value!r} is out of range: it must be an integer >= {low}.")
        if hidden % 2:
            raise ValueError(f"hidden={hidden!r} must be even: each hidden layer is two halves of hidden / 2 units.")
        self.hidden, self.depth, self.blocks = hidden, depth, blocks
        self.flows = nn.ModuleList(ConvexPotentialGradient(self.num_classes - 1, hidden, depth) for _ in range(blocks))

    def link(self, u: Tensor) -> Tensor:
        """v = grad psi_B(... grad psi_1(u)) in R^{C-1}, the link before softmax+."""
        for flow in self.flows:
            u = flow(u)
        return u

    def log_probs(self, logits: Tensor) -> Tensor:
        """log p [N, C]: log softmax+ of the link of u = z_{<C} - z_C, in the dtype of the link's parameters."""
        dtype = self.flows[0].w1.dtype
        # The link's layers would run in bf16 under autocast: the loss computes in its parameters' dtype.
        with torch.autocast(logits.device.type, enabled=False):
            logits = logits.to(dtype)
            v = self.link(logits[:, :-1] - logits[:, -1:])
            return torch.log_softmax(torch.cat([v, v.new_zeros(len(v), 1)], dim=1), dim=1)

    def per_sample(self, logits: Tensor, targets: Tensor, **inputs) -> Tensor:
        return -self.log_probs(logits).gather(1, targets[:, None]).squeeze(1)

    def adjust_eval_logits(self, logits: Tensor) -> Tensor:
        """log p: the probabilities the loss predicts are softmax(log p) = p."""
        return super().adjust_eval_logits(self.log_probs(self._prepared(logits)))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, hidden={self.hidden}, depth={self.depth}, blocks={self.blocks}"
