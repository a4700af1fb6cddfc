"""The training step, in one place: a LightningModule that composes a model, a loss, an optimizer
and a schedule (all plain objects built from the config). It logs epoch-level metrics only, so a
training step never waits on the host.

A loss that needs more than (logits, targets) (`loss.needs`, losses/base.py) gets it here:
`features=` from one `model.forward_features` pass (the logits are `model.head` of the same
features), `model=` the network, `indices=` from the data module, which `setup` switches to
(x, y, idx) training batches (`datamodule.return_indices`). `setup` hands every loss the
training set's size (`loss.bind_training_set`): per-sample state (elr), the distribution-balanced
loss's bias."""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

import lightning as L
import torch
from torch import Tensor, nn

from lossbench.losses.base import learned_parameters
from lossbench.metrics import classification_metrics


class ClassificationModule(L.LightningModule):
    def __init__(self, *, model: nn.Module, loss: nn.Module, optimizer: Callable, scheduler: Callable | None,
                 class_counts: Sequence[int], task: str = "multiclass"):
        super().__init__()
        self.task = task
        self.model, self.loss_fn = model, loss
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.class_counts = list(class_counts)
        self._eval_outputs: list[tuple[Tensor, Tensor]] = []
        self.val_metrics: dict = {}
        self.test_metrics: dict = {}

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)

    def eval_logits(self, x: Tensor) -> Tensor:
        """Logits used for evaluation; a loss may adjust them post hoc (e.g. logit adjustment)."""
        logits = self.model(x)
        adjust = getattr(self.loss_fn, "adjust_eval_logits", None)
        return logits if adjust is None else adjust(logits)

    # -- training ------------------------------------------------------------------------------
    @property
    def loss_needs(self) -> frozenset:
        return frozenset(getattr(self.loss_fn, "needs", frozenset()))

    def setup(self, stage: str) -> None:
        if stage != "fit":
            return
        datamodule = getattr(self.trainer, "datamodule", None)
        if "indices" in self.loss_needs:
            if datamodule is None or not hasattr(datamodule, "return_indices"):
                raise ValueError(f"loss {self.loss_fn.name!r} needs the dataset index of each sample: train with a "
                                 f"lossbench data module (trainer.fit(module, datamodule=...)).")
            datamodule.return_indices = True
        if datamodule is not None and hasattr(datamodule, "train_y"):  # a no-op for most losses
            self.loss_fn.bind_training_set(num_samples=len(datamodule.train_y))

    def on_train_epoch_start(self) -> None:
        self.loss_fn.set_epoch(self.current_epoch)
        self._train_loss_sum: Tensor | None = None  # on the device: sum over batches of loss x batch size
        self._train_images = 0

    def training_loss(self, batch) -> Tensor:
        """The loss of a training batch: (x, y), or (x, y, idx) when the loss needs indices."""
        needs = self.loss_needs
        x, y, *rest = batch
        if not needs:
            return self.loss_fn(self.model(x), y)
        inputs = {}
        if "features" in needs:
            inputs["features"] = self.model.forward_features(x)
            logits = self.model.head(inputs["features"])
        else:
            logits = self.model(x)
        if "indices" in needs:
            if not rest:
                raise ValueError(f"loss {self.loss_fn.name!r} needs indices but the training batches are (x, y): "
                                 f"the data module must yield (x, y, idx) (datamodule.return_indices = True).")
            inputs["indices"] = rest[0]
        if "model" in needs:
            inputs["model"] = self.model
        return self.loss_fn(logits, y, **inputs)

    def training_step(self, batch, batch_idx: int) -> Tensor:
        if getattr(self.optimizers(use_pl_optimizer=False), "second_pass", False):
            # SAM's second pass, at w + e(w) (optim/sam.py): its gradient is the one the base step
            # takes; BatchNorm's running statistics and the logged loss are the first pass's.
            with batchnorm_stats_frozen(self.model):
                return self.training_loss(batch)
        loss = self.training_loss(batch)
        # The epoch's mean training loss is summed here on the device and handed to self.log once, on
        # the epoch's last batch: self.log is Lightning's heaviest per-step call of ours (a third of
        # an mlp step under cProfile, docs/PERFORMANCE.md). It is logged before the callbacks'
        # on_train_epoch_end (metrics.csv, the progress line), which run before the module's own.
        images = len(batch[1])
        weighted = loss.detach().float() * images
        self._train_loss_sum = weighted if self._train_loss_sum is None else self._train_loss_sum + weighted
        self._train_images += images
        if batch_idx + 1 >= self.trainer.num_training_batches:
            self.log("train_loss", self._train_loss_sum / self._train_images, on_step=False, on_epoch=True,
                     prog_bar=True, batch_size=1)
        return loss

    # -- evaluation: each rank its shard, gathered; metrics once per epoch ---------------------------
    def _collect(self, batch) -> None:
        x, y = batch
        self._eval_outputs.append((self.eval_logits(x).float(), y))

    def _metrics(self) -> dict:
        num_classes = len(self.class_counts)
        logits = torch.cat([o[0] for o in self._eval_outputs]) if self._eval_outputs else \
            torch.zeros(0, num_classes, device=self.device)  # a rank whose shard is empty
        targets = torch.cat([o[1] for o in self._eval_outputs]) if self._eval_outputs else \
            (torch.zeros(0, num_classes, device=self.device) if self.task == "multilabel"  # multi-hot, float as the data's
             else torch.zeros(0, dtype=torch.long, device=self.device))
        self._eval_outputs.clear()
        if self.trainer.world_size > 1:  # each rank evaluated its own shard: gather the whole split
            logits, targets = self._gather_shards(logits), self._gather_shards(targets)
        return classification_metrics(logits, targets, self.class_counts, self.task)

    def _gather_shards(self, local: Tensor) -> Tensor:
        """Every rank's rows of an evaluation split, each exactly once. all_gather needs equal
        shapes, so each shard is padded to the longest and the padding cut off after the gather."""
        sizes = self.all_gather(torch.tensor([len(local)], device=local.device)).flatten().tolist()
        longest = max(sizes)
        padded = torch.cat([local, local.new_zeros((longest - len(local), *local.shape[1:]))])
        gathered = self.all_gather(padded)  # [world, longest, ...]
        return torch.cat([gathered[rank, :size] for rank, size in enumerate(sizes)])

    def validation_step(self, batch, batch_idx: int) -> None:
        self._collect(batch)

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            self._eval_outputs.clear()
            return
        self.val_metrics = self._metrics()
        for key, value in self.val_metrics.items():
            if isinstance(value, float):  # per-class lists and empty shot groups stay out of the logs
                self.log(f"val_{key}", value, prog_bar=key == "acc")

    def test_step(self, batch, batch_idx: int) -> None:
        self._collect(batch)

    def on_test_epoch_end(self) -> None:
        self.test_metrics = self._metrics()

    # -- optimisation ----------------------------------------------------------------------------
    def configure_optimizers(self):
        optimizer = self.optimizer_factory(params=loss_param_groups(self, self.loss_fn, self.optimizer_factory),
                                           **fused_on_cuda(self.optimizer_factory, self.device))
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer, max_epochs=self.trainer.max_epochs)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}


