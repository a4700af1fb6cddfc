"""ClassificationModule passes a loss exactly the inputs it needs: the features of the same forward
pass as the logits (computed once), the batch's indices, the network."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lossbench.losses import ClassificationLoss, build_loss
from lossbench.models import MLP
from lossbench.module import ClassificationModule

C = 4


class RecordingLoss(ClassificationLoss):
    """CE, recording the keywords it was given."""

    name = "recording"
    needs = frozenset({"features", "indices", "model"})

    def per_sample(self, logits, targets, **inputs):
        self.seen = {"logits": logits, **inputs}
        return F.cross_entropy(logits, targets, reduction="none")


def _module(loss_fn):
    torch.manual_seed(0)
    return ClassificationModule(model=MLP(num_classes=C, in_channels=1, image_size=4, hidden=(8,)), loss=loss_fn,
                                optimizer=None, scheduler=None, class_counts=[1] * C)


def test_the_loss_gets_the_features_of_the_logits_pass_the_indices_and_the_model():
    module = _module(RecordingLoss(num_classes=C))
    calls = []
    forward_features = module.model.forward_features
    module.model.forward_features = lambda x: calls.append(1) or forward_features(x)
    x, y, idx = torch.randn(6, 1, 4, 4), torch.randint(0, C, (6,)), torch.tensor([5, 9, 0, 3, 2, 7])
    loss = module.training_loss((x, y, idx))
    seen = module.loss_fn.seen
    assert len(calls) == 1  # one features pass serves the logits and the loss
    torch.testing.assert_close(seen["logits"], module.model.head(seen["features"]))
    torch.testing.assert_close(seen["features"], forward_features(x))
    assert seen["indices"] is idx and seen["model"] is module.model
    torch.testing.assert_close(loss, F.cross_entropy(module.model(x), y))


def test_a_loss_needing_nothing_more_is_called_with_logits_and_targets_only():
    module = _module(build_loss("ce", num_classes=C))
    x, y = torch.randn(6, 1, 4, 4), torch.randint(0, C, (6,))
    torch.testing.assert_close(module.training_loss((x, y)), F.cross_entropy(module.model(x), y))


def test_a_loss_needing_indices_on_two_tuple_batches_says_what_is_missing():
    module = _module(build_loss("elr", num_classes=C, num_samples=10))
    with pytest.raises(ValueError, match=r"needs indices but the training batches are \(x, y\)"):
        module.training_loss((torch.randn(2, 1, 4, 4), torch.tensor([0, 1])))


def test_the_logged_train_loss_is_the_epochs_mean_over_images():
    """train_loss (metrics.csv, the progress line) is summed on the device and logged once per
    epoch: it must equal the image-weighted mean of the epoch's batch losses, the short last batch
    included."""
    import lightning as L
    from torch.utils.data import DataLoader, TensorDataset

    module = _module(build_loss("ce", num_classes=C))
    module.optimizer_factory = lambda params: torch.optim.SGD(params, lr=0.1)
    seen: dict[int, list[tuple[float, int]]] = {}

    class Batches(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            seen.setdefault(trainer.current_epoch, []).append((float(outputs["loss"]), len(batch[1])))

        def on_train_epoch_end(self, trainer, pl_module):
            pairs = seen[trainer.current_epoch]
            mean = sum(loss * n for loss, n in pairs) / sum(n for _, n in pairs)
            assert [n for _, n in pairs] == [8, 8, 4]
            assert float(trainer.callback_metrics["train_loss"]) == pytest.approx(mean, rel=1e-6)

    generator = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(20, 1, 4, 4, generator=generator), torch.randint(0, C, (20,), generator=generator))
    trainer = L.Trainer(max_epochs=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[Batches()])
    trainer.fit(module, train_dataloaders=DataLoader(data, batch_size=8))
    assert sorted(seen) == [0, 1]
