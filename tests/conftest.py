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


# Modules whose tests run jobs, sweeps, clusters or worker processes: marked slow, left out of
# `make test-fast` (`pytest -m "not slow"`), run by `make test`.
SLOW_MODULES = {
    "tests/cluster", "tests/sweep/test_run.py", "tests/sweep/test_launchers.py", "tests/test_resume.py",
    "tests/test_hydra_launchers.py", "tests/test_ddp_jobs.py", "tests/test_ddp_eval.py", "tests/test_train.py",
    "tests/test_train_command.py", "tests/test_loggers.py", "tests/test_progress.py", "tests/test_precision.py",
    "tests/test_packaging.py", "tests/test_untrusted.py", "tests/test_bad_inputs.py", "tests/test_hydra_habits.py",
    "tests/test_cli.py", "tests/losses/test_training.py", "tests/losses/test_elr_state.py",
    "tests/losses/test_seesaw_state.py", "tests/test_threads.py", "tests/test_module_needs.py",
    "tests/data/test_files.py", "tests/report/test_report.py", "tests/report/test_plots.py",
    "tests/test_your_loss_doc.py", "tests/test_inspect_loss.py", "tests/test_doctor_losses.py",
    "tests/test_wheelhouse.py", "tests/sweep/test_estimate.py", "tests/test_gpu_evidence.py",
    "tests/optim/test_sam_jobs.py", "tests/test_learned_loss_jobs.py",
}


def pytest_collection_modifyitems(config, items):
    import pytest

    for item in items:
        path = Path(str(item.path)).relative_to(REPO).as_posix()
        if any(path == m or path.startswith(m + "/") for m in SLOW_MODULES):
            item.add_marker(pytest.mark.slow)


def pytest_report_header(config):
    from lossbench import hardware

    flags = sorted(set(hardware.NATIVE_BF16_FLAGS) & hardware.cpu_flags())
    return (f"lossbench.hardware: native bf16 flags {flags or 'none'}; trainer.precision=auto -> "
            f"{hardware.auto_precision('cpu')} on the CPU")


def run_cli(args: list[str], runs_root: Path, cwd: Path | None = None, env: dict | None = None,
            timeout: int = 300, fresh: bool = False) -> subprocess.CompletedProcess:
    """`python -m lossbench ARGS` with outputs under runs_root, in a new process; returns the finished
    process. The process is forked from a warm server that has imported lossbench's dependencies
    (tests/cli_server.py), or, with `fresh` or for a command that starts worker interpreters that
    re-run its `__main__` (DDP ranks: Lightning re-runs the command line; Hydra's launchers:
    joblib's loky and submitit workers), started as a new interpreter."""
    full_env = {**os.environ, "LOSSBENCH_RUNS": str(runs_root), "PYTHONUNBUFFERED": "1", **(env or {})}
    if fresh or any("ddp" in a or a.startswith("hydra/launcher=") for a in args):
        return subprocess.run([sys.executable, "-m", "lossbench", *args], cwd=cwd or runs_root, env=full_env,
                              capture_output=True, text=True, timeout=timeout)
    return _warm_cli().run(list(args), full_env, cwd or runs_root, timeout)


class _WarmCLI:
    """The client of tests/cli_server.py: one server for the session, one command at a time."""

    def __init__(self):
        import atexit

        self.server = subprocess.Popen([sys.executable, str(Path(__file__).with_name("cli_server.py"))],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO)
        assert json.loads(self.server.stdout.readline()) == {"ready": True}
        atexit.register(self.close)

    def run(self, argv: list[str], env: dict, cwd: Path, timeout: float) -> subprocess.CompletedProcess:
        import select
        import signal
        import tempfile

        with tempfile.TemporaryDirectory(prefix="lossbench-cli-") as tmp:
            out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
            request = {"argv": argv, "env": env, "cwd": str(cwd), "stdout": str(out), "stderr": str(err)}
            self.server.stdin.write(json.dumps(request) + "\n")
            self.server.stdin.flush()
            pid = json.loads(self.server.stdout.readline())["pid"]
            ready, _, _ = select.select([self.server.stdout], [], [], timeout)
            if not ready:
                os.killpg(pid, signal.SIGKILL)
                self.server.stdout.readline()
                raise subprocess.TimeoutExpired(["lossbench", *argv], timeout, out.read_text(), err.read_text())
            returncode = json.loads(self.server.stdout.readline())["returncode"]
            return subprocess.CompletedProcess(["lossbench", *argv], returncode, out.read_text(), err.read_text())

    def close(self) -> None:
        if self.server.poll() is None:
            self.server.stdin.close()
            self.server.wait(timeout=30)


_WARM: list[_WarmCLI] = []


def _warm_cli() -> _WarmCLI:
    if not _WARM or _WARM[0].server.poll() is not None:
        _WARM[:] = [_WarmCLI()]
    return _WARM[0]


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


def assert_finite_under_bf16_autocast(loss, inputs, targets):
    """`loss` of float32 `inputs`, plain and under CPU bf16 autocast (inputs cast to bf16): a float32 value,
    finite, with a finite gradient in the inputs."""
    import torch

    for autocast in (False, True):
        x = inputs.float().requires_grad_(True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            value = loss(x.to(torch.bfloat16) if autocast else x, targets)
        (grad,) = torch.autograd.grad(value, x)
        assert value.dtype == torch.float32 and torch.isfinite(value) and torch.isfinite(grad).all()


def train_full_batch(model, loss, x, y, steps: int = 300, lr: float = 0.01):
    """`steps` full-batch Adam steps of `model` on (x, y) under `loss`: the training tests' small fit."""
    import torch

    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        loss(model(x), y).backward()
        optimizer.step()
    return model
