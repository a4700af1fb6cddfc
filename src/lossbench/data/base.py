"""The data protocol, in one place: every dataset is a subclass of `ImageDataModule` that only
loads its arrays; this class applies the protocol the comparisons depend on, in this order:

  1. load the official train / test arrays (uint8, N x C x H x W) -- `load_arrays()`;
  2. long-tailed subsampling of the training set (`imbalance_ratio`, `profile`, `lt_seed`), as the
     LDAM-DRW reference code does it (see longtail.py); the test set stays balanced;
  3. label noise on those training labels (`label_noise`, see noise.py); the test set stays clean;
  4. a validation set for model selection (`val_source`); the test set is only evaluated:
       split    a stratified `val_fraction` carved from that (long-tailed, noisy) training set
                (`split_seed`): its labels carry the same noise, and the losses train on the rest;
                val_fraction=0 means no validation set;
       heldout  `val_per_class` images per class drawn (RandomState(`split_seed`)) from the official
                training images the long-tail subsampling did NOT choose, with their clean labels: the
                training set stays exactly the paper's. A class with fewer unused images gives all it
                has (the head class of an exp long tail keeps every image, so it has none: see
                `val_class_counts` in results.json); a dataset without a long tail has no unused
                images and refuses heldout;
       none     no validation set, no `best`.
     `val_fraction` belongs to `split`: heldout and none refuse a val_fraction > 0;
  5. `class_counts`: training images per (noisy) label after the split, handed to the losses.

Batches: `sampler` (random | class_balanced | sqrt, sampling.py), `augment` (none | crop | crop_flip,
augment.py), `loader` (gpu: the uint8 split on the training device, augmented there in batch;
torch: DataLoader + torchvision transforms; auto: gpu when training on a GPU). Images stay uint8
until a batch is drawn; normalisation (`mean`, `std` per channel, in [0, 1] pixel units) is per batch.
`return_indices` (an attribute, False by default; the training module sets it when its loss needs
`indices`): training batches are (x, y, idx), idx the index of each sample in the training split
(0 to len(train_y) - 1); evaluation batches stay (x, y).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import lightning as L
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from lossbench.data.augment import check_augment, torchvision_transform
from lossbench.data.loaders import AugmentedTensorDataset, DeviceLoader
from lossbench.data.longtail import longtail_counts, longtail_indices
from lossbench.data.noise import apply_label_noise, check_noise_config
from lossbench.data.sampling import SAMPLERS, EpochSampler, eval_shard
from lossbench.data.splits import balanced_heldout, stratified_split
from lossbench.errors import UsageError

LOADERS = ("auto", "gpu", "torch")
VAL_SOURCES = ("split", "heldout", "none")


@dataclass
class ImageArrays:
    """What a dataset loader returns: uint8 images [N, C, H, W] and int64 labels [N]."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    class_names: list[str] | None = None
    note: str | None = None  # e.g. "checksums differ from the official files"
    source: str | None = None  # where the files were read from
    fine_to_coarse: list[int] | None = None  # CIFAR-100: superclass of each class


