"""Facts about the machine a job runs on, read once per job."""
from __future__ import annotations

import functools
import os
from pathlib import Path

# CPU flags (Linux /proc/cpuinfo) of native bfloat16 arithmetic: Intel AMX (Sapphire Rapids and
# later) and AVX512-BF16 (Cooper Lake, Sapphire Rapids, AMD Zen 4 and later). Without one of them
# bf16 autocast on a CPU is emulated and slower than float32.
NATIVE_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


# Pretend to be another CPU: a comma-separated flag list replaces /proc/cpuinfo's (the test suite's
# --cpu-kind sets it, so that every expectation that depends on the CPU is checked on each kind).
CPU_FLAGS_ENV = "LOSSBENCH_CPU_FLAGS"
# The kinds of x86 CPU this project's machines have, by the flags that decide bf16.
CPU_KINDS = {"amx": "avx2,avx512f,avx512_bf16,amx_bf16,amx_tile", "avx512_bf16": "avx2,avx512f,avx512_bf16",
             "avx2": "avx2,fma"}


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    if os.environ.get(CPU_FLAGS_ENV) is not None:
        return frozenset(f for f in os.environ[CPU_FLAGS_ENV].split(",") if f)
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_cores() -> int:
    """The cores this process may run on (its CPU affinity, which cgroups and taskset narrow)."""
    return len(os.sched_getaffinity(0))


def threads_per_process(processes: int, cores: int | None = None) -> int:
    """Torch threads for each of `processes` that share `cores` (default: cpu_cores()): never more
    threads in all than cores, and at least one each."""
    return max(1, (cpu_cores() if cores is None else cores) // max(1, processes))


def cpu_has_native_bf16() -> bool:
    return any(flag in cpu_flags() for flag in NATIVE_BF16_FLAGS)


def auto_precision(accelerator: str) -> str:
    """What `trainer.precision=auto` means: bf16-mixed on a CUDA GPU and on a CPU with native bf16
    (NATIVE_BF16_FLAGS), 32-true elsewhere (and on Apple's MPS, whose bf16 autocast is partial)."""
    import torch

    if accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        return "bf16-mixed"
    if accelerator in ("auto", "cpu") and cpu_has_native_bf16():
        return "bf16-mixed"
    return "32-true"


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), else what the platform module says."""
    import platform

    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device) -> str:
    """The model of the device that trained: the GPU's name, or the CPU's."""
    import torch

    return torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model()


def run_facts(device) -> dict:
    """Where a job ran, for its results record: torch's device, its model, the host and the GPUs
    this process was given."""
    import socket

    return {"device": str(device), "device_name": device_name(device), "host": socket.gethostname(),
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}
