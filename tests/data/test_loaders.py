"""The two loaders (gpu: device-resident batches; torch: DataLoader + torchvision) and samplers."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from lossbench.data import ImageArrays, ImageDataModule
from lossbench.data.loaders import DeviceLoader
from lossbench.data.sampling import EpochSampler, eval_shard

SIZE, PAD = 32, 4


class GridData(ImageDataModule):
    """n copies of one 3x32x32 image whose pixels say where they come from: channel 0 = row + 1,
    channel 1 = column + 1, channel 2 = 7; labels alternate 0/1. Images can also carry their index."""

    num_classes = 2

    def __init__(self, n: int = 2000, tag_index: bool = False, **kw):
        kw = {"name": "grid", "val_fraction": 0.0, "mean": (0.0,), "std": (1.0,), "augment": "crop_flip",
              "batch_size": 500, **kw}
        super().__init__(**kw)
        self.n, self.tag_index = n, tag_index

    def load_arrays(self) -> ImageArrays:
        grid = np.zeros((3, SIZE, SIZE), dtype=np.uint8)
        grid[0] = np.arange(1, SIZE + 1)[:, None]
        grid[1] = np.arange(1, SIZE + 1)[None, :]
        grid[2] = 7
        x = np.repeat(grid[None], self.n, axis=0)
        if self.tag_index:  # index in the first two pixels of channel 2
            x[:, 2, 0, 0], x[:, 2, 0, 1] = np.arange(self.n) >> 8, np.arange(self.n) & 255
        y = (np.arange(self.n) % 2).astype(np.int64)
        return ImageArrays(x, y, x[:100].copy(), y[:100].copy())


def _pixels(loader) -> torch.Tensor:
    return torch.cat([x for x, _ in loader]).mul(255).round()


def _crop_params(images: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row offset, column offset, flipped) of each output, read off the grid's centre pixels."""
    row = images[:, 0, 16, 16] - 1
    c16, c17 = images[:, 1, 16, 16] - 1, images[:, 1, 16, 17] - 1
    flipped = c17 < c16
    # unflipped: out[j] = padded[ox + j] -> source column 16 + ox - 4; flipped: out[j] = padded[ox + 31 - j]
    col = torch.where(flipped, c16 - 11, c16 - 12)
    return (row - 12).numpy().astype(int), col.numpy().astype(int), flipped.numpy()


@pytest.fixture(scope="module")
def augmented():
    out = {}
    for loader in ("gpu", "torch"):
        torch.manual_seed(0)  # the torch path's transforms draw from the global generator
        dm = GridData(loader=loader, shuffle_seed=0)
        dm.setup("fit")
        dl = dm.train_dataloader()
        assert isinstance(dl, DeviceLoader if loader == "gpu" else DataLoader)
        out[loader] = _pixels(dl)
    return out


def test_crop_offsets_and_flips_have_the_same_distribution(augmented):
    for loader, images in augmented.items():
        rows, cols, flipped = _crop_params(images)
        for offsets in (rows, cols):
            freq = np.bincount(offsets, minlength=2 * PAD + 1) / len(offsets)
            assert len(freq) == 2 * PAD + 1  # offsets in 0..8 only
            assert np.abs(freq - 1 / 9).max() < 0.035, (loader, freq)  # 2,000 draws: sd 0.007
        assert abs(flipped.mean() - 0.5) < 0.05, loader
        # the crop is exactly the grid moved by the offsets: check a whole row and column
        i = 0
        expected_row = np.clip(np.arange(SIZE) + rows[i] - PAD, -1, SIZE) + 1
        expected_row[(expected_row < 1) | (expected_row > SIZE)] = 0
        assert np.array_equal(images[i, 0, :, 16].numpy(), expected_row)


def test_pixel_statistics_match_zero_padding_expectation(augmented):
    # a pixel survives the crop in one axis with probability 1 - E|U - 4| / 32, U uniform on 0..8,
    # E|U - 4| = 20/9; in both axes, its square. Channel 2 is 7 everywhere inside the image.
    inside = (1 - 20 / 9 / 32) ** 2
    means = {loader: images.mean(dim=(0, 2, 3)) for loader, images in augmented.items()}
    for loader, mean in means.items():
        assert mean[2].item() == pytest.approx(7 * inside, rel=0.01), loader
    assert torch.allclose(means["gpu"], means["torch"], rtol=0.02)
    stds = {loader: images.std(dim=(0, 2, 3)) for loader, images in augmented.items()}
    assert torch.allclose(stds["gpu"], stds["torch"], rtol=0.02)


def test_eval_batches_identical_on_both_loaders():
    batches = {}
    for loader in ("gpu", "torch"):
        dm = GridData(n=300, loader=loader, mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3), eval_batch_size=64)
        dm.setup("fit")
        batches[loader] = torch.cat([x for x, _ in dm.test_dataloader()]), torch.cat([y for _, y in dm.test_dataloader()])
    assert torch.allclose(batches["gpu"][0], batches["torch"][0], atol=1e-5)
    assert torch.equal(batches["gpu"][1], batches["torch"][1])
    x = batches["gpu"][0]
    assert x[0, 0, 3, 0].item() == pytest.approx((4 / 255 - 0.4) / 0.2, abs=1e-5)  # (pixel/255 - mean) / std


