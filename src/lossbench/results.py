"""The results record of a job, declared once, and run outputs written so that no reader ever sees
half a file (temp file + rename).

results.json is one JSON object (strict JSON: a non-finite number is written as null). Its keys:

  status            "running" | "completed" | "failed" | "interrupted"
  seed, loss, data, model, run_dir, overrides
  num_classes, class_counts, dataset, label_noise, ...   facts of the data (from the data module)
  final, best       test metrics of the final-epoch and of the best-on-validation weights
                    (`TEST_METRICS`, each prefixed "test_", plus "epoch"; best adds "selected_by")
  reliability       {"final", "best"}: the test reliability-diagram bins, for the report's plots
  device, device_name, precision, world_size, threads, host, compiled, channels_last
                    where and how it ran: torch's device, the GPU model (torch.cuda.get_device_name)
                    or the CPU model, the number of processes, torch threads, the host name, and
                    the trainer.compile and trainer.channels_last settings
  throughput        the whole job: train_images_per_s, train_s, train_epoch_s, eval_s (validation
                    and test), train_images, epochs (metrics.csv has train_epoch_s, eval_s and
                    train_images_per_s per epoch)
  progress          while running: epochs_done, max_epochs, train_images_per_s, eta_s (sweep lines)
  last_epoch        the last finished epoch (while running, and after an interruption)
  segments          one entry per start of the job: {"resumed_from_epoch", "wall_time_s", "status"}
  wall_time_s       the sum of the segments' wall times
  error, error_type, traceback   why a job did not complete (error_type: `ERROR_TYPES`)
  diverged          for error_type "diverged": {"epoch", "step", "what", "value"} of the first
                    non-finite loss (value as text, e.g. "nan": JSON has no NaN)
  sweep             the job's place in a `lossbench sweep` (its name, method, setting, overrides)
  versions          lossbench, torch and lightning versions
"""
from __future__ import annotations

import json
import math
import os
import tempfile
import time
from pathlib import Path

RESULTS_FILE = "results.json"
SWEEP_FILE = "sweep.json"  # a sweep directory's description, written by `lossbench sweep`

STATUSES = ("running", "completed", "failed", "interrupted")
# config: the user's input (exit 2); exception: a crash (exit 1); diverged: a non-finite loss;
# data_unavailable: the dataset could not be had; interrupted: a signal stopped the job.
ERROR_TYPES = ("config", "exception", "diverged", "data_unavailable", "interrupted")
# The test metrics of a `final` / `best` block, without their "test_" prefix.
TEST_METRICS = ("acc", "balanced_acc", "nll", "ece", "many_acc", "medium_acc", "few_acc", "per_class_acc")
# The scalar ones as they appear in the blocks, in the order tables show them, with column labels.
SCALAR_TEST_METRICS = {"test_acc": "acc", "test_balanced_acc": "bal. acc", "test_many_acc": "many",
                       "test_medium_acc": "medium", "test_few_acc": "few", "test_ece": "ECE", "test_nll": "NLL"}
LOWER_IS_BETTER = frozenset({"test_ece", "test_nll"})
# A binary task's scalar test metrics besides those (all higher-is-better), with column labels.
BINARY_SCALAR_TEST_METRICS = {"test_f1": "F1", "test_gmean": "G-mean", "test_auroc": "AUROC", "test_auprc": "AUPRC"}
# A multi-label task's (all higher-is-better): mAP overall and over the head / medium / tail classes
# (metrics.py), micro and macro F1 at threshold 0.5.
MULTILABEL_SCALAR_TEST_METRICS = {"test_map": "mAP", "test_map_head": "mAP head", "test_map_medium": "mAP med.",
                                  "test_map_tail": "mAP tail", "test_micro_f1": "micro F1",
                                  "test_macro_f1": "macro F1"}
TASK_SCALAR_TEST_METRICS = {"binary": BINARY_SCALAR_TEST_METRICS, "multilabel": MULTILABEL_SCALAR_TEST_METRICS}
ALL_SCALAR_TEST_METRICS = {**SCALAR_TEST_METRICS, **BINARY_SCALAR_TEST_METRICS, **MULTILABEL_SCALAR_TEST_METRICS}
# Lists a task's block adds: the average precision of every class (multi-label).
TASK_LIST_TEST_METRICS = ("per_class_ap",)


SHOT_GROUP_METRICS = ("test_many_acc", "test_medium_acc", "test_few_acc")
# A multi-label table's columns besides its own: the labels' ECE (subset accuracy and NLL stay in
# results.json: seven metric columns fit 80 terminal columns, as the multi-class table's).
MULTILABEL_CORE_METRICS = ("test_ece",)


def block_task(block: dict) -> str:
    """The task whose metrics a final/best block holds: its marker metric is there (not None)."""
    for task, marker in (("binary", "test_auroc"), ("multilabel", "test_map")):
        if block.get(marker) is not None:
            return task
    return "multiclass"


def shown_metrics(blocks) -> list[str]:
    """The scalar test metrics a table of these final/best blocks shows: the multi-class ones; the
    binary ones instead of the shot groups when every block is a binary task's (two classes: the
    shot groups are the two recalls, which balanced accuracy and G-mean already sum up); a
    multi-label task's own with the labels' ECE; the union where the blocks mix tasks."""
    tasks = {block_task(b) for b in blocks if b}
    if not tasks or tasks == {"multiclass"}:
        return list(SCALAR_TEST_METRICS)
    if tasks == {"binary"}:
        return [*(k for k in SCALAR_TEST_METRICS if k not in SHOT_GROUP_METRICS), *BINARY_SCALAR_TEST_METRICS]
    if tasks == {"multilabel"}:
        return [*MULTILABEL_SCALAR_TEST_METRICS, *MULTILABEL_CORE_METRICS]
    shown = list(SCALAR_TEST_METRICS)
    for task in ("binary", "multilabel"):
        if task in tasks:
            shown += list(TASK_SCALAR_TEST_METRICS[task])
    return shown


