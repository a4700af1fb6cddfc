"""What a run shows as it goes, in a log file (not a terminal), and the throughput it records:
one plain line per epoch from `lossbench train`, and the sweep's per-job and periodic lines."""
from __future__ import annotations

import csv
import os
import re
import socket
import stat
from pathlib import Path

import pytest
import yaml

from tests.conftest import results_under, run_cli

EPOCH_LINE = re.compile(r"^epoch (\d+)/2 loss \d+\.\d+ val acc 0\.\d{3} bal 0\.\d{3} ece 0\.\d{3} \| "
                        r"\d+\.\ds (\d+) img/s ETA \S+$")


@pytest.fixture(scope="module")
def logged_run(tmp_path_factory):
    """`lossbench train trainer=smoke data=synthetic` with stdout a pipe, as in a SLURM .out file."""
    runs_root = tmp_path_factory.mktemp("runs")
    proc = run_cli(["train", "trainer=smoke", "data=synthetic"], runs_root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (res,) = results_under(runs_root)
    return proc, res


def test_a_log_file_gets_one_plain_line_per_epoch(logged_run):
    proc, _ = logged_run
    lines = [line for line in proc.stdout.splitlines() if line.startswith("epoch ")]
    assert [EPOCH_LINE.match(line).group(1) for line in lines] == ["1", "2"], proc.stdout
    assert all(len(line) <= 80 for line in lines)
    assert lines[-1].endswith("ETA 0s")  # nothing left after the last epoch
    assert "\r" not in proc.stdout + proc.stderr  # no progress bar redrawing itself in the log


def test_metrics_csv_has_the_time_and_throughput_of_every_epoch(logged_run):
    _, res = logged_run
    with open(Path(res["run_dir"]) / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["0", "1"]
    for row in rows:
        train_s, eval_s, speed = (float(row[k]) for k in ("train_epoch_s", "eval_s", "train_images_per_s"))
        assert train_s > 0 and eval_s > 0
        # trainer=smoke trains 2 batches of synthetic's 64 images per epoch; the file rounds
        # train_epoch_s to 1 ms and the speed to 0.1 img/s, which bounds the product's error
        assert speed * train_s == pytest.approx(128, abs=speed * 0.0005 + train_s * 0.05 + 1e-6)


def test_results_json_has_the_jobs_throughput_and_where_it_ran(logged_run):
    _, res = logged_run
    with open(Path(res["run_dir"]) / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    throughput = res["throughput"]
    assert throughput["epochs"] == 2 and throughput["train_images"] == 256
    assert throughput["train_s"] == pytest.approx(sum(float(r["train_epoch_s"]) for r in rows), abs=0.01)
    # train_s is rounded to 1 ms and the speed to 0.1 img/s (from the unrounded time): on a fast machine a
    # smoke epoch takes ~20 ms, where 1 ms of rounding is more than 1% (seen: 6335.1 img/s for a 0.040 s record)
    speed, train_s = throughput["train_images_per_s"], throughput["train_s"]
    assert speed * train_s == pytest.approx(256, abs=speed * 0.0005 + train_s * 0.05 + 1e-6)
    # evaluation: the validation of both epochs and the two test passes (final and best weights)
    assert throughput["eval_s"] > sum(float(r["eval_s"]) for r in rows)
    assert res["world_size"] == 1 and res["host"] == socket.gethostname()
    assert res["device"] == "cpu" and res["device_name"]


def test_inline_sweep_prints_img_s_and_periodic_lines_without_lightning_noise(tmp_path, monkeypatch, capsys):
    from lossbench import sweep
    from lossbench.sweep import progress

    fake_bin = tmp_path / "bin"  # an `srun` on PATH: Lightning warns that it is "available but not used"
    fake_bin.mkdir()
    (fake_bin / "srun").write_text("#!/bin/sh\nexit 0\n")
    (fake_bin / "srun").chmod(stat.S_IRWXU)
    monkeypatch.setenv("PATH", f"{fake_bin}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(progress, "STATUS_EVERY_S", 0.3)
    # 60 two-batch epochs: a couple of seconds, several periodic lines after the first epoch (ten
    # epochs of this job once took 0.3 s, and the job ended before any periodic line showed one)
    spec = tmp_path / "sixty_epochs.yaml"
    spec.write_text(yaml.safe_dump({
        "title": "sixty epochs", "fixed": ["data=synthetic", "trainer=smoke", "model=mlp", "trainer.max_epochs=60"],
        "settings": {"syn": []}, "methods": {"ce": ["loss=ce"]}, "seeds": [0]}))
    rc = sweep.main([str(spec), "--dir", str(tmp_path / "s"), "--no-report"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    (res,) = results_under(tmp_path / "s")
    end = next(line for line in out.out.splitlines() if line.startswith("[1/1]") and " img/s" in line)
    assert end.endswith(f"  {res['throughput']['train_images_per_s']:.0f} img/s")
    periodic = [line for line in out.out.splitlines() if line.startswith("sweep sixty_epochs: ") and "running" in line]
    assert any(re.search(r"1 running \(\d+ s\); \[1/1\] epoch \d+/60, \d+ img/s, ETA \S+$", line)
               for line in periodic), out.out
    assert "srun" not in out.out + out.err and "Warning" not in out.out + out.err


def test_a_terminal_gets_the_progress_bar_with_epoch_time_and_eta(tmp_path):
    import pty
    import subprocess
    import sys

    import fcntl
    import struct
    import termios

    main_fd, child_fd = pty.openpty()  # stdout is a terminal, as when a user runs it by hand
    # a terminal 160 columns wide (a new pty has 0, and tqdm then draws nothing)
    fcntl.ioctl(child_fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    env = {**os.environ, "LOSSBENCH_RUNS": str(tmp_path / "runs")}
    proc = subprocess.Popen([sys.executable, "-m", "lossbench", "train", "trainer=smoke", "data=synthetic"],
                            stdout=child_fd, stderr=child_fd, env=env, cwd=tmp_path)
    os.close(child_fd)
    chunks = []
    while True:
        try:
            chunk = os.read(main_fd, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert proc.wait(timeout=300) == 0
    text = b"".join(chunks).decode(errors="replace")
    # rich's bar (Lightning's default when rich is installed) prints "epoch_s: 0.8 ETA: 1s";
    # tqdm's "epoch_s=0.8, ETA=1s"
    assert re.search(r"epoch_s[:=] ?\d+\.\d,? ETA[:=] ?\d+s", text), text[-3000:]
    assert not re.search(r"^epoch 1/2 loss", text, re.M)  # the plain lines are for logs only


def test_the_terminal_bar_redraws_at_most_every_quarter_second_and_at_the_epochs_end(monkeypatch):
    """A redraw every batch cost 0.7 ms a step (27% of a small model's training on the CPU); the
    bar draws the first batch, then one batch per REDRAW_S, then the last batch of the epoch."""
    from types import SimpleNamespace

    from lossbench import callbacks

    bar = callbacks.eta_progress_bar(callbacks.EpochTimer())
    drawn = []
    monkeypatch.setattr(type(bar).__mro__[1], "on_train_batch_end",
                        lambda self, trainer, module, outputs, batch, batch_idx: drawn.append(batch_idx))
    clock = iter([1000.0 + 0.1 * i for i in range(10)])  # one batch every 0.1 s
    monkeypatch.setattr(callbacks.time, "monotonic", lambda: next(clock))
    trainer = SimpleNamespace(num_training_batches=10)
    for batch_idx in range(10):
        bar.on_train_batch_end(trainer, None, None, None, batch_idx)
    assert callbacks.REDRAW_S == 0.25
    assert drawn == [0, 3, 6, 9]  # 0.3 s apart (the first >= 0.25 s after the last drawn), and the last
