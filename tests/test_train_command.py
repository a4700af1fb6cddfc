"""The `train` command as a function: `lossbench.cli.main(["train", ...])` keeps no state from one
call to the next and gives the caller its sys.argv back; checkpoint keys that would silently train
from scratch are refused with a pointer to `resume`."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO, results_under, run_cli

ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

# Run in a fresh interpreter: the calls share one process with each other, not with pytest.
IN_PROCESS = """
import json, sys
from lossbench.cli import main
sys.argv = ["caller", "--caller-flag"]
calls = [["train", "trainer=smoke", "data=synthetic"],
         ["train", "trainer=smoke", "data=synthetic", "optimizer.lr=-1"],
         ["train", "trainer=smoke", "data=synthetic", "seed=1"],
         ["train", "-m", "loss=ce,focal", "trainer=smoke", "data=synthetic"]]
out = []
for args in calls:
    code = main(args)
    out.append({"code": code, "argv": list(sys.argv)})
print("CALLS=" + json.dumps(out))
"""


@pytest.mark.slow
def test_main_called_again_in_one_process_starts_afresh(runs_root):
    env = {**os.environ, **ONE_THREAD, "LOSSBENCH_RUNS": str(runs_root),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-c", IN_PROCESS], cwd=runs_root, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (line,) = [x for x in proc.stdout.splitlines() if x.startswith("CALLS=")]
    calls = json.loads(line[len("CALLS="):])
    # A failed job (lr=-1: a config error) answers 2, and the calls after it answer for themselves.
    assert [c["code"] for c in calls] == [0, 2, 0, 0]
    assert all(c["argv"] == ["caller", "--caller-flag"] for c in calls)
    results = results_under(runs_root)
    assert len({r["run_dir"] for r in results}) == 5
    assert sorted((r["loss"], r["seed"], r["status"]) for r in results) == [
        ("ce", 0, "completed"), ("ce", 0, "completed"), ("ce", 0, "failed"), ("ce", 1, "completed"),
        ("focal", 0, "completed")]


@pytest.mark.parametrize("override", ["ckpt_path=last.ckpt", "+ckpt_path=last.ckpt", "++trainer.ckpt_path=x.ckpt"])
def test_checkpoint_path_is_refused_with_a_pointer_to_resume(override, runs_root):
    proc = run_cli(["train", "trainer=smoke", "data=synthetic", override], runs_root, env=ONE_THREAD)
    assert proc.returncode == 2
    assert "is not a lossbench key" in proc.stderr and "resume=never" in proc.stderr
    assert "hydra.run.dir=DIR" in proc.stderr  # how to resume instead
    assert "Traceback" not in proc.stderr
    assert not any(runs_root.iterdir())  # refused before anything ran
