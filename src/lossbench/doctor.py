"""`lossbench doctor [--losses] [--json] [--data-root DIR]`: is this machine ready to run lossbench?

What it reads, without importing Lightning (under 5 s):
  versions        python, torch, CUDA, cuDNN and the packages a job may import (None: not installed);
  devices         each GPU (name, memory, compute capability, native bf16) and the CPU (model, the
                  cores this process may use, its native-bf16 flags);
  precision_auto  what trainer.precision=auto resolves to here; threads: what trainer.threads=null does;
  datasets        each file-backed dataset under data.root ($LOSSBENCH_DATA, else ./data; --data-root)
                  and the system folders: found or not, where, and whether the MD5s are the official ones;
  slurm           sbatch on PATH, the slurm.conf it would read, and whether a controller answers;
  wandb           installed, and the mode W&B would run in.
`--losses` adds doctor_losses.py's check of every shipped loss on this device and precision.
Exit code 0 when a default job (`lossbench train`) can run here, 1 when something it needs is
missing (each named under `problems`).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

# distribution -> what it is for; REQUIRED: a default job (digits_lt, small_cnn, csv logger) needs it
REQUIRED = ("torch", "lightning", "hydra-core", "omegaconf", "torchmetrics", "numpy", "scikit-learn")
OPTIONAL = ("torchvision", "submitit", "wandb", "tensorboard", "scipy", "matplotlib", "rich")
SLURM_CONF_DEFAULT = "/etc/slurm/slurm.conf"


def versions() -> dict:
    import platform

    import torch

    found = {"python": platform.python_version(), "cuda": torch.version.cuda,
             "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None}
    for dist in (*REQUIRED, *OPTIONAL):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = None
    found["torch"] = torch.__version__  # with its build tag (+cu130, +cpu), which the metadata leaves out
    return found


def devices() -> dict:
    import torch

    from lossbench.hardware import NATIVE_BF16_FLAGS, cpu_cores, cpu_flags, cpu_model

    gpus = []
    for i in range(torch.cuda.device_count() if torch.cuda.is_available() else 0):
        props = torch.cuda.get_device_properties(i)
        gpus.append({"index": i, "name": props.name, "memory_gib": round(props.total_memory / 2 ** 30, 1),
                     "capability": f"{props.major}.{props.minor}", "native_bf16": props.major >= 8})
    flags = sorted(f for f in NATIVE_BF16_FLAGS if f in cpu_flags())
    return {"gpus": gpus, "cpu": {"model": cpu_model(), "cores": cpu_cores(), "bf16_flags": flags,
                                  "native_bf16": bool(flags)}}


def datasets(root: Path) -> dict:
    """data config name -> {"found", "where", "checksums": "official" | "differ: FILE, ..." | None}."""
    from lossbench.data.catalog import CATALOG
    from lossbench.data.files import md5_of

    out = {}
    for name, files in CATALOG.items():
        found = files.find(root)
        if not found:
            out[name] = {"found": False, "where": None, "checksums": None,
                         "looked_in": [str(p) for p in files.candidates(root)]}
            continue
        bad = [path.name for path, md5, decompress in found if md5_of(path, decompress) != md5]
        out[name] = {"found": True, "where": str(found[0][0].parent),
                     "checksums": f"differ: {', '.join(bad)}" if bad else "official"}
    sklearn = _installed("scikit-learn")
    out["digits"] = {"found": sklearn, "where": "inside scikit-learn" if sklearn else None,
                     "checksums": None}
    return out


def slurm(environ) -> dict:
    sbatch = shutil.which("sbatch")
    conf = environ.get("SLURM_CONF") or (SLURM_CONF_DEFAULT if Path(SLURM_CONF_DEFAULT).is_file() else None)
    out = {"sbatch": sbatch, "conf": conf, "controller": None, "note": None}
    if not sbatch:
        out["note"] = "sbatch is not on PATH: --launcher slurm is unavailable (local and inline work)"
        return out
    if conf is None:
        out["note"] = ("sbatch is installed but no slurm.conf was found: set SLURM_CONF to your cluster's "
                       f"slurm.conf (or install one at {SLURM_CONF_DEFAULT})")
        return out
    try:
        ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=5, env=dict(environ))
        answer = " ".join((ping.stdout + ping.stderr).split())
        out["controller"] = "up" if ping.returncode == 0 and "UP" in answer else "down"
        if out["controller"] == "down":
            out["note"] = f"no SLURM controller answers for {conf} ({answer[:160]}): check SLURM_CONF"
    except (OSError, subprocess.TimeoutExpired) as err:
        out["controller"] = "down"
        out["note"] = f"scontrol ping failed ({type(err).__name__}): check SLURM_CONF ({conf})"
    return out


def wandb_facts(environ) -> dict:
    mode = environ.get("WANDB_MODE") or ("disabled" if environ.get("WANDB_DISABLED") == "true" else "online")
    return {"installed": _installed("wandb"), "mode": mode, "api_key": bool(environ.get("WANDB_API_KEY"))
            or "api.wandb.ai" in _read(Path(environ.get("NETRC") or Path.home() / ".netrc"))}


def _installed(dist: str) -> bool:
    try:
        metadata.version(dist)
        return True
    except metadata.PackageNotFoundError:
        return False


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def report(environ, data_root: Path, with_losses: bool) -> dict:
    """Everything doctor says, as the --json output: the binding keys versions, devices,
    precision_auto, threads, datasets, slurm (and losses with --losses), then wandb, problems, ready."""
    from lossbench.hardware import auto_precision
    from lossbench.train import default_threads

    facts = {"versions": versions(), "devices": devices(), "precision_auto": auto_precision("auto"),
             "threads": default_threads({"accelerator": "auto", "devices": 1}), "datasets": datasets(data_root),
             "slurm": slurm(environ), "wandb": wandb_facts(environ)}
    problems = [f"{dist} is not installed (pip install {dist})" for dist in REQUIRED if facts["versions"][dist] is None]
    if not facts["datasets"]["digits"]["found"]:
        problems.append("the default dataset (digits, from scikit-learn) is unavailable")
    if with_losses:
        from lossbench.doctor_losses import check_losses

        facts["losses"] = check_losses(facts["precision_auto"])
        problems += [f"loss {name} is not finite on this device" for name, r in facts["losses"].items()
                     if not r["finite"]]
    return {**facts, "problems": problems, "ready": not problems}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lossbench doctor", description=(
        "Say whether this machine is ready to run lossbench jobs: versions, devices, precision, threads, "
        "datasets, SLURM and W&B. Exit 0 when a default job can run, 1 when something it needs is missing."))
    p.add_argument("--losses", action="store_true", help="also run every shipped loss forward and backward on "
                   "this device and precision against float64 on the CPU (about a minute)")
    p.add_argument("--json", action="store_true", help="print the facts as JSON")
    p.add_argument("--data-root", type=Path, help="where datasets are looked for (default: $LOSSBENCH_DATA, else ./data)")
    return p


def main(args: list[str]) -> int:
    parsed = _parser().parse_args(args)
    root = parsed.data_root or Path(os.environ.get("LOSSBENCH_DATA") or "./data").expanduser()
    facts = report(os.environ, root, parsed.losses)
    if parsed.json:
        print(json.dumps(facts, indent=2))
    else:
        from lossbench.doctor_text import render

        print(render(facts, root))
    if facts["problems"] and not parsed.json:
        print("lossbench: not ready: " + "; ".join(facts["problems"]) + ".", file=sys.stderr)
    return 0 if facts["ready"] else 1
