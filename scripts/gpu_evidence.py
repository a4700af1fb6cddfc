"""One prepared run that turns a short GPU window into a record (scripts/gpu-evidence.sh runs it).

    scripts/gpu-evidence.sh [--budget 480] [--out evidence/DATE-DEVICE] [--cifar-root DIR] [--work DIR]
                            [--cpu] [--tiny]

Steps, each given what is left of the budget and never started past it:
  1. `lossbench doctor --losses --json`                     -> doctor.json
  2. `benchmarks/bench_train.py --evidence`                 -> bench.json (ResNet-32 img/s: eager fp32,
     bf16-mixed, channels_last, compile; evaluation; 1, 2 and 4 jobs per GPU)
  3. `lossbench sweep ldam_drw_cifar_lt`, setting "C10-LT rho=100", methods CE and LDAM-DRW, seed 0,
     200 epochs, `--launcher local --jobs-per-gpu 2`, data.loader=gpu, CIFAR-10 from --cifar-root; it is
     resumable (its job directories are under --work), and when the budget runs out it is stopped
     with SIGTERM, so that its jobs end "interrupted" and the same command resumes them -> sweep.json
  4. summary.md: device, versions, every figure above, the two final test accuracies and their gap
     beside the published one (Cao et al. 2019, Table 2), and what did not finish.
Besides those, log.txt (each step's command and the end of its output). Six files, no folders:
the record can be copied back whole. `--cpu --tiny` rehearses the same pipeline on a CPU in about a
minute: the sweep's --smoke jobs (synthetic data, two batches of 2 epochs), no compile, no packing.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SWEEP, SETTING, METHODS = "ldam_drw_cifar_lt", "C10-LT rho=100", ("CE", "LDAM-DRW")
RESERVE_S = 20  # kept for the summary and a clean stop
STEP_CAPS = {"doctor": 90, "bench": 150}  # at most this much of the budget each (GPU); the sweep gets the rest
LOG_TAIL = 4000


class Budget:
    def __init__(self, seconds: float):
        self.started, self.seconds = time.time(), seconds

    def left(self) -> float:
        return self.seconds - RESERVE_S - (time.time() - self.started)


def _device_name(cpu: bool) -> str:
    import torch

    if not cpu and torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    from lossbench.hardware import cpu_model

    return cpu_model()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:40] or "device"


def _run(cmd: list[str], timeout: float, log: list[str], env: dict) -> subprocess.CompletedProcess | None:
    """The finished process, or None when it did not finish in `timeout` s (it is stopped with
    SIGTERM, then SIGKILL 30 s later)."""
    log.append("$ " + " ".join(cmd))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT)
    try:
        out, _ = proc.communicate(timeout=max(1.0, timeout))
        log.append(out[-LOG_TAIL:])
        return subprocess.CompletedProcess(cmd, proc.returncode, out, "")
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # lossbench stops cleanly: the jobs end interrupted, resumable
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        log.append(out[-LOG_TAIL:] + f"\n[stopped: the budget ran out after {timeout:.0f} s]")
        return None


def _sweep_command(args) -> list[str]:
    cmd = [sys.executable, "-m", "lossbench", "sweep", SWEEP, "--settings", SETTING, "--methods", ",".join(METHODS),
           "--seeds", "0", "--launcher", "local", "--dir", str(args.work / "sweep"), "--no-report"]
    if args.tiny:
        return [*cmd, "--smoke"]
    if not args.cpu:
        cmd += ["--jobs-per-gpu", "2"]
    return [*cmd, "data.loader=gpu", f"data.root={args.cifar_root}", "data.download=false"]


def _sweep_records(work: Path) -> dict:
    """method -> the facts of its job's results.json (or None when it has none)."""
    out = {}
    for method in METHODS:
        path = next(iter((work / "sweep").glob(f"*__{method}__seed0/results.json")), None)
        record = json.loads(path.read_text()) if path else None
        out[method] = None if record is None else {
            k: record.get(k) for k in ("status", "error", "last_epoch", "wall_time_s", "segments", "final", "best",
                                       "throughput", "device_name", "precision", "dataset")}
    return out


