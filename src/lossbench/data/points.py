"""Data that are points, not images: float vectors stored as [N, d, 1, 1] (d channels of 1 x 1
"images"), so the models that flatten their input (`affine`, `mlp`) take them. Batches are
(x - mean) / std in the points' own units, never divided by 255, with no augmentation, on either
loader setting; the seeded order and DDP sharding are the image datasets' (data/sampling.py)."""
from __future__ import annotations

from lossbench.data.base import ImageDataModule
from lossbench.data.loaders import DeviceLoader
from lossbench.data.sampling import EpochSampler, eval_shard


class PointDataModule(ImageDataModule):
    """Base of the point datasets (gaussian2d, the scikit-learn tables): `load_arrays` gives float32 [N, d, 1, 1]."""

    flip_allowed = False

    def __init__(self, **common):
        augment = common.get("augment", "none")
        if augment != "none":
            raise ValueError(f"data.augment={augment!r}: points have no pixels to crop or flip; use "
                             f"data.augment=none.")
        super().__init__(**common)

    def train_dataloader(self):
        device, rank, world = self._placement()
        x, y = self._on_device("train", device)
        sampler = EpochSampler(self.train_y.numpy(), self.sampler, self.shuffle_seed, world, rank)
        return PointLoader(x, y, self.batch_size, self.mean, self.std, sampler=sampler,
                           return_indices=self.return_indices)

    def _eval_loader(self, split: str):
        device, rank, world = self._placement()
        x, y = self._on_device(split, device)
        return PointLoader(x, y, self.eval_batch_size, self.mean, self.std, order=eval_shard(len(y), rank, world))


class PointLoader(DeviceLoader):
    """`DeviceLoader` for float points: the same seeded order and sharding, batches (x - mean) / std."""

    def __iter__(self):
        idx, _, _ = self._epoch_plan()
        mean, std = self.mean.view(1, -1, 1, 1), self.std.view(1, -1, 1, 1)
        for start in range(0, len(idx), self.batch_size):
            batch = idx[start:start + self.batch_size]
            x = (self.images[batch] - mean) / std
            yield (x, self.labels[batch], batch) if self.return_indices else (x, self.labels[batch])
