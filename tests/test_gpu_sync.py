"""The training step makes no host synchronisation: a few steps of every shipped loss on batches
of the gpu loader (crop+flip augmentation), forward, backward and the fused optimizer step, under
torch.cuda.set_sync_debug_mode("error"), which raises at any call that waits for the GPU (.item(),
a Python branch on a tensor's value, a non-blocking-unsafe copy). Needs CUDA; skipped without it.
The same steps run on the CPU here, checked for finite losses and moved weights."""
from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

from lossbench.data.loaders import DeviceLoader
from lossbench.data.sampling import EpochSampler
from lossbench.inspect_command import loss_factory
from lossbench.inspect_loss import loss_inputs
from lossbench.module import fused_on_cuda
from lossbench.losses import get_loss_class
from lossbench.paths import group_options
from lossbench.tasks import model_outputs

LOSSES = group_options("loss")
C, N, BATCH, STEPS = 10, 96, 32, 3


class _Net(nn.Module):
    """A small convolutional net with the `forward_features`/`head` split the module uses."""

    def __init__(self, outputs: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(8, outputs)

    def forward_features(self, x):
        return self.body(x)

    def forward(self, x):
        return self.head(self.body(x))


def _training(name: str, device: torch.device):
    """(model, loss, optimizer, iterator over STEPS (x, y, inputs) batches) for loss `name` on
    `device`: everything a step needs is made here, before the steps, as a job makes it before fit."""
    tasks = get_loss_class(name).tasks
    task = "multiclass" if "multiclass" in tasks else min(tasks)
    classes = 2 if task == "binary" else C
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (N, 3, 8, 8), dtype=torch.uint8, generator=g).to(device)
    labels = (torch.arange(N) % classes).to(device)
    counts = torch.bincount(labels.cpu(), minlength=classes).tolist()
    if task == "multilabel":  # labels {i mod C, i + 1 mod C}
        labels = torch.nn.functional.one_hot(labels, C).float() + torch.nn.functional.one_hot((labels + 1) % C, C).float()
        counts = labels.sum(0).int().tolist()
    loader = DeviceLoader(images, labels, BATCH, torch.full((3,), 0.5), torch.full((3,), 0.25),
                          sampler=EpochSampler(labels.cpu().numpy()), augment="crop_flip", pad=2, drop_last=True)
    _, factory = loss_factory([f"loss={name}"], multiclass_only=False)
    loss_fn = factory(classes, counts).to(device)
    loss_fn.set_epoch(0)
    loss_fn.bind_training_set(num_samples=N)  # as the training module does for every loss
    model = _Net(model_outputs(task, classes)).to(device)
    make = functools.partial(torch.optim.SGD, lr=0.05, momentum=0.9, fused=None)
    optimizer = make(params=list(model.parameters()) + list(loss_fn.parameters()), **fused_on_cuda(make, device))
    inputs = [{k: v.to(device) for k, v in loss_inputs(loss_fn, BATCH, torch.float32).items() if k != "model"}
              for _ in range(STEPS)]
    for step, extra in enumerate(inputs):
        if "indices" in loss_fn.needs:
            extra["indices"] = torch.arange(step * BATCH, (step + 1) * BATCH, device=device)
    batches = iter(loader)  # the epoch's plan goes to the device here, once
    return model, loss_fn, optimizer, zip(batches, inputs)


def _steps(model, loss_fn, optimizer, batches) -> list[torch.Tensor]:
    """The training steps, as the module takes them (autocast bf16; features= from one pass)."""
    losses = []
    for (x, y), inputs in batches:
        with torch.autocast(x.device.type, dtype=torch.bfloat16):
            if "features" in loss_fn.needs:
                inputs["features"] = model.forward_features(x)
                logits = model.head(inputs["features"])
            else:
                logits = model(x)
            if "model" in loss_fn.needs:
                inputs["model"] = model
            loss = loss_fn(logits, y, **inputs)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
    return losses


@pytest.mark.parametrize("name", LOSSES)
def test_training_steps_run_on_the_cpu(name):
    model, loss_fn, optimizer, batches = _training(name, torch.device("cpu"))
    before = [p.detach().clone() for p in model.parameters()]
    losses = _steps(model, loss_fn, optimizer, batches)
    assert len(losses) == STEPS and all(torch.isfinite(v).all() for v in losses)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (sync debug mode is a CUDA feature)")
@pytest.mark.parametrize("name", LOSSES)
def test_training_steps_never_wait_for_the_gpu(name):
    device = torch.device("cuda")
    _steps(*_training(name, device))  # warm-up: one-time allocations and library handles may sync
    state = _training(name, device)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        losses = _steps(*state)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert all(torch.isfinite(v).all() for v in losses)
