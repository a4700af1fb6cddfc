"""Download, on a machine with network, the wheels that lossbench needs on a machine that has only
torch, lightning and torchmetrics (and numpy) and no network: `make wheelhouse` runs it.

    python scripts/wheelhouse.py [DIR] [--python 3.12] [--with-wandb] [--without NAME,...]

What goes in: lossbench's own wheel, and every distribution that lossbench[cluster] (and wandb with
--with-wandb) requires, transitively, except torch, torchvision, lightning, torchmetrics, numpy and
what they require (the target has those), and except the --without names (what the target has too;
e.g. a CUDA image with scikit-learn, scipy and matplotlib). Versions are the ones installed in this
environment (the tested ones, constraints.txt); requirement markers are evaluated for the target's
Python. Binary wheels are fetched for manylinux x86_64 and that Python; a distribution published
only as an sdist (antlr4-python3-runtime) is built into a wheel here. DIR (default wheelhouse/) ends
up with the .whl files and requirements.txt naming them; scripts/offline-install.sh installs them.
Run it with the environment's python (.venv/bin/python), whose installed versions it reads.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
BASE = ("torch", "torchvision", "lightning", "torchmetrics", "numpy")  # what the target already has
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_24_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements(dist: str, extras: set[str], env: dict) -> list[tuple[str, set[str]]]:
    """(name, extras) of what `dist` with `extras` requires under the marker environment `env`."""
    out = []
    for text in metadata.requires(dist) or []:
        req = Requirement(text)
        if req.marker is None or any(req.marker.evaluate({**env, "extra": e}) for e in (extras or {""})):
            out.append((canonical(req.name), set(req.extras)))
    return out


def closure(roots: list[tuple[str, set[str]]], env: dict) -> set[str]:
    """Every installed distribution reachable from `roots` (names canonical)."""
    seen: set[tuple[str, frozenset]] = set()
    names: set[str] = set()
    todo = list(roots)
    while todo:
        name, extras = todo.pop()
        if (name, frozenset(extras)) in seen:
            continue
        seen.add((name, frozenset(extras)))
        try:
            metadata.version(name)
        except metadata.PackageNotFoundError:
            continue  # a marker-dependent requirement not installed here (another OS or Python)
        names.add(name)
        todo += _requirements(name, extras, env)
    return names


def _pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
                          capture_output=True, text=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dir", nargs="?", type=Path, default=ROOT / "wheelhouse")
    p.add_argument("--python", default="3.12", help="the target machine's Python version (default 3.12)")
    p.add_argument("--with-wandb", action="store_true", help="add wandb (logger=wandb) and what it requires")
    p.add_argument("--without", action="append", default=[], metavar="NAME,...",
                   help="distributions the target already has, and so what they require (comma-separated, repeatable)")
    args = p.parse_args()
    env = {**default_environment(), "python_version": args.python, "python_full_version": f"{args.python}.0"}
    wanted = closure([("lossbench", {"cluster", *(["wandb"] if args.with_wandb else [])})], env)
    have = [*BASE, *(canonical(n) for text in args.without for n in text.split(",") if n.strip())]
    skipped = closure([(name, set()) for name in have], env)  # what the target has, with what those require
    pins = sorted(f"{name}=={metadata.version(name)}" for name in wanted - skipped - {"lossbench"})
    args.dir.mkdir(parents=True, exist_ok=True)
    platforms = [a for plat in PLATFORMS for a in ("--platform", plat)]
    failed = []
    for pin in pins:
        got = _pip("download", "-q", "--no-deps", "--only-binary=:all:", "--python-version", args.python,
                   "--implementation", "cp", *platforms, "-d", str(args.dir), pin)
        if got.returncode != 0:  # published as an sdist only: build it here (pure Python)
            got = _pip("wheel", "-q", "--no-deps", "--no-binary=:all:", "-w", str(args.dir), pin)
        if got.returncode != 0:
            failed.append(f"{pin}: {got.stderr.strip().splitlines()[-1] if got.stderr.strip() else 'failed'}")
        print(f"  {pin}: {'ok' if got.returncode == 0 else 'FAILED'}", flush=True)
    built = _pip("wheel", "-q", "--no-deps", "-w", str(args.dir), str(ROOT))
    if built.returncode != 0:
        failed.append(f"lossbench: {built.stderr.strip()[-300:]}")
    (args.dir / "requirements.txt").write_text("\n".join([f"lossbench=={metadata.version('lossbench')}", *pins]) + "\n")
    if failed:
        print("wheelhouse: could not get: " + "; ".join(failed), file=sys.stderr)
        return 1
    size = sum(f.stat().st_size for f in args.dir.glob("*.whl")) / 2 ** 20
    print(f"wheelhouse: {len(pins) + 1} wheels for Python {args.python} in {args.dir} ({size:.1f} MiB); install "
          f"them on the target with scripts/offline-install.sh {args.dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
