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
from lossbench.results import JobRecord, atomic_write_text


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
    """Writes metrics.csv, one row per epoch (epoch, lr, train_loss, val_*, and the `extra()` fields:
    the epoch's timings), rewritten atomically at the end of every epoch so a crashed or running job
    always has a readable file. The values are read from the trainer once per epoch, never per step.
    The rows travel in the checkpoint, so a resumed run continues the same file."""

    def __init__(self, path: str | Path, extra=None):
        self.path = Path(path)
        self.extra = extra
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
        # "lr-SGD" and the like come from LearningRateMonitor when a logger is on: the lr column has it already.
        row.update({k: float(v) for k, v in sorted(trainer.callback_metrics.items())
                    if v.numel() == 1 and not k.startswith("lr-")})
        if self.extra is not None:
            row.update(self.extra())
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
    per epoch already. numpy's state is kept as a tensor and plain values, so that checkpoints load
    weights-only (untrusted.py)."""

    def state_dict(self) -> dict:
        kind, keys, pos, has_gauss, gauss = np.random.get_state()
        state = {"torch": torch.get_rng_state(), "python": random.getstate(),
                 "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss))}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        torch.set_rng_state(state_dict["torch"])
        kind, keys, pos, has_gauss, gauss = state_dict["numpy"]
        keys = keys.numpy() if isinstance(keys, torch.Tensor) else np.asarray(keys)  # older checkpoints: an array
        np.random.set_state((kind, keys.astype(np.uint32), pos, has_gauss, gauss))
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
    """At the start of every epoch (when the previous epoch's last.ckpt is on disk) the job's record
    (results.JobRecord) is rewritten as "running" with the last finished epoch and this segment's
    wall time, so that a job killed without warning still says how far it got; with a timer, a
    `progress` block too: epochs done, the last epoch's img/s, the ETA."""

    def __init__(self, record: JobRecord, timer: "EpochTimer | None" = None):
        self.record, self.timer = record, timer

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if not trainer.is_global_zero or trainer.current_epoch == 0:
            return
        progress = None
        if self.timer is not None and self.timer.epoch:
            eta = self.timer.eta_s(trainer, epochs_done=trainer.current_epoch)
            progress = {"epochs_done": trainer.current_epoch, "max_epochs": trainer.max_epochs,
                        "train_images_per_s": self.timer.epoch["train_images_per_s"],
                        "eta_s": None if eta is None else round(eta, 1)}
        self.record.epoch_done(trainer.current_epoch - 1, progress)


def _sync(trainer: L.Trainer) -> None:
    """Wait for the GPU before reading the clock (epoch boundaries only)."""
    if trainer.strategy.root_device.type == "cuda":
        torch.cuda.synchronize(trainer.strategy.root_device)


class EpochTimer(L.Callback):
    """Times every training epoch and every evaluation, and counts the training images.

    Per epoch (`epoch_fields`, merged into metrics.csv): `train_epoch_s`, the training part of the
    epoch (its wall time less the validation inside it); `eval_s`, the validation; and
    `train_images_per_s`, the images of all processes over `train_epoch_s`. For the whole job
    (`job_fields`, results.json's `throughput`): the same summed over all epochs, the test passes
    counted as evaluation. The totals travel in the checkpoint, so a resumed job counts on."""

    def __init__(self):
        self.totals = {"train_s": 0.0, "eval_s": 0.0, "train_images": 0, "epochs": 0}
        self.epoch: dict = {}
        self.epoch_wall_s: list[float] = []  # this segment's whole epochs (training + validation), for the ETA
        self._images = 0
        self._eval_s = 0.0
        self._t0 = self._eval_t0 = 0.0

    def state_dict(self) -> dict:
        return {"totals": dict(self.totals)}

    def load_state_dict(self, state_dict: dict) -> None:
        self.totals.update(state_dict.get("totals", {}))

    def on_train_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        _sync(trainer)
        self._t0, self._images, self._eval_s = time.perf_counter(), 0, 0.0

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx: int) -> None:
        self._images += len(batch[1])

    def _eval_start(self, trainer: L.Trainer, *args) -> None:
        _sync(trainer)
        self._eval_t0 = time.perf_counter()

    def _eval_end(self, trainer: L.Trainer, *args) -> None:
        _sync(trainer)
        elapsed = time.perf_counter() - self._eval_t0
        self._eval_s += elapsed
        self.totals["eval_s"] += elapsed

    on_validation_epoch_start = on_test_epoch_start = _eval_start
    on_validation_epoch_end = on_test_epoch_end = _eval_end

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        _sync(trainer)
        wall = time.perf_counter() - self._t0
        train_s = max(wall - self._eval_s, 1e-9)
        images = self._images * trainer.world_size  # each process trained on its own shard
        self.epoch = {"train_epoch_s": round(train_s, 3), "eval_s": round(self._eval_s, 3),
                      "train_images_per_s": round(images / train_s, 1)}
        self.epoch_wall_s.append(wall)
        self.totals["train_s"] += train_s
        self.totals["train_images"] += images
        self.totals["epochs"] += 1

    def epoch_fields(self) -> dict:
        return dict(self.epoch)

    def job_fields(self) -> dict:
        t = self.totals
        return {"train_images_per_s": round(t["train_images"] / t["train_s"], 1) if t["train_s"] else None,
                "train_s": round(t["train_s"], 3), "train_epoch_s": round(t["train_s"] / t["epochs"], 3)
                if t["epochs"] else None, "eval_s": round(t["eval_s"], 3), "train_images": t["train_images"],
                "epochs": t["epochs"]}

    def eta_s(self, trainer: L.Trainer, epochs_done: int | None = None) -> float | None:
        """Seconds until the last epoch ends, from the mean of this segment's epochs. `epochs_done`
        defaults to the epoch that is ending (the value at on_train_epoch_end)."""
        if not self.epoch_wall_s:
            return None
        done = trainer.current_epoch + 1 if epochs_done is None else epochs_done
        left = trainer.max_epochs - done
        return max(left, 0) * sum(self.epoch_wall_s) / len(self.epoch_wall_s)