def test_random_sampler_permutation_per_epoch_and_ddp_shards():
    labels = np.arange(1003) % 4
    sampler = EpochSampler(labels, "random", seed=3)
    epoch0 = sampler.indices()
    assert sorted(epoch0.tolist()) == list(range(1003))  # every image once
    sampler.set_epoch(1)
    assert not torch.equal(sampler.indices(), epoch0)
    assert torch.equal(EpochSampler(labels, "random", seed=3).indices(), epoch0)  # seeded
    shards = []
    for rank in range(3):
        s = EpochSampler(labels, "random", seed=3, num_replicas=3, rank=rank)
        s.set_epoch(2)
        shards.append(s.indices().tolist())
        assert len(shards[-1]) == len(s) == 1003 // 3
    union = sum(shards, [])
    assert len(set(union)) == len(union) == 3 * (1003 // 3)  # no image twice in an epoch


@pytest.mark.parametrize("mode, exponent", [("class_balanced", 0.0), ("sqrt", 0.5)])
def test_resampling_class_frequencies(mode, exponent):
    counts = np.array([4000, 400, 40])
    labels = np.repeat(np.arange(3), counts)
    drawn = labels[EpochSampler(labels, mode, seed=0).indices().numpy()]
    freq = np.bincount(drawn, minlength=3) / len(drawn)
    target = counts ** exponent / (counts ** exponent).sum()  # class c drawn with prob ~ n_c^q
    assert np.abs(freq - target).max() < 0.02  # 4,440 draws: sd <= 0.0075


def test_both_loaders_follow_the_same_sampler_order():
    orders = {}
    for loader in ("gpu", "torch"):
        dm = GridData(n=400, loader=loader, augment="none", sampler="sqrt", shuffle_seed=9, tag_index=True)
        dm.setup("fit")
        images = _pixels(dm.train_dataloader())
        orders[loader] = (images[:, 2, 0, 0] * 256 + images[:, 2, 0, 1]).long()
    assert torch.equal(orders["gpu"], orders["torch"])


def test_loader_choice_and_ddp_eval_shards():
    dm = GridData(n=10, loader="auto", augment="none", eval_batch_size=4, tag_index=True)
    assert dm.resolve_loader(torch.device("cuda")) == "gpu" and dm.resolve_loader(torch.device("cpu")) == "torch"
    dm.setup("fit")
    dm.trainer = SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device("cpu")), global_rank=1,
                                 world_size=3)
    dm.loader = "gpu"
    assert len(dm.train_dataloader()) == 1 and len(dm.train_dataloader().sampler) == 3  # 10 // 3 images
    labels = torch.cat([y for _, y in dm.test_dataloader()])
    assert torch.equal(labels, dm.test_y[eval_shard(10, 1, 3)]) and eval_shard(10, 1, 3).tolist() == [1, 4, 7]
    # Over the ranks every test image is evaluated exactly once, by both loaders (10 = 4 + 3 + 3).
    for loader in ("gpu", "torch"):
        dm.loader, seen = loader, []
        for rank in range(3):
            dm.trainer.global_rank = rank
            seen += [int(v) for x, _ in dm.test_dataloader()
                     for v in (x[:, 2, 0, 0] * 255).round() * 256 + (x[:, 2, 0, 1] * 255).round()]
        assert sorted(seen) == list(range(10)), loader
    assert sorted(i for r in range(3) for i in eval_shard(10, r, 3).tolist()) == list(range(10))


def test_gpu_loader_under_lightning_reshuffles_each_epoch():
    import lightning as L

    seen: list[list[int]] = []

    class Recorder(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def on_train_epoch_start(self):
            seen.append([])

        def training_step(self, batch, batch_idx):
            x, _ = batch
            seen[-1].extend((x[:, 2, 0, 0] * 255 * 256 + x[:, 2, 0, 1] * 255).round().long().tolist())
            return (self.w * x.mean()).sum()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    dm = GridData(n=250, loader="gpu", augment="none", tag_index=True, batch_size=64, shuffle_seed=1)
    trainer = L.Trainer(accelerator="cpu", max_epochs=2, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0)
    trainer.fit(Recorder(), datamodule=dm)
    assert len(seen) == 2
    assert sorted(seen[0]) == sorted(seen[1]) == list(range(250))
    assert seen[0] != seen[1]  # Lightning called sampler.set_epoch


@pytest.mark.parametrize("loader", ["gpu", "torch"])
@pytest.mark.parametrize("sampler", ["random", "class_balanced"])
def test_training_batches_carry_each_samples_index_on_request(loader, sampler):
    # The images encode their own index (tag_index): the yielded index must be that one, whatever the
    # sampler's order or repeats, and with augment it is the source image's index.
    dm = GridData(n=400, loader=loader, augment="none", sampler=sampler, shuffle_seed=4, tag_index=True,
                  batch_size=64)
    dm.setup("fit")
    assert all(len(batch) == 2 for batch in dm.train_dataloader())  # off by default
    dm.return_indices = True
    batches = list(dm.train_dataloader())
    assert all(len(batch) == 3 for batch in batches)
    images = torch.cat([x for x, _, _ in batches]).mul(255).round()
    indices = torch.cat([i for _, _, i in batches])
    labels = torch.cat([y for _, y, _ in batches])
    assert indices.dtype == torch.int64
    assert torch.equal(indices, (images[:, 2, 0, 0] * 256 + images[:, 2, 0, 1]).long())
    assert torch.equal(labels, dm.train_y[indices])
    assert all(len(batch) == 2 for batch in dm.test_dataloader())  # evaluation batches unchanged
