"""elr's per-sample running targets: a persistent buffer that travels in state_dict (so in
checkpoints); a restored loss, even one built without num_samples, continues exactly; and a
training run resumed from a checkpoint ends where an uninterrupted one does."""
from __future__ import annotations

import functools

import lightning as L
import torch

from lossbench.data import DigitsDataModule
from lossbench.losses import build_loss
from lossbench.models import MLP
from lossbench.module import ClassificationModule
from tests.conftest import spawn_and_join

C, NUM_SAMPLES = 5, 60


def _batch(seed, n=24):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, C, generator=g) * 3
    return logits, torch.randint(0, C, (n,), generator=g), torch.randperm(NUM_SAMPLES, generator=g)[:n]


def _step(loss_fn, seed):
    logits, targets, indices = _batch(seed)
    z = logits.clone().requires_grad_(True)
    value = loss_fn(z, targets, indices=indices)
    return value.detach(), torch.autograd.grad(value, z)[0]


def test_state_dict_round_trip_restores_the_targets_and_the_next_loss_and_gradient():
    original = build_loss("elr", num_classes=C, num_samples=NUM_SAMPLES)
    for seed in range(3):
        _step(original, seed)
    state = original.state_dict()
    assert set(state) == {"ema_targets"} and state["ema_targets"].shape == (NUM_SAMPLES, C)
    assert state["ema_targets"].abs().sum() > 0

    restored = build_loss("elr", num_classes=C)  # no num_samples: takes the saved size
    restored.load_state_dict(state)
    assert torch.equal(restored.ema_targets, original.ema_targets)
    (value_a, grad_a), (value_b, grad_b) = _step(original, 3), _step(restored, 3)
    assert torch.equal(value_a, value_b) and torch.equal(grad_a, grad_b)
    assert torch.equal(restored.ema_targets, original.ema_targets)
    # ... and the history matters: a fresh loss gives another value on the same batch.
    assert _step(build_loss("elr", num_classes=C, num_samples=NUM_SAMPLES), 3)[0] != value_a


def test_targets_are_in_the_training_modules_state():
    def module(loss_fn):
        return ClassificationModule(model=MLP(num_classes=C, in_channels=1, image_size=4, hidden=(8,)), loss=loss_fn,
                                    optimizer=None, scheduler=None, class_counts=[1] * C)

    loss_fn = build_loss("elr", num_classes=C, num_samples=NUM_SAMPLES)
    _step(loss_fn, 0)
    state = module(loss_fn).state_dict()
    assert torch.equal(state["loss_fn.ema_targets"], loss_fn.ema_targets)
    fresh = module(build_loss("elr", num_classes=C))
    fresh.load_state_dict(state)
    assert torch.equal(fresh.loss_fn.ema_targets, loss_fn.ema_targets)


def _fit(epochs, root, ckpt_path=None):
    torch.manual_seed(0)
    data = DigitsDataModule(name="digits_lt", imbalance_ratio=10, val_fraction=0.0, batch_size=64, shuffle_seed=1)
    data.setup("fit")
    model = MLP(num_classes=10, in_channels=1, image_size=8, hidden=(16,))
    module = ClassificationModule(model=model, loss=build_loss("elr", num_classes=10),
                                  optimizer=functools.partial(torch.optim.SGD, lr=0.1, momentum=0.9), scheduler=None,
                                  class_counts=data.class_counts)
    trainer = L.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                        enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0,
                        default_root_dir=root, enable_checkpointing=False)
    trainer.fit(module, datamodule=data, ckpt_path=ckpt_path)
    return trainer, module


def test_a_resumed_run_ends_where_an_uninterrupted_one_does(tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _check_resume(tmp_path)
    finally:
        torch.set_num_threads(threads)


def _check_resume(tmp_path):
    _, whole = _fit(3, tmp_path / "whole")
    first, _ = _fit(2, tmp_path / "first")
    checkpoint = tmp_path / "after-2.ckpt"
    first.save_checkpoint(checkpoint)
    _, resumed = _fit(3, tmp_path / "resumed", ckpt_path=str(checkpoint))
    assert resumed.loss_fn.ema_targets.abs().sum() > 0
    torch.testing.assert_close(resumed.loss_fn.ema_targets, whole.loss_fn.ema_targets, rtol=0, atol=0)
    for a, b in zip(resumed.model.parameters(), whole.model.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def _rank_update(rank, world, rendezvous, out_dir):
    torch.distributed.init_process_group("gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=world)
    try:
        loss_fn = build_loss("elr", num_classes=C, num_samples=NUM_SAMPLES)
        logits, targets, indices = _ddp_batch(rank)
        loss_fn(logits, targets, indices=indices)
        torch.save(loss_fn.ema_targets, out_dir / f"rank{rank}.pt")
    finally:
        torch.distributed.destroy_process_group()


def _ddp_batch(rank):
    # Rank 0 has 7 samples, rank 1 has 5 (unequal, as a last batch may be), disjoint rows.
    g = torch.Generator().manual_seed(rank)
    n = 7 if rank == 0 else 5
    return torch.randn(n, C, generator=g) * 3, torch.randint(0, C, (n,), generator=g), torch.arange(n) + 10 * rank


def test_under_ddp_every_process_applies_every_processes_updates(tmp_path):
    spawn_and_join(_rank_update, [(rank, 2, tmp_path / "rendezvous", tmp_path) for rank in (0, 1)], timeout=120)
    copies = [torch.load(tmp_path / f"rank{rank}.pt") for rank in (0, 1)]
    assert torch.equal(copies[0], copies[1])
    # One process given both batches' rows at once updates the same rows to the same values.
    single = build_loss("elr", num_classes=C, num_samples=NUM_SAMPLES)
    (z0, y0, i0), (z1, y1, i1) = _ddp_batch(0), _ddp_batch(1)
    single(torch.cat([z0, z1]), torch.cat([y0, y1]), indices=torch.cat([i0, i1]))
    torch.testing.assert_close(copies[0], single.ema_targets, rtol=0, atol=0)
    assert (copies[0][torch.cat([i0, i1])].sum(dim=1) > 0.29).all() and copies[0].sum() > 0
