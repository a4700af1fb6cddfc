"""Early-learning regularisation (Liu, Niles-Weed, Razavian & Fernandez-Granda, "Early-Learning
Regularization Prevents Memorization of Noisy Labels", NeurIPS 2020). Needs the dataset index of
each sample (`needs = {"indices"}`).

    elr:  l_i = CE_i + lambda log(1 - <t_i, p_i>)
          p_i = clamp(softmax(z_i), 1e-4, 1 - 1e-4)
          t_i <- beta t_i + (1 - beta) p_i' / sum_k p_ik'   (p' = p detached; before the loss)

t_i is a running average of the model's own (clamped, renormalised) predictions for sample i, one
row per training sample, starting at zero. The regulariser pulls p_i toward t_i (it decreases as
<t_i, p_i> grows), so the early, mostly clean, predictions hold the later ones back from
memorising noisy labels.

Reference: shengliu66/ELR, ELR/model/loss.py `elr_loss` (commit 513693e); defaults lambda = 3,
beta = 0.7 are its CIFAR-10 config (ELR/config_cifar10.json). As the code: the clamp (so classes
clamped at 1e-4 or 1 - 1e-4 get no gradient from the regulariser), the update of t before the loss
with detached predictions, and the row read back after the write (two copies of one sample in a
batch both see the last write).

State: t is the persistent float32 buffer `ema_targets` [num_samples, C], saved in `state_dict` and
checkpoints and restored on resume. It is updated in training mode only (the reference's trainer
calls the loss in training only). Its size: `num_samples=` (the training-set size), or, when
omitted, set by the training module (`ClassificationModule.setup` calls `bind_training_set` with the
data module's training-set size before training); a state_dict of another size is taken as it is.
Under DDP (the reference is single-process) every process applies the updates of all processes'
samples (gathered with all_gather), so the copies stay equal: as one process with the global batch,
and consistent with DDP's broadcast of rank 0's buffers before each forward.
"""
from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor

from lossbench.losses._terms import target_nll
from lossbench.losses.base import ClassificationLoss, check_range
from lossbench.losses.registry import register_loss

PROB_CLAMP = 1e-4  # the reference's clamp of the predictions


def gather_from_all_ranks(indices: Tensor, rows: Tensor) -> tuple[Tensor, Tensor]:
    """Every process's (indices, rows), concatenated in rank order; the inputs themselves when not
    distributed. Batches may differ in size across processes (padded for all_gather, then cut)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return indices, rows
    world = dist.get_world_size()
    sizes = [torch.zeros(1, dtype=torch.int64, device=indices.device) for _ in range(world)]
    dist.all_gather(sizes, torch.tensor([len(indices)], dtype=torch.int64, device=indices.device))
    longest = int(max(s.item() for s in sizes))
    padded_idx = indices.new_zeros(longest)
    padded_idx[:len(indices)] = indices
    padded_rows = rows.new_zeros(longest, rows.shape[1])
    padded_rows[:len(rows)] = rows
    all_idx = [torch.empty_like(padded_idx) for _ in range(world)]
    all_rows = [torch.empty_like(padded_rows) for _ in range(world)]
    dist.all_gather(all_idx, padded_idx)
    dist.all_gather(all_rows, padded_rows)
    n = [int(s.item()) for s in sizes]
    return (torch.cat([a[:k] for a, k in zip(all_idx, n)]), torch.cat([r[:k] for r, k in zip(all_rows, n)]))


@register_loss("elr")
class ELRLoss(ClassificationLoss):
    """CE + lambda log(1 - <t_i, p_i>), t_i a per-sample running average of the predictions."""

    needs = frozenset({"indices"})

    def __init__(self, *, lambda_: float = 3.0, beta: float = 0.7, num_samples: int | None = None, **common):
        super().__init__(**common)
        self.lambda_ = check_range("lambda_", lambda_, 0.0)
        self.beta = check_range("beta", beta, 0.0, 1.0)
        if num_samples is not None:
            check_range("num_samples", num_samples, 1.0)
            if int(num_samples) != num_samples:
                raise ValueError(f"num_samples={num_samples!r} is not an integer: it is the training-set size.")
        self.register_buffer("ema_targets", torch.zeros(int(num_samples or 0), self.num_classes), persistent=True)

    def bind_training_set(self, *, num_samples: int) -> None:
        rows = self.ema_targets.shape[0]
        if rows == num_samples:
            return
        if rows:
            raise ValueError(f"loss 'elr' holds targets for {rows} samples but the training set has {num_samples}.")
        self.ema_targets = self.ema_targets.new_zeros(num_samples, self.num_classes)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # A loss built without num_samples takes the size of the state it is given.
        saved = state_dict.get(prefix + "ema_targets")
        if saved is not None and saved.shape != self.ema_targets.shape and self.ema_targets.shape[0] == 0:
            self.ema_targets = self.ema_targets.new_zeros(saved.shape)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def per_sample(self, logits: Tensor, targets: Tensor, *, indices: Tensor) -> Tensor:
        if self.ema_targets.shape[0] == 0:
            raise ValueError("loss 'elr' does not know the training-set size: pass num_samples= or train it through "
                             "ClassificationModule with a lossbench data module.")
        p = F.softmax(logits, dim=1).clamp(PROB_CLAMP, 1.0 - PROB_CLAMP)
        if self.training:
            q = p.detach()
            q = (q / q.sum(dim=1, keepdim=True)).to(self.ema_targets.dtype)
            rows, q = gather_from_all_ranks(indices, q)
            self.ema_targets[rows] = self.beta * self.ema_targets[rows] + (1.0 - self.beta) * q
        t = self.ema_targets[indices].to(logits.dtype)
        regulariser = torch.log1p(-(t * p).sum(dim=1))
        return target_nll(logits, targets) + self.lambda_ * regulariser
