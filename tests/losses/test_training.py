"""Each loss, with its defaults, trains a small MLP on digits_lt to well above chance (0.1).

A plain torch loop in this process: the digits_lt config is composed by Hydra (the data module is
the real one, with its long-tailed protocol), the normalised tensors are read once through its
loaders, then 20 epochs of Adam (lr 3e-3, batch 32) on one thread, about 0.2 s per loss.

A loss that needs more than the logits (features, indices, model) trains through the real
training module instead (ClassificationModule in a Lightning Trainer, with the data module's own
loaders, so the indices come from the loader): the same model, optimiser, batch size and epochs."""
from __future__ import annotations

import pytest
import torch

from lossbench.losses import build_loss, get_loss_class, list_losses
from lossbench.models import MLP

EPOCHS, BATCH, LR = 20, 32, 3e-3
MIN_TEST_ACCURACY = 0.7  # chance is 0.1; CE reaches ~0.93, MAE (known to underfit) ~0.79


@pytest.fixture(scope="module")
def digits_lt_config():
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from lossbench.paths import CONF_DIR

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=["data=digits_lt"])
    GlobalHydra.instance().clear()
    return cfg.data


@pytest.fixture(scope="module")
def digits_lt(digits_lt_config):
    from hydra.utils import instantiate

    datamodule = instantiate(digits_lt_config)
    datamodule.setup()

    def tensors(loader):
        xs, ys = zip(*loader)
        return torch.cat(xs), torch.cat(ys)

    return datamodule.class_counts, tensors(datamodule.train_dataloader()), tensors(datamodule.test_dataloader())


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: threads only add overhead and contention
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("name", [name for name in list_losses("multiclass") if not get_loss_class(name).needs])
def test_loss_trains_digits_lt_well_above_chance(name, digits_lt, one_thread):
    class_counts, (x, y), (x_test, y_test) = digits_lt
    assert min(class_counts) < max(class_counts) / 5  # really long-tailed
    torch.manual_seed(0)
    model = MLP(num_classes=10, in_channels=x.shape[1], image_size=x.shape[-1], hidden=(64,))
    loss_fn = build_loss(name, num_classes=10, class_counts=class_counts)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    order = torch.Generator().manual_seed(0)
    for epoch in range(EPOCHS):
        loss_fn.set_epoch(epoch)
        perm = torch.randperm(len(y), generator=order)
        for start in range(0, len(y), BATCH):
            idx = perm[start:start + BATCH]
            optimizer.zero_grad()
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        accuracy = (loss_fn.adjust_eval_logits(model(x_test)).argmax(dim=1) == y_test).float().mean().item()
    assert accuracy > MIN_TEST_ACCURACY, f"{name}: test accuracy {accuracy:.3f}"


# IB switches on at start_epoch (100 of 200 by default): here at 10 of 20, so it trains with it.
NEEDS_PARAMS = {"ib": {"start_epoch": 10}, "ib_focal": {"start_epoch": 10}}


@pytest.mark.parametrize("name", [name for name in list_losses("multiclass") if get_loss_class(name).needs])
def test_loss_with_needs_trains_digits_lt_through_the_training_module(name, digits_lt_config, one_thread):
    import functools

    import lightning as L
    from hydra.utils import instantiate

    from lossbench.module import ClassificationModule

    datamodule = instantiate(digits_lt_config, batch_size=BATCH)
    datamodule.setup("fit")
    class_counts = datamodule.class_counts
    torch.manual_seed(0)
    model = MLP(num_classes=10, in_channels=datamodule.in_channels, image_size=datamodule.image_size, hidden=(64,))
    loss_fn = build_loss(name, num_classes=10, class_counts=class_counts, **NEEDS_PARAMS.get(name, {}))
    module = ClassificationModule(model=model, loss=loss_fn, optimizer=functools.partial(torch.optim.Adam, lr=LR),
                                  scheduler=None, class_counts=class_counts)
    trainer = L.Trainer(max_epochs=EPOCHS, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                        num_sanity_val_steps=0)
    trainer.fit(module, datamodule=datamodule)
    assert datamodule.return_indices == ("indices" in loss_fn.needs)
    if "indices" in loss_fn.needs:  # every training sample's running target was updated
        assert loss_fn.ema_targets.shape == (len(datamodule.train_y), 10)
        torch.testing.assert_close(loss_fn.ema_targets.sum(dim=1), torch.full((len(datamodule.train_y),),
                                   1 - loss_fn.beta ** EPOCHS), rtol=1e-4, atol=1e-4)
    module.eval()
    x_test, y_test = datamodule.test_x, datamodule.test_y
    with torch.no_grad():
        images = (x_test.float() / 255.0 - datamodule.mean.view(-1, 1, 1)) / datamodule.std.view(-1, 1, 1)
        accuracy = (module.eval_logits(images).argmax(dim=1) == y_test).float().mean().item()
    assert accuracy > MIN_TEST_ACCURACY, f"{name}: test accuracy {accuracy:.3f}"