class ImageDataModule(L.LightningDataModule):
    """Base class of every lossbench dataset. Subclasses set `num_classes` and implement
    `load_arrays()`; see the module docstring for the protocol."""

    num_classes: int = 0
    declared_shape: tuple[int, int] = (0, 0)  # (channels, height = width) of its images, known before loading
    asymmetric_noise: str | None = None  # which asymmetric noise map applies (noise.py), if any
    flip_allowed: bool = True  # False for digits: a mirrored digit is another shape
    task: str = "multiclass"  # lossbench.tasks.TASKS: binary data has labels 0 and 1 and a one-score model

    def __init__(self, *, name: str, root: str | None = None, imbalance_ratio: float = 1.0,
                 profile: str = "exp", lt_seed: int = 0, val_fraction: float = 0.1, split_seed: int = 0,
                 batch_size: int = 128, eval_batch_size: int = 256, num_workers: int = 0,
                 mean: tuple[float, ...] = (0.5,), std: tuple[float, ...] = (0.5,),
                 label_noise: Mapping | None = None, sampler: str = "random", loader: str = "auto",
                 augment: str = "none", crop_padding: int = 4, shuffle_seed: int = 0, val_source: str = "split",
                 val_per_class: int = 50):
        super().__init__()
        self.name, self.root = name, root
        self.imbalance_ratio, self.profile, self.lt_seed = float(imbalance_ratio), profile, int(lt_seed)
        self.val_fraction, self.split_seed = float(val_fraction), int(split_seed)
        self.batch_size, self.eval_batch_size, self.num_workers = int(batch_size), int(eval_batch_size), int(num_workers)
        self.mean = torch.tensor(list(mean), dtype=torch.float32)
        self.std = torch.tensor(list(std), dtype=torch.float32)
        self.sampler, self.loader, self.augment = str(sampler), str(loader), str(augment)
        self.crop_padding, self.shuffle_seed = int(crop_padding), int(shuffle_seed)
        longtail_counts(1, max(self.num_classes, 2), self.imbalance_ratio, profile)  # validate early
        self.label_noise = check_noise_config(label_noise, self.asymmetric_noise)
        check_augment(self.augment, self.crop_padding, self.flip_allowed)
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"data.val_fraction={val_fraction!r} is out of range: it must be in [0, 1).")
        self.val_source, self.val_per_class = str(val_source), val_per_class
        check_val_source(self.val_source, self.val_fraction, val_per_class, self.imbalance_ratio)
        if self.batch_size < 1 or self.eval_batch_size < 1:
            raise ValueError(f"data.batch_size={batch_size!r} / data.eval_batch_size={eval_batch_size!r} are out "
                             f"of range: both must be >= 1.")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"data.sampler={sampler!r} is not one of {', '.join(SAMPLERS)}.")
        if self.loader not in LOADERS:
            raise ValueError(f"data.loader={loader!r} is not one of {', '.join(LOADERS)} "
                             f"(auto = gpu when training on a GPU, torch otherwise).")
        if (self.std <= 0).any() or len(self.mean) != len(self.std):
            raise ValueError(f"data.mean={list(mean)} / data.std={list(std)}: one value per channel each, std > 0.")
        self._prepared = False
        self._device_cache: dict = {}
        self.drop_last = False  # training batches: drop an epoch's last partial batch (set for compiled models)
        self.return_indices = False

    # -- to implement -------------------------------------------------------------------------
    def load_arrays(self) -> ImageArrays:
        raise NotImplementedError

    # -- the protocol --------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self._prepared:
            return
        arrays = self.load_arrays()
        train_x, train_y = arrays.train_images, np.asarray(arrays.train_labels, dtype=np.int64)
        self.lt_indices = None
        if self.imbalance_ratio != 1.0:
            n_max = int(np.bincount(train_y, minlength=self.num_classes).max())
            keep = longtail_indices(train_y, longtail_counts(n_max, self.num_classes, self.imbalance_ratio,
                                                             self.profile), self.lt_seed)
            self.lt_indices = keep
            train_x, train_y = train_x[keep], train_y[keep]
        self.check_no_empty_class(train_y, arrays.class_names, int(np.bincount(np.asarray(arrays.train_labels, dtype=np.int64)).max()))
        self.clean_train_y = train_y
        train_y, self.noise_record = apply_label_noise(train_y, self.num_classes, self.label_noise,
                                                       self.asymmetric_noise, arrays.fine_to_coarse)
        if self.val_source == "heldout":
            held = balanced_heldout(arrays.train_labels, self.lt_indices, self.val_per_class, self.num_classes,
                                    self.split_seed)
            if len(held) == 0:
                raise UsageError(f"data.val_source=heldout: the long tail (imbalance_ratio={self.imbalance_ratio:g}) "
                                 f"left no training image unused to hold out; use data.val_source=split.")
            val_x, val_y = arrays.train_images[held], np.asarray(arrays.train_labels, dtype=np.int64)[held]
        else:
            train_x, train_y, val_x, val_y = self.split_validation(train_x, train_y)
        self.keep_splits(arrays, train_x, train_y, val_x, val_y, np.asarray(arrays.test_labels, dtype=np.int64))
        if len(self.mean) not in (1, self.in_channels) or len(self.std) not in (1, self.in_channels):
            raise UsageError(f"data.mean / data.std have {len(self.mean)} values for {self.in_channels}-channel "
                             f"images: give one per channel.")
        self._prepared = True

    def keep_splits(self, arrays: ImageArrays, train_x, train_y, val_x, val_y, test_y) -> None:
        """The splits the protocol made, as the tensors the loaders read (val_x/val_y None: no validation)."""
        self.class_names, self.note, self.source = arrays.class_names, arrays.note, arrays.source
        self.train_x, self.train_y = torch.from_numpy(np.ascontiguousarray(train_x)), torch.from_numpy(train_y)
        self.val_x = None if val_x is None else torch.from_numpy(np.ascontiguousarray(val_x))
        self.val_y = None if val_y is None else torch.from_numpy(val_y)
        self.test_x = torch.from_numpy(np.ascontiguousarray(arrays.test_images))
        self.test_y = torch.from_numpy(test_y)

    def check_no_empty_class(self, train_y: np.ndarray, names, n_max: int) -> None:
        """A class without training images cannot be learned and breaks class-count losses: refuse."""
        counts = np.bincount(train_y, minlength=self.num_classes)
        empty = [int(c) for c in np.flatnonzero(counts == 0)]
        if not empty:
            return
        label = ", ".join(f"{c} ({names[c]})" if names else str(c) for c in empty[:20]) + (" ..." if len(empty) > 20 else "")
        if self.imbalance_ratio != 1.0:
            raise UsageError(f"data.imbalance_ratio={self.imbalance_ratio:g} leaves {len(empty)} of {self.num_classes} "
                             f"classes with no training image: {label}. The rarest class keeps int(n_max / ratio) "
                             f"images, n_max = {n_max} here: use data.imbalance_ratio <= {n_max}.")
        raise UsageError(f"data={self.name}: {len(empty)} of {self.num_classes} classes have no training image: {label}.")

    def split_validation(self, x, y):
        if self.val_source == "none" or self.val_fraction == 0:
            return x, y, None, None
        kept, held = stratified_split(y, self.val_fraction, self.split_seed)
        return x[kept], y[kept], x[held], y[held]

    # -- what the rest of lossbench reads --------------------------------------------------------
    @property
    def class_counts(self) -> list[int]:
        """Training images per (noisy) label, after long-tail subsampling, noise and the validation split."""
        return np.bincount(self.train_y.numpy(), minlength=self.num_classes).tolist()

    @property
    def has_validation(self) -> bool:
        return self.val_source == "heldout" or (self.val_source == "split" and self.val_fraction > 0)

    @property
    def in_channels(self) -> int:
        return int(self.train_x.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.train_x.shape[-1])

    def val_class_counts(self) -> list[int] | None:
        """Validation images per label (None without a validation set)."""
        return None if self.val_y is None else np.bincount(self.val_y.numpy(), minlength=self.num_classes).tolist()

    def dataset_facts(self) -> dict:
        """Dataset facts for results.json."""
        return {"name": self.name, "num_train": len(self.train_y), "num_val": 0 if self.val_y is None else len(self.val_y),
                "num_test": len(self.test_y), "imbalance_ratio": self.imbalance_ratio, "profile": self.profile,
                "lt_seed": self.lt_seed, "val_source": self.val_source, "val_fraction": self.val_fraction,
                "val_per_class": self.val_per_class if self.val_source == "heldout" else None,
                "val_class_counts": self.val_class_counts(), "split_seed": self.split_seed,
                "sampler": self.sampler, "loader": self.loader, "augment": self.augment, "drop_last": self.drop_last,
                "source": self.source,
                "note": self.note}

    def result_fields(self) -> dict:
        """Top-level results.json entries contributed by the data protocol."""
        return {"task": self.task, "dataset": self.dataset_facts(), "label_noise": self.noise_record}

    # -- loaders -----------------------------------------------------------------------------
    def _placement(self) -> tuple[torch.device, int, int]:
        """(training device, rank, world size): from the attached trainer, else the CPU alone."""
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return torch.device("cpu"), 0, 1
        return trainer.strategy.root_device, int(trainer.global_rank), int(trainer.world_size)

    def resolve_loader(self, device: torch.device) -> str:
        if self.loader != "auto":
            return self.loader
        return "gpu" if device.type in ("cuda", "mps") else "torch"

    def _on_device(self, split: str, device: torch.device) -> tuple[Tensor, Tensor]:
        key = (split, str(device))
        if key not in self._device_cache:
            x, y = getattr(self, f"{split}_x"), getattr(self, f"{split}_y")
            self._device_cache[key] = (x.to(device), y.to(device))
        return self._device_cache[key]

    def train_dataloader(self):
        device, rank, world = self._placement()
        sampler = EpochSampler(self.train_y.numpy(), self.sampler, self.shuffle_seed, world, rank)
        if self.resolve_loader(device) == "gpu":
            x, y = self._on_device("train", device)
            return DeviceLoader(x, y, self.batch_size, self.mean, self.std, sampler=sampler, augment=self.augment,
                                pad=self.crop_padding, return_indices=self.return_indices, drop_last=self.drop_last)
        transform = torchvision_transform(self.augment, self.crop_padding, self.image_size)
        dataset = AugmentedTensorDataset(self.train_x, self.train_y, self.mean, self.std, transform,
                                         return_indices=self.return_indices)
        return DataLoader(dataset,
                          batch_size=self.batch_size, sampler=sampler, drop_last=self.drop_last,
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0)

    def _eval_loader(self, split: str):
        device, rank, world = self._placement()
        if self.resolve_loader(device) == "gpu":
            x, y = self._on_device(split, device)
            return DeviceLoader(x, y, self.eval_batch_size, self.mean, self.std, order=eval_shard(len(y), rank, world))
        return DataLoader(AugmentedTensorDataset(getattr(self, f"{split}_x"), getattr(self, f"{split}_y"),
                                                 self.mean, self.std),
                          batch_size=self.eval_batch_size, sampler=eval_shard(len(getattr(self, f"{split}_y")),
                                                                              rank, world).tolist(),
                          num_workers=self.num_workers,
                          persistent_workers=self.num_workers > 0)

    def val_dataloader(self):
        return [] if self.val_x is None else self._eval_loader("val")

    def test_dataloader(self):
        return self._eval_loader("test")


def check_val_source(source: str, val_fraction: float, val_per_class, imbalance_ratio: float) -> None:
    """Refuse a validation setup that contradicts itself, before any data loads."""
    if source not in VAL_SOURCES:
        raise ValueError(f"data.val_source={source!r} is not one of {', '.join(VAL_SOURCES)} (split: carved from the "
                         f"training set; heldout: unused official training images; none: no validation set).")
    if source != "split" and val_fraction > 0:
        raise ValueError(f"data.val_source={source} with data.val_fraction={val_fraction:g}: val_fraction carves a "
                         f"validation split out of the training set, which only val_source=split does; set "
                         f"data.val_fraction=0.")
    if source == "heldout":
        if isinstance(val_per_class, bool) or not isinstance(val_per_class, int) or val_per_class < 1:
            raise ValueError(f"data.val_per_class={val_per_class!r} is out of range: it must be an integer >= 1 "
                             f"(validation images per class).")
        if imbalance_ratio == 1:
            raise ValueError("data.val_source=heldout draws from the training images the long-tail subsampling did "
                             "not choose, and this dataset has no long tail (imbalance_ratio=1): every image is "
                             "used for training. Use data.val_source=split (with data.val_fraction > 0) or none.")
