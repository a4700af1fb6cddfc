"""Trainer callbacks owned by lossbench: the per-epoch files of a run, what a resumed run needs to
continue exactly, and the bridge from a stop signal to Lightning's loops."""
from __future__ import annotations

import csv
import io
import random
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from lossbench.interrupts import StopRequest
from lossbench.results import atomic_write_text, write_json


def checkpoint_callbacks(dirpath: Path, monitor: str | None, mode: str) -> tuple[ModelCheckpoint | None, ModelCheckpoint]:
    """(best, last): `best-{epoch}.ckpt`, the best epoch by `monitor` on the validation split (None
    without one), and `last.ckpt`, the last finished epoch, rewritten at the end of every epoch with
    or without validation -- what a killed job resumes from. `best` comes first, so that `last.ckpt`
    holds the best-checkpoint state of its own epoch."""
    best = None
    if monitor is not None:
        best = ModelCheckpoint(dirpath=dirpath, filename="best-{epoch}", monitor=monitor, mode=mode, save_top_k=1,
                               auto_insert_metric_name=False)
    last = ModelCheckpoint(dirpath=dirpath, filename="last", monitor=None, save_top_k=1,
                           enable_version_counter=False)
    return best, last


class EpochMetricsCSV(L.Callback):
    """Writes metrics.csv, one row per epoch (epoch, lr, train_loss, val_*), rewritten atomically at
    the end of every epoch so a crashed or running job always has a readable file. The values are
    read from the trainer once per epoch, never per step. The rows travel in the checkpoint, so a
    resumed run continues the same file."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.rows: list[dict] = []

    def state_dict(self) -> dict:
        return {"rows": list(self.rows)}

    def load_state_dict(self, state_dict: dict) -> None:
        self.rows = list(state_dict.get("rows", []))

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.epoch_lr = trainer.optimizers[0].param_groups[0]["lr"]  # the lr this epoch trains with

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if not trainer.is_global_zero or trainer.sanity_checking:
            return
        row = {"epoch": trainer.current_epoch, "lr": self.epoch_lr}
        row.update({k: float(v) for k, v in sorted(trainer.callback_metrics.items()) if v.numel() == 1})
        self.rows = [r for r in self.rows if r["epoch"] < row["epoch"]] + [row]
        columns = list(dict.fromkeys(k for r in self.rows for k in r))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns)
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_text(self.path, buffer.getvalue())


class RandomState(L.Callback):
    """Saves the random number generators' states in every checkpoint and restores them on resume,
    so that whatever draws from them (dropout, torchvision augmentation, data-loader worker seeds)
    continues as in an uninterrupted run. Data order and the gpu loader's augmentation are seeded
    per epoch already."""

    def state_dict(self) -> dict:
        state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        torch.set_rng_state(state_dict["torch"])
        np.random.set_state(state_dict["numpy"])
        random.setstate(state_dict["python"])
        if "cuda" in state_dict and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state_dict["cuda"])


class StopOnRequest(L.Callback):
    """Hands a stop signal received before fit() began to Lightning, which resets its own flag when
    fit starts; a signal during fit reaches it directly (StopRequest.forward)."""

    def __init__(self, request: StopRequest):
        self.request = request

    def on_train_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self.request.trainer = trainer
        self.request.forward()


class RunningRecord(L.Callback):
    """Rewrites results.json with `"status": "running"`, the last finished epoch and this segment's
    wall time at the start of every epoch (when the previous epoch's last.ckpt is on disk), so that
    a job killed without warning still says how far it got."""

    def __init__(self, path: str | Path, record: dict, started: float, enabled: bool = True):
        self.path, self.record, self.started, self.enabled = Path(path), record, started, enabled

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if not (self.enabled and trainer.is_global_zero) or trainer.current_epoch == 0:
            return
        self.record["last_epoch"] = trainer.current_epoch - 1
        self.record["segments"][-1]["wall_time_s"] = round(time.time() - self.started, 3)
        self.record["wall_time_s"] = round(sum(s["wall_time_s"] for s in self.record["segments"]), 3)
        write_json(self.path, {**self.record, "status": "running"})


class StopOnDivergence(L.Callback):
    """Stops training with TrainingDiverged once the training loss has been NaN or infinite, or the
    validation NLL is: the first bad training step is noted on the device every step (no host sync)
    and checked every `check_every` batches, before each validation and at each epoch end, so a
    diverged job stops within one epoch and before a checkpoint of that epoch is written (this
    callback runs before the checkpoint callbacks). Under DDP every rank takes part in the check (a
    max over ranks), so all stop together."""

    def __init__(self, check_every: int = 50):
        self.check_every = int(check_every)
        self.first_bad: torch.Tensor | None = None  # [step, loss] of the first non-finite loss; step -1 if none

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, outputs, batch, batch_idx: int) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is None:
            return
        loss = loss.detach().float().reshape(())
        if self.first_bad is None:
            self.first_bad = torch.tensor([-1.0, 0.0], device=loss.device)
        # global_step already counts this batch's optimizer step: the batch's own step is one less.
        seen = torch.stack([torch.tensor(float(trainer.global_step - 1), device=loss.device), loss])
        fresh = (~torch.isfinite(loss)) & (self.first_bad[0] < 0)
        self.first_bad = torch.where(fresh, seen, self.first_bad)
        if (batch_idx + 1) % self.check_every == 0:
            self._check(trainer)

    def on_validation_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.state.fn == "fit":
            self._check(trainer)

    def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        from lossbench.errors import TrainingDiverged

        nll = trainer.callback_metrics.get("val_nll")
        if trainer.state.fn == "fit" and not trainer.sanity_checking and nll is not None and not torch.isfinite(nll):
            raise TrainingDiverged(trainer.current_epoch, trainer.global_step - 1, float(nll), "validation NLL")

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        self._check(trainer)

    def _check(self, trainer: L.Trainer) -> None:
        from lossbench.errors import TrainingDiverged

        if self.first_bad is None:
            return
        step = self.first_bad[0]
        if trainer.world_size > 1:
            step = trainer.strategy.reduce(step.clone(), reduce_op="max")
        if float(step) >= 0:
            value = float(self.first_bad[1]) if float(self.first_bad[0]) >= 0 else float("nan")
            raise TrainingDiverged(trainer.current_epoch, int(float(step)), value)