def main() -> int:
    p = argparse.ArgumentParser(description="Turn a short GPU window into a record (see scripts/gpu_evidence.py).")
    p.add_argument("--budget", type=float, default=480, help="seconds in all (default 480)")
    p.add_argument("--out", type=Path, help="the record's folder (default evidence/DATE-DEVICE)")
    p.add_argument("--cifar-root", type=Path, default=Path(os.environ.get("LOSSBENCH_DATA") or "data"),
                   help="folder holding cifar-10-batches-py/ (default $LOSSBENCH_DATA, else data)")
    p.add_argument("--work", type=Path, help="where the sweep's job directories go (default: runs/gpu-evidence)")
    p.add_argument("--cpu", action="store_true", help="run on the CPU even if there is a GPU")
    p.add_argument("--tiny", action="store_true", help="the quick rehearsal: smoke jobs, no compile, no packing")
    args = p.parse_args()
    budget = Budget(args.budget)
    device = _device_name(args.cpu)
    today = datetime.date.today().isoformat()
    out = args.out or ROOT / "evidence" / f"{today}-{_slug(device)}"
    args.work = (args.work or Path(os.environ.get("LOSSBENCH_RUNS") or ROOT / "runs") / "gpu-evidence").resolve()
    args.cifar_root = args.cifar_root.resolve()
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **({"CUDA_VISIBLE_DEVICES": ""} if args.cpu else {})}
    log: list[str] = []
    unfinished: list[str] = []

    doctor = _run([sys.executable, "-m", "lossbench", "doctor", "--losses", "--json"],
                  min(STEP_CAPS["doctor"], budget.left()), log, env)
    facts = json.loads(doctor.stdout) if doctor and doctor.stdout.strip().startswith("{") else None
    if facts is None:
        unfinished.append("doctor --losses did not finish" if doctor is None else "doctor --losses failed (log.txt)")
    else:
        (out / "doctor.json").write_text(json.dumps(facts, indent=2) + "\n")

    bench_path = out / "bench.json"
    bench_s = min(STEP_CAPS["bench"], budget.left() / (1 if args.tiny else 3))
    bench_cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_train.py"), "--evidence", "--json", str(bench_path),
                 "--device", "cpu" if args.cpu or not (facts or {}).get("devices", {}).get("gpus") else "cuda",
                 "--deadline-s", str(max(1.0, bench_s - 30)), *(["--tiny"] if args.tiny else [])]
    if _run(bench_cmd, bench_s, log, env) is None or not bench_path.exists():
        unfinished.append("bench_train --evidence did not finish (log.txt)")
    bench = json.loads(bench_path.read_text()) if bench_path.exists() else None

    sweep_started = time.time()
    done = _run(_sweep_command(args), budget.left(), log, env)
    sweep_s = time.time() - sweep_started
    records = _sweep_records(args.work)
    (out / "sweep.json").write_text(json.dumps(records, indent=2) + "\n")
    if done is None:
        unfinished.append(f"the {SWEEP} jobs were stopped when the budget ran out; the same command resumes them")
    unfinished += [f"{m}: {r['status'] if r else 'no record'}" for m, r in records.items()
                   if not r or r["status"] != "completed"]

    from evidence_summary import render  # scripts/evidence_summary.py

    (out / "summary.md").write_text(render(device=device, date=today, args=args, facts=facts, bench=bench,
                                           records=records, sweep_s=sweep_s, unfinished=unfinished,
                                           took=time.time() - budget.started))
    (out / "log.txt").write_text("\n".join(log) + "\n")
    print(f"gpu-evidence: record in {out} ({len(list(out.iterdir()))} files)"
          + (f"; not finished: {'; '.join(unfinished)}" if unfinished else ""))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
