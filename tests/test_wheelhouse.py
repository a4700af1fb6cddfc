"""`make wheelhouse` and scripts/offline-install.sh, end to end: on a Python that has only what a
GPU image has (torch, lightning, torchmetrics, numpy, scikit-learn, scipy, matplotlib, pillow, rich,
tensorboard, and what those require, here linked from this environment), the wheelhouse installed
without an index is all `lossbench train` and `lossbench doctor` need; wandb is left out and not
missed. scripts/wheelhouse.py downloads from PyPI, as `make wheelhouse` does."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import default_environment

ROOT = Path(__file__).resolve().parent.parent
IMAGE_HAS = ("scikit-learn", "scipy", "matplotlib", "pillow", "rich", "tensorboard")


def _wheelhouse_module():
    spec = importlib.util.spec_from_file_location("wheelhouse", ROOT / "scripts" / "wheelhouse.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _link_distributions(names: set[str], into: Path) -> None:
    """Symbolic links in `into` to the top-level files and folders of each installed distribution."""
    into.mkdir(parents=True)
    for name in names:
        dist = metadata.distribution(name)
        for top in {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}:
            source = Path(dist.locate_file(top))
            if source.exists() and not (into / top).exists():
                (into / top).symlink_to(source)


@pytest.fixture(scope="module")
def image_python(tmp_path_factory) -> Path:
    """A venv whose only packages are the base set, linked from this environment."""
    wheelhouse = _wheelhouse_module()
    tmp = tmp_path_factory.mktemp("image")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp / "venv")], check=True)
    env = {**default_environment(), "python_version": f"{sys.version_info[0]}.{sys.version_info[1]}"}
    base = wheelhouse.closure([(n, set()) for n in (*wheelhouse.BASE, *IMAGE_HAS)], env)
    _link_distributions(base, tmp / "base")
    site = next((tmp / "venv" / "lib").glob("python3*/site-packages"))
    (site / "base.pth").write_text(str(tmp / "base") + "\n")
    return tmp / "venv" / "bin" / "python"


def test_a_wheelhouse_installed_offline_runs_lossbench(image_python, tmp_path):
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    made = subprocess.run([sys.executable, str(ROOT / "scripts" / "wheelhouse.py"), str(tmp_path / "wh"), "--python",
                           version, "--without", ",".join(IMAGE_HAS)], capture_output=True, text=True, timeout=600)
    assert made.returncode == 0, made.stdout + made.stderr
    wheels = sorted(p.name.split("-")[0].lower() for p in (tmp_path / "wh").glob("*.whl"))
    assert {"hydra_core", "omegaconf", "antlr4_python3_runtime", "submitit", "lossbench"} <= set(wheels)
    assert not {"torch", "lightning", "torchmetrics", "numpy", "wandb", "scipy"} & set(wheels)

    installed = subprocess.run(["bash", str(ROOT / "scripts" / "offline-install.sh"), str(tmp_path / "wh"),
                                str(tmp_path / "site")], capture_output=True, text=True, timeout=300,
                               env={**os.environ, "PYTHON": sys.executable}, cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr
    last = installed.stdout.strip().splitlines()[-1]
    assert last.startswith(f"export PYTHONPATH={tmp_path / 'site'}")

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(PYTHONPATH=str(tmp_path / "site"), LOSSBENCH_RUNS=str(tmp_path / "runs"), OMP_NUM_THREADS="1")
    where = subprocess.run([str(image_python), "-c", "import lossbench, importlib.util as u; "
                            "print(lossbench.__file__, u.find_spec('wandb'))"], capture_output=True, text=True,
                           env=env, cwd=tmp_path)
    assert where.stdout.split() == [str(tmp_path / "site" / "lossbench" / "__init__.py"), "None"], where.stderr
    doctor = subprocess.run([str(image_python), "-m", "lossbench", "doctor", "--json"], capture_output=True,
                            text=True, env=env, cwd=tmp_path, timeout=120)
    facts = json.loads(doctor.stdout)
    assert doctor.returncode == 0 and facts["ready"], doctor.stderr
    assert facts["versions"]["wandb"] is None and facts["versions"]["hydra-core"] == metadata.version("hydra-core")
    train = subprocess.run([str(image_python), "-m", "lossbench", "train", "trainer=smoke", "data=synthetic"],
                           capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert train.returncode == 0, train.stderr[-3000:]
    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "runs").rglob("results.json")]
    assert record["status"] == "completed"
