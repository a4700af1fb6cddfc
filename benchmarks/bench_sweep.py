"""What the sweep launchers cost (`make bench-sweep`): on a quiet machine,

  1. the wall time of `lossbench sweep demo` (12 jobs) inline against `--launcher local --parallel 2`;
  2. each launcher's start-up overhead per job: (the command's wall time - the jobs' own wall
     times) / jobs, on the 4 smoke jobs of the demo, one job at a time (slurm when `sbatch` works);
  3. the time from SIGTERM to the written "interrupted" record and the process's exit, for a
     ResNet-32 job at batch 128 on 32x32 images (the next batch boundary is what it waits for).

    python benchmarks/bench_sweep.py [--skip-demo] [--slurm]
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def lossbench(args: list[str], root: Path, **kw) -> tuple[float, subprocess.CompletedProcess]:
    env = {**os.environ, "LOSSBENCH_RUNS": str(root), "PYTHONUNBUFFERED": "1"}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "lossbench", *args], env=env, cwd=root, capture_output=True,
                          text=True, **kw)
    if proc.returncode != 0:
        raise SystemExit(f"lossbench {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - start, proc


def job_walls(sweep_dir: Path) -> list[float]:
    return [json.loads(p.read_text())["wall_time_s"] for p in sweep_dir.glob("*/results.json")]


def demo_walls(root: Path) -> None:
    inline, _ = lossbench(["sweep", "demo", "--dir", str(root / "inline"), "--no-report"], root)
    local, _ = lossbench(["sweep", "demo", "--dir", str(root / "local"), "--no-report", "--launcher", "local",
                          "--parallel", "2"], root)
    print(f"sweep demo (12 jobs): inline {inline:.1f} s, local --parallel 2 {local:.1f} s "
          f"(jobs' own wall: inline mean {sum(job_walls(root / 'inline')) / 12:.2f} s, "
          f"local mean {sum(job_walls(root / 'local')) / 12:.2f} s)")


def overheads(root: Path, slurm: bool) -> None:
    base, _ = lossbench(["list", "losses"], root)  # the command's own start-up, no job
    cases = {"inline": [], "local": ["--launcher", "local", "--parallel", "1"]}
    if slurm:
        cases["slurm"] = ["--launcher", "slurm", "launcher.cpus_per_job=2", "launcher.array_parallelism=1",
                          "launcher.mem_gb=2"]
    for name, extra in cases.items():
        sweep_dir = root / f"smoke-{name}"
        wall, _ = lossbench(["sweep", "demo", "--smoke", "--dir", str(sweep_dir), "--no-report", *extra], root)
        own = job_walls(sweep_dir)
        print(f"{name:<6} launcher: 4 smoke jobs in {wall:.1f} s; jobs' own wall {sum(own):.1f} s; "
              f"start-up overhead per job {(wall - base - sum(own)) / len(own):.2f} s")


def sigterm_latency(root: Path) -> None:
    run_dir = root / "term"
    env = {**os.environ, "LOSSBENCH_RUNS": str(root)}
    args = ["train", "data=synthetic", "data.image_size=32", "data.channels=3", "data.batch_size=128",
            "data.train_per_class=300", "model=resnet32", "trainer=cpu", "trainer.max_epochs=50",
            "trainer.enable_progress_bar=false", f"hydra.run.dir={run_dir}"]
    proc = subprocess.Popen([sys.executable, "-m", "lossbench", *args], env=env, cwd=root,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = run_dir / "results.json"
    while True:
        try:
            if (json.loads(results.read_text()).get("last_epoch") or -1) >= 0:
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    time.sleep(1.0)  # into the next epoch
    sent = time.perf_counter()
    proc.send_signal(signal.SIGTERM)
    written = None
    while proc.poll() is None or written is None:
        try:
            if written is None and json.loads(results.read_text()).get("status") == "interrupted":
                written = time.perf_counter() - sent
        except (OSError, ValueError):
            pass
        time.sleep(0.01)
    exited = time.perf_counter() - sent
    print(f"SIGTERM -> 'interrupted' written {written:.2f} s, process exited {exited:.2f} s "
          f"(resnet32, batch 128, 32x32; last.ckpt of the last finished epoch was already on disk)")


def main() -> None:
    from lossbench.hardware import cpu_cores

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--skip-demo", action="store_true")
    p.add_argument("--slurm", action="store_true", help="also time the slurm launcher (needs a working sbatch)")
    args = p.parse_args()
    print(f"# bench_sweep {datetime.date.today()} {platform.node()} cores={cpu_cores()}")
    root = Path(tempfile.mkdtemp(prefix="bench_sweep_"))
    try:
        if not args.skip_demo:
            demo_walls(root)
        overheads(root, args.slurm and shutil.which("sbatch") is not None)
        sigterm_latency(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