def loss_param_groups(module: nn.Module, loss: nn.Module, factory):
    """The optimizer's parameters: all of `module`'s in one group, or, when the loss has parameters
    of its own, those in a second group with the loss's lr (`loss.lr_scale` times the optimizer's)
    and weight decay (`loss.weight_decay`). Both are in the checkpoint's optimizer state, so a resumed
    run goes on with them; the lr schedule scales both groups alike."""
    own = learned_parameters(loss)
    if not own:
        return module.parameters()
    ids = {id(p) for p in own}
    group = {"params": own, "weight_decay": float(getattr(loss, "weight_decay", 0.0))}
    scale = float(getattr(loss, "lr_scale", 1.0))
    lr = (getattr(factory, "keywords", {}) or {}).get("lr")
    if lr is not None:
        group["lr"] = float(lr) * scale
    elif scale != 1.0:
        raise ValueError(f"loss.lr_scale={scale:g} scales the optimizer's lr, and this optimizer config sets none: "
                         f"give optimizer.lr.")
    return [{"params": [p for p in module.parameters() if id(p) not in ids]}, group]


def fused_on_cuda(factory, device) -> dict:
    """{"fused": True} for a torch.optim optimizer that has a fused CUDA kernel (SGD, Adam, AdamW) when
    the parameters are on a GPU and the config leaves `fused` unset (null): one kernel per step for
    all parameters instead of a loop of small ones. `optimizer.fused=false` keeps the foreach path."""
    import inspect

    keywords = getattr(factory, "keywords", {}) or {}
    target = getattr(factory, "func", factory)
    if device.type != "cuda" or keywords.get("fused") is not None:
        return {}
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return {}
    # SAM takes its base optimizer's options through **kwargs: `fused` among them (sam.yaml has it).
    forwards = "fused" in keywords and any(p.kind == p.VAR_KEYWORD for p in params.values())
    return {"fused": True} if "fused" in params or forwards else {}


@contextlib.contextmanager
def batchnorm_stats_frozen(model: nn.Module):
    """BatchNorm layers normalise with the batch's statistics as in training, but leave their running
    statistics (and batch count) as they were."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    saved = [(m.momentum, m.num_batches_tracked.clone()) for m in norms]
    for m in norms:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, (momentum, count) in zip(norms, saved):
            m.momentum = momentum
            m.num_batches_tracked.copy_(count)
