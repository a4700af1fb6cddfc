"""The two ways batches are made.

`DeviceLoader` (data.loader: gpu): the whole uint8 split lives on the training device; each epoch
the sampler's order and all augmentation parameters are drawn at once on the CPU (seeded by seed,
epoch and rank) and copied over in one transfer; each batch is one gather + crop/flip gather +
normalisation on the device. No worker processes, no per-image Python, no host sync per batch.
It works on any device, the CPU included.

`torch` loader: an ordinary DataLoader over `AugmentedTensorDataset` (torchvision transforms per
image), with the same `EpochSampler`.

With `return_indices` (training batches of a loss that needs `indices`, e.g. elr) both yield
(images, labels, indices): the index of each sample in the split's arrays (int64), which is the
same in every epoch whatever the sampler's order.
"""
from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.data import Dataset

from lossbench.data.augment import batch_crop_flip, draw_params, normalize
from lossbench.data.sampling import EpochSampler


class DeviceLoader:
    """Iterable of (float images, labels[, indices]) batches from device-resident uint8 tensors."""

    # Lightning inspects `sampler` / `batch_sampler` like a DataLoader's (to call set_epoch and to
    # decide whether the loader shuffles); batches are made here, so there is no batch sampler.
    batch_sampler = None

    def __init__(self, images: Tensor, labels: Tensor, batch_size: int, mean: Tensor, std: Tensor, *,
                 sampler: EpochSampler | None = None, order: Tensor | None = None, augment: str = "none",
                 pad: int = 4, return_indices: bool = False, drop_last: bool = False):
        self.images, self.labels, self.batch_size = images, labels, int(batch_size)
        self.drop_last = bool(drop_last)  # only full batches (static shapes for a compiled model)
        self.mean, self.std = mean.to(images.device), std.to(images.device)
        self.sampler = sampler  # Lightning calls sampler.set_epoch(epoch) before each epoch
        self.order = order if order is not None else torch.arange(len(labels))
        self.augment, self.pad = augment, int(pad)
        self.return_indices = bool(return_indices)

    def __len__(self) -> int:
        n = len(self.sampler) if self.sampler is not None else len(self.order)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _epoch_plan(self):
        if self.sampler is None:
            return self.order.to(self.images.device), None, None
        idx = self.sampler.indices()
        offsets = flips = None
        if self.augment != "none":
            generator = torch.Generator().manual_seed(
                (self.sampler.seed * 1_000_003 + self.sampler.epoch) * 4099 + self.sampler.rank + 1)
            offsets, flips = draw_params(len(idx), self.pad, self.augment == "crop_flip", generator)
            offsets, flips = offsets.to(self.images.device), flips.to(self.images.device)
        return idx.to(self.images.device), offsets, flips

    def __iter__(self):
        # The epoch's plan (order and augmentation draws) is made and sent to the device here, at
        # iter(), once per epoch; the batches after it never wait for the host.
        return self._batches(*self._epoch_plan())

    def _batches(self, idx, offsets, flips):
        end = len(idx) - len(idx) % self.batch_size if self.drop_last else len(idx)
        for start in range(0, end, self.batch_size):
            batch = idx[start:start + self.batch_size]
            # index_select on the flattened images: one contiguous row copy per image (much faster
            # than advanced indexing of a 4-d uint8 tensor on a CPU)
            x = torch.index_select(self.images.view(len(self.images), -1), 0, batch).view(-1, *self.images.shape[1:])
            if offsets is not None:
                x = batch_crop_flip(x, offsets[start:start + self.batch_size], flips[start:start + self.batch_size],
                                    self.pad)
            if self.return_indices:
                yield normalize(x, self.mean, self.std), self.labels[batch], batch
            else:
                yield normalize(x, self.mean, self.std), self.labels[batch]


class AugmentedTensorDataset(Dataset):
    """uint8 images -> (optional torchvision transform) -> float, normalised per channel; items are
    (image, label), or (image, label, index) with `return_indices`."""

    def __init__(self, images: Tensor, labels: Tensor, mean: Tensor, std: Tensor, transform=None,
                 return_indices: bool = False):
        self.images, self.labels, self.transform = images, labels, transform
        self.return_indices = bool(return_indices)
        self.mean, self.std = mean.view(-1, 1, 1), std.view(-1, 1, 1)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        image = self.images[i]
        if self.transform is not None:
            image = self.transform(image)
        image = (image.float() / 255.0 - self.mean) / self.std
        return (image, self.labels[i], i) if self.return_indices else (image, self.labels[i])