def metrics_block(metrics: dict, epoch: int) -> dict:
    """A `final` or `best` block from the metrics of one evaluation of the test set."""
    extra = [k[len("test_"):] for k in {**BINARY_SCALAR_TEST_METRICS, **MULTILABEL_SCALAR_TEST_METRICS}
             if k[len("test_"):] in metrics]
    extra += [k for k in TASK_LIST_TEST_METRICS if k in metrics]
    return {"epoch": epoch, **{f"test_{k}": metrics[k] for k in (*TEST_METRICS, *extra)}}


def new_record(*, seed: int, loss: str | None, data: str | None, model: str | None, run_dir: str | Path,
               overrides: list[str], sweep: dict | None = None) -> dict:
    """The record of a job that is about to run."""
    record = {"status": "running", "seed": seed, "loss": loss, "data": data, "model": model,
              "run_dir": str(run_dir), "overrides": list(overrides)}
    if sweep is not None:
        record["sweep"] = dict(sweep)
    return record


def failed_record(record: dict, error: str, error_type: str, traceback: str | None = None) -> dict:
    """`record` marked failed (or interrupted) with the reason; `error_type` is one of ERROR_TYPES."""
    if error_type not in ERROR_TYPES:
        raise ValueError(f"error_type {error_type!r} is not one of {ERROR_TYPES}")
    out = {**record, "status": "interrupted" if error_type == "interrupted" else "failed",
           "error": error, "error_type": error_type}
    if traceback:
        out["traceback"] = traceback
    return out


class JobRecord:
    """The life of one job's results.json, owned here: created when the job starts, given the facts
    of the data and the run as they become known, rewritten as "running" after every epoch,
    closed as completed, failed or interrupted, and written by the one process that writes (global
    rank 0; `writer`). Every write is atomic. `data` is the record itself (a plain dict).

    Segments: each start of a job (a fresh start or a resume) is one entry, {"resumed_from_epoch",
    "status", "wall_time_s"}; `wall_time_s` is their sum. A segment an earlier process left at
    "running" ended without a word and is shown as "killed"."""

    def __init__(self, path: str | os.PathLike, data: dict, *, writer: bool, started: float):
        self.path, self.data, self.writer, self.started = Path(path), data, writer, started
        self._previous: list[dict] = []

    def update(self, **facts) -> None:
        self.data.update(facts)

    def start_segment(self, previous_segments: list[dict], resumed_from_epoch: int | None) -> None:
        """Begin this process's segment after `previous_segments` (from the record being resumed)."""
        self._previous = [{**s, "status": "killed"} if s.get("status") == "running" else s for s in previous_segments]
        self.data.update(resumed_from_epoch=resumed_from_epoch, last_epoch=resumed_from_epoch,
                         segments=[*self._previous, {"resumed_from_epoch": resumed_from_epoch, "status": "running",
                                                     "wall_time_s": 0.0}])

    def _segment_time(self) -> None:
        self.data["segments"][-1]["wall_time_s"] = round(time.time() - self.started, 3)
        self.data["wall_time_s"] = round(sum(s["wall_time_s"] for s in self.data["segments"]), 3)

    def epoch_done(self, last_epoch: int, progress: dict | None = None) -> None:
        """After an epoch (its last.ckpt on disk): how far the job got, and `progress` for the
        sweep's lines, written as a "running" record."""
        self.data["last_epoch"] = last_epoch
        self._segment_time()
        if self.writer:
            write_json(self.path, {**self.data, **({"progress": progress} if progress else {}), "status": "running"})

    def fail(self, error: str, error_type: str, traceback: str | None = None) -> None:
        self.data = failed_record(self.data, error, error_type, traceback)

    def complete(self) -> None:
        self.data["status"] = "completed"

    def close(self) -> dict:
        """End this process's segment with the record's status, add the versions, write it."""
        segment = {"resumed_from_epoch": self.data.get("resumed_from_epoch"), "status": self.data["status"],
                   "wall_time_s": round(time.time() - self.started, 3)}
        self.data["segments"] = [*self._previous, segment]
        self.data["wall_time_s"] = round(sum(s["wall_time_s"] for s in self.data["segments"]), 3)
        self.data["versions"] = versions()
        self.write()
        return self.data

    def write(self, only_if_absent: bool = False) -> None:
        if self.writer and not (only_if_absent and self.path.exists()):
            write_json(self.path, self.data)


def is_completed(record: dict | None) -> bool:
    return isinstance(record, dict) and record.get("status") == "completed"


def first_error_line(record: dict) -> str:
    return str(record.get("error") or "?").strip().splitlines()[0] if record.get("error") else "?"


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp makes 0600 files; results are for other tools to read
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _finite(value):
    """`value` with every non-finite float replaced by None: JSON has no NaN or Infinity."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def write_json(path: str | os.PathLike, data: dict) -> None:
    """Write `data` atomically as strict JSON (non-finite numbers become null)."""
    atomic_write_text(path, json.dumps(_finite(data), indent=2, allow_nan=False) + "\n")


def read_results(path: str | os.PathLike) -> dict | None:
    """A run's results.json, or None if it is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def versions() -> dict:
    import lightning
    import torch

    import lossbench

    return {"lossbench": lossbench.__version__, "torch": torch.__version__, "lightning": lightning.__version__}
