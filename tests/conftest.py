"""Shared test helpers: run the real CLI in a subprocess, and read what a run wrote."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def pytest_addoption(parser):
    parser.addoption("--cpu-kind", choices=("amx", "avx512_bf16", "avx2"), default=None,
                     help="run the suite as on another kind of CPU: lossbench.hardware (and every job process "
                          "the tests start) sees that kind's flags instead of /proc/cpuinfo's")


def pytest_configure(config):
    kind = config.getoption("--cpu-kind")
    if kind:
        from lossbench import hardware

        os.environ[hardware.CPU_FLAGS_ENV] = hardware.CPU_KINDS[kind]  # inherited by the jobs the tests start
        hardware.cpu_flags.cache_clear()


def pytest_report_header(config):
    from lossbench import hardware

    flags = sorted(set(hardware.NATIVE_BF16_FLAGS) & hardware.cpu_flags())
    return (f"lossbench.hardware: native bf16 flags {flags or 'none'}; trainer.precision=auto -> "
            f"{hardware.auto_precision('cpu')} on the CPU")


def run_cli(args: list[str], runs_root: Path, cwd: Path | None = None, env: dict | None = None,
            timeout: int = 300) -> subprocess.CompletedProcess:
    """`python -m lossbench ARGS` with outputs under runs_root; returns the finished process."""
    full_env = {**os.environ, "LOSSBENCH_RUNS": str(runs_root), "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "lossbench", *args], cwd=cwd or runs_root, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def results_under(root: Path) -> list[dict]:
    """Every results.json below root, sorted by run directory."""
    return [json.loads(p.read_text()) for p in sorted(root.rglob("results.json"))]


@pytest.fixture
def runs_root(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    root.mkdir()
    return root


def run_table(stdout: str) -> list[dict]:
    """The rows of the run table that `lossbench train` prints (lossbench.summary): one dict per
    line, keyed by the header's column names; a continuation line ("best" under "final") gets the
    run label and seed of the line above. Cells are located from the header: numbers are
    right-justified under their column name, `ckpt` is left-justified, the label comes first."""
    lines = stdout.splitlines()
    header_at = next(i for i, line in enumerate(lines) if line.startswith("run ") and " ckpt " in line)
    header = lines[header_at]
    names = header.split()
    spans = {}
    pos = 0
    for name in names:
        start = header.index(name, pos)
        spans[name] = (start, start + len(name))
        pos = start + len(name)

    def token_ending_at(line: str, end: int) -> str:
        text = line[:end].rstrip()
        return text.split(" ")[-1] if len(line) >= end and line[end - 1:end] != " " else ""

    rows, previous = [], {}
    for line in lines[header_at + 2:]:
        if not line.strip() or not any(c.isdigit() or c == "-" for c in line) and "FAILED" not in line:
            break
        ckpt_start = spans["ckpt"][0]
        ckpt = line[ckpt_start:].split(" ")[0] if len(line) > ckpt_start else ""
        if ckpt not in ("final", "best", "FAILED", "INTERRUPTED", "RUNNING"):
            break
        row = {"ckpt": ckpt}
        for name in names[1:]:
            if name != "ckpt":
                row[name] = token_ending_at(line, spans[name][1])
        label = line[:spans["seed"][1]].rsplit(" ", 1)[0].strip() if row["seed"] else ""
        row["run"] = label or previous.get("run", "")
        row["seed"] = row["seed"] or previous.get("seed", "")
        rows.append(row)
        previous = row
    return rows


def spawn_and_join(target, args_per_process: list[tuple], timeout: float) -> None:
    """Run `target(*args)` in one spawned process per args tuple and require every one to exit 0.
    spawn, not fork: forking a test process that already runs threads (torch's pools, earlier
    tests' helpers) can deadlock the child. Processes still alive at the end are killed."""
    import multiprocessing

    spawn = multiprocessing.get_context("spawn")
    workers = [spawn.Process(target=target, args=args) for args in args_per_process]
    for worker in workers:
        worker.start()
    try:
        for worker in workers:
            worker.join(timeout=timeout)
            assert worker.exitcode == 0
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.kill()


def value_and_grad(fn, logits, targets):
    """(fn(logits, targets), its gradient in the logits), on a fresh leaf copy of the logits. The
    global generator is seeded first, so a loss with random draws (eql) and its reference draw alike."""
    import torch

    torch.manual_seed(0)
    z = logits.clone().requires_grad_(True)
    value = fn(z, targets)
    (grad,) = torch.autograd.grad(value, z)
    return value.detach(), grad
