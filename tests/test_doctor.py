"""`lossbench doctor`: the facts it reports are this machine's (checked against torch, importlib
and hardware.py), datasets are found with their checksum status, a missing SLURM config or a
missing required package is named, and the exit code says whether a default job can run."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from importlib import metadata
from pathlib import Path

import torch

from lossbench import doctor
from lossbench.data import catalog
from lossbench.hardware import auto_precision, cpu_cores
from tests.conftest import run_cli

BINDING_KEYS = {"versions", "devices", "precision_auto", "threads", "datasets", "slurm"}


def _fake_cifar10(root: Path) -> dict[str, str]:
    """CIFAR-10's file names with made-up bytes: file name -> the MD5 of its bytes."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    sums = {}
    for i, name in enumerate(catalog.CIFAR10.md5):
        data = f"not cifar {i}".encode()
        (folder / name).write_bytes(data)
        sums[name] = hashlib.md5(data).hexdigest()
    return sums


def test_doctor_json_reports_this_machine(tmp_path):
    _fake_cifar10(tmp_path / "data")
    proc = run_cli(["doctor", "--json", "--data-root", str(tmp_path / "data")], tmp_path)
    assert proc.returncode == 0, proc.stderr
    facts = json.loads(proc.stdout)
    assert BINDING_KEYS <= set(facts) and "losses" not in facts
    assert facts["versions"]["torch"] == torch.__version__
    assert facts["versions"]["hydra-core"] == metadata.version("hydra-core")
    assert facts["precision_auto"] == auto_precision("auto")
    assert facts["threads"] == cpu_cores()
    assert facts["devices"]["cpu"]["cores"] == cpu_cores()
    assert len(facts["devices"]["gpus"]) == (torch.cuda.device_count() if torch.cuda.is_available() else 0)
    cifar = facts["datasets"]["cifar10"]
    assert cifar["found"] and cifar["where"] == str(tmp_path / "data" / "cifar-10-batches-py")
    assert cifar["checksums"] == "differ: " + ", ".join(catalog.CIFAR10.md5)  # not the official bytes
    assert not facts["datasets"]["cifar100"]["found"]
    assert facts["datasets"]["digits"]["found"] and facts["ready"] and facts["problems"] == []


def test_doctor_text_names_what_auto_resolves_to(tmp_path):
    proc = run_cli(["doctor", "--data-root", str(tmp_path)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"trainer.precision=auto -> {auto_precision('auto')}" in proc.stdout
    assert f"trainer.threads=null -> {cpu_cores()}" in proc.stdout
    assert "ready: yes" in proc.stdout


def test_official_checksums_are_said_to_be_official(tmp_path, monkeypatch):
    sums = _fake_cifar10(tmp_path)
    monkeypatch.setitem(catalog.CATALOG, "cifar10", dataclasses.replace(catalog.CIFAR10, md5=sums))
    assert doctor.datasets(tmp_path)["cifar10"]["checksums"] == "official"


def _on_path(tmp_path: Path, **programs: str) -> dict:
    """An environment whose PATH holds only these shell scripts (name -> body)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, body in programs.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    return {"PATH": str(bin_dir)}


def test_no_sbatch_means_no_slurm_launcher(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", _on_path(tmp_path)["PATH"])
    facts = doctor.slurm({})
    assert facts["sbatch"] is None and "not on PATH" in facts["note"]


def test_sbatch_without_a_slurm_conf_says_to_set_slurm_conf(tmp_path, monkeypatch):
    env = _on_path(tmp_path, sbatch="exit 0")
    monkeypatch.setenv("PATH", env["PATH"])
    monkeypatch.setattr(doctor, "SLURM_CONF_DEFAULT", str(tmp_path / "no-such" / "slurm.conf"))
    facts = doctor.slurm(env)
    assert facts["sbatch"] == str(tmp_path / "bin" / "sbatch") and facts["conf"] is None
    assert "set SLURM_CONF" in facts["note"]


def test_a_missing_required_package_is_a_problem_and_exit_code_1(tmp_path, monkeypatch, capsys):
    real = metadata.version

    def version(dist):
        if dist == "omegaconf":
            raise metadata.PackageNotFoundError(dist)
        return real(dist)

    monkeypatch.setattr(metadata, "version", version)
    assert doctor.main(["--data-root", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert "omegaconf MISSING" in out
    assert err.startswith("lossbench: not ready: omegaconf is not installed (pip install omegaconf)")


def test_wandb_mode_follows_the_environment():
    assert doctor.wandb_facts({"WANDB_MODE": "offline", "NETRC": os.devnull})["mode"] == "offline"
    assert doctor.wandb_facts({"WANDB_API_KEY": "x" * 40})["api_key"] is True