def duration(seconds: float | None) -> str:
    """A short duration: 42s, 5m12s, 2h05m."""
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def progress_line(trainer: L.Trainer, timer: EpochTimer) -> str:
    """One plain line for a finished epoch, short enough for an 80-column log:
    `epoch 3/30 loss 0.812 val acc 0.701 bal 0.650 ece 0.051 | 12.3s 1234 img/s ETA 5m12s`."""
    metrics = trainer.callback_metrics
    width = len(str(trainer.max_epochs))
    parts = [f"epoch {trainer.current_epoch + 1:>{width}}/{trainer.max_epochs}"]
    if "train_loss" in metrics:
        parts.append(f"loss {float(metrics['train_loss']):.4g}")
    shown = [(name, key) for name, key in (("acc", "val_acc"), ("bal", "val_balanced_acc"), ("ece", "val_ece"))
             if key in metrics]
    if shown:
        parts.append("val " + " ".join(f"{name} {float(metrics[key]):.3f}" for name, key in shown))
    epoch = timer.epoch
    speed = (f"| {epoch['train_epoch_s'] + epoch['eval_s']:.1f}s {epoch['train_images_per_s']:.0f} img/s "
             f"ETA {duration(timer.eta_s(trainer))}")
    return " ".join([*parts, speed])


class PlainProgress(L.Callback):
    """Progress for a log file (stdout is not a terminal, e.g. a SLURM .out file): one plain line
    per finished epoch on global rank 0, instead of a progress bar's carriage returns."""

    def __init__(self, timer: EpochTimer):
        self.timer = timer

    def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.is_global_zero and not trainer.sanity_checking:
            print(progress_line(trainer, self.timer), flush=True)


REDRAW_S = 0.25  # the terminal progress bar's shortest interval between redraws


def eta_progress_bar(timer: EpochTimer):
    """Lightning's terminal progress bar (rich where rich is installed, as Lightning's own default,
    else tqdm) with the last epoch's time and the ETA beside its metrics."""
    from lightning.pytorch.callbacks import RichProgressBar, TQDMProgressBar
    from lightning.pytorch.utilities.imports import _RICH_AVAILABLE

    class EtaProgressBar(RichProgressBar if _RICH_AVAILABLE else TQDMProgressBar):
        shown_at = 0.0

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            # Redraw at most every REDRAW_S and on the epoch's last batch: a redraw (metrics
            # included) every batch cost 0.7 ms a step on a CPU, 27% of a small model's training.
            # Both bars take the position from batch_idx, so a skipped batch loses nothing.
            now = time.monotonic()
            if now - self.shown_at < REDRAW_S and batch_idx + 1 < trainer.num_training_batches:
                return
            self.shown_at = now
            super().on_train_batch_end(trainer, module, outputs, batch, batch_idx)

        def get_metrics(self, trainer, module):
            items = super().get_metrics(trainer, module)
            items.pop("v_num", None)
            if timer.epoch:
                items["epoch_s"] = f"{timer.epoch['train_epoch_s'] + timer.epoch['eval_s']:.1f}"
                items["ETA"] = duration(timer.eta_s(trainer))
            return items

    return EtaProgressBar()


class StopOnDivergence(L.Callback):
    """Stops training with TrainingDiverged once the training loss has been NaN or infinite, or the
    validation NLL is: each step's loss is kept on the device (a list append: no host sync, no
    kernel) and the kept ones are checked every `check_every` batches, before each validation and at
    each epoch end, so a diverged job stops within one epoch and before a checkpoint of that epoch
    is written (this callback runs before the checkpoint callbacks). Under DDP every rank takes part
    in the check (a max over ranks), so all stop together."""

    def __init__(self, check_every: int = 50):
        self.check_every = int(check_every)
        self.first_bad: torch.Tensor | None = None  # [step, loss] of the first non-finite loss; step -1 if none
        self._losses: list[torch.Tensor] = []  # since the last check, with their optimizer steps
        self._steps: list[int] = []

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, outputs, batch, batch_idx: int) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is not None:
            self._losses.append(loss.detach())
            # global_step already counts this batch's optimizer step: the batch's own step is one less.
            self._steps.append(trainer.global_step - 1)
        if (batch_idx + 1) % self.check_every == 0:
            self._check(trainer)

    def _note_first_bad(self, device: torch.device) -> None:
        """Folds the losses kept since the last check into `first_bad`, on the device."""
        if self.first_bad is None:
            self.first_bad = torch.tensor([-1.0, 0.0], device=device)
        if not self._losses:
            return
        losses = torch.stack(self._losses).float().reshape(-1)
        steps = torch.tensor(self._steps, dtype=torch.float32, device=losses.device)
        self._losses, self._steps = [], []
        bad = ~torch.isfinite(losses)
        first = torch.argmax(bad.to(torch.uint8))  # the first bad one (0 when none is bad)
        seen = torch.stack([steps[first], losses[first]])
        self.first_bad = torch.where(bad[first] & (self.first_bad[0] < 0), seen, self.first_bad)

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

        self._note_first_bad(trainer.strategy.root_device)
        step = self.first_bad[0]
        if trainer.world_size > 1:
            step = trainer.strategy.reduce(step.clone(), reduce_op="max")
        if float(step) >= 0:
            value = float(self.first_bad[1]) if float(self.first_bad[0]) >= 0 else float("nan")
            raise TrainingDiverged(trainer.current_epoch, int(float(step)), value)
