"""Which training images an epoch visits, and in what order: one seeded order per epoch, the same
on every DDP rank, each rank taking its own shard.

  random          a permutation of the training set (torch.randperm, generator seed + epoch); with
                  W ranks it is cut to a multiple of W and rank r takes positions r, r+W, ..., so no
                  image is seen twice in an epoch (up to W-1 images sit out, a different few each epoch);
  class_balanced  N draws with replacement, image weight 1/n_c: every class equally likely
                  ("CB RS", class-balanced re-sampling; Kang et al. 2020 "q = 0");
  sqrt            N draws with replacement, image weight n_c^(-1/2): class c drawn with probability
                  proportional to sqrt(n_c) (square-root sampling, q = 1/2).
Evaluation shards: rank r evaluates positions r, r+W, ... of the split, unpadded, so every image is
evaluated exactly once over the ranks (shards differ by at most one image; the training module
gathers them, uneven sizes included, before computing metrics).
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DistributedSampler

SAMPLERS = ("random", "class_balanced", "sqrt")
_EXPONENT = {"class_balanced": -1.0, "sqrt": -0.5}


class EpochSampler(DistributedSampler):
    """Training-set sampler for both loaders. A DistributedSampler subclass so Lightning leaves it
    in place under DDP (it shards by itself) and calls `set_epoch` before every epoch."""

    def __init__(self, labels, mode: str = "random", seed: int = 0, num_replicas: int = 1, rank: int = 0):
        if mode not in SAMPLERS:
            raise ValueError(f"data.sampler={mode!r} is not one of {', '.join(SAMPLERS)}.")
        labels = np.asarray(labels, dtype=np.int64)
        super().__init__(range(len(labels)), num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed,
                         drop_last=True)
        self.mode, self.size = mode, len(labels)
        self.weights = None
        if mode != "random":
            counts = np.bincount(labels).astype(np.float64)
            self.weights = torch.from_numpy(counts[labels] ** _EXPONENT[mode])
        self.num_samples = self.size // num_replicas if num_replicas > 1 else self.size

    def indices(self) -> torch.Tensor:
        """This rank's indices for the current epoch (an int64 tensor on the CPU)."""
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        if self.weights is None:
            order = torch.randperm(self.size, generator=generator)
        else:
            order = torch.multinomial(self.weights, self.size, replacement=True, generator=generator)
        usable = self.num_samples * self.num_replicas
        return order[:usable][self.rank::self.num_replicas]

    def __iter__(self):
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        return self.num_samples


def eval_shard(size: int, rank: int = 0, num_replicas: int = 1) -> torch.Tensor:
    """Indices of an evaluation split on this rank: positions rank, rank + W, ... (no padding)."""
    return torch.arange(size)[rank::num_replicas]
