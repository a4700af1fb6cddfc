"""The console lines of a running sweep, the same under every launcher: one line as each job
starts and ends (with its training img/s), and every STATUS_EVERY_S seconds a summary with the
epoch, img/s and ETA of each running job (read from its results.json)."""
from __future__ import annotations

import threading
import time
from pathlib import Path

from lossbench.results import RESULTS_FILE, read_results
from lossbench.sweep.runner import SweepJob, outcome_line

STATUS_EVERY_S = 60.0


class Progress:
    """The sweep's console lines: one as each job starts and ends (with its training img/s), and a
    periodic summary with the epoch, img/s and ETA of each running job (from its results.json)."""

    def __init__(self, name: str, total: int):
        self.name, self.total, self.started, self.last = name, total, time.time(), time.time()
        self.width = len(str(total))

    def head(self, i: int, spec: SweepJob) -> str:
        job = spec.job
        return f"[{i:>{self.width}}/{self.total}] {job.setting} | {job.method} | seed {job.seed}"

    def say(self, text: str) -> None:
        print(text, flush=True)

    def ended(self, i: int, spec: SweepJob, record: dict, suffix: str = "") -> None:
        speed = ((record.get("throughput") or {}).get("train_images_per_s") if record.get("status") == "completed"
                 else None)
        self.say(f"{self.head(i, spec)}: {outcome_line(record)}" + (f"  {speed:.0f} img/s" if speed else "") + suffix)

    def periodic(self, counts: dict, running: list[tuple[int, SweepJob]] = (), force: bool = False) -> None:
        if force or time.time() - self.last >= STATUS_EVERY_S:
            self.last = time.time()
            parts = ", ".join(f"{v} {k}" for k, v in counts.items() if v)
            jobs = [text for text in (self.job_progress(i, spec) for i, spec in running) if text]
            self.say(f"sweep {self.name}: {parts} ({time.time() - self.started:.0f} s)"
                     + "".join(f"; {text}" for text in jobs))

    def job_progress(self, i: int, spec: SweepJob) -> str | None:
        """`[3/8] epoch 5/30, 1234 img/s, ETA 3m10s` of a running job, from its results.json."""
        from lossbench.callbacks import duration

        record = read_results(Path(spec.job_dir) / RESULTS_FILE)
        progress = (record or {}).get("progress") if (record or {}).get("status") == "running" else None
        if not progress:
            return None
        return (f"[{i}/{self.total}] epoch {progress['epochs_done']}/{progress['max_epochs']}, "
                f"{progress['train_images_per_s']:.0f} img/s, ETA {duration(progress.get('eta_s'))}")


class PeriodicThread:
    """Calls `progress.periodic` every STATUS_EVERY_S seconds while the inline launcher's job runs
    in the main thread."""

    def __init__(self, progress: Progress, counts, running):
        self.progress, self.counts, self.running = progress, counts, running
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="sweep-progress", daemon=True)

    def _loop(self) -> None:
        while not self.stop.wait(max(0.2, STATUS_EVERY_S - (time.time() - self.progress.last))):
            self.progress.periodic(self.counts(), self.running())

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=5)
