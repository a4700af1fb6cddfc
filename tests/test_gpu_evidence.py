"""scripts/gpu-evidence.sh, rehearsed on the CPU (--cpu --tiny): the whole pipeline writes a record
of at most 8 files in one folder, with every loss checked, the speed figures, both jobs of the
comparison and the parts that need a GPU skipped with their reason; and a budget that runs out
stops the steps cleanly and is said in the summary, with nothing lost."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

from lossbench.losses import list_losses
from lossbench.paths import group_options

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "gpu-evidence.sh"


def _evidence(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), "--cpu", "--tiny", "--out", str(tmp_path / "out"), "--work",
                           str(tmp_path / "work"), *args], capture_output=True, text=True, timeout=900)


def test_the_cpu_rehearsal_writes_the_whole_record(tmp_path):
    proc = _evidence(tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    files = list((tmp_path / "out").iterdir())
    assert len(files) <= 8 and all(f.is_file() for f in files)
    assert {f.name for f in files} == {"summary.md", "doctor.json", "bench.json", "sweep.json", "log.txt"}
    doctor = json.loads((tmp_path / "out" / "doctor.json").read_text())
    # `lossbench doctor --losses --json`: the binding keys, every shipped loss, each finite here
    assert {"versions", "devices", "precision_auto", "threads", "datasets", "slurm", "losses"} <= set(doctor)
    multiclass = [n for n in group_options("loss") if n in list_losses("multiclass")]
    assert list(doctor["losses"]) == multiclass and all(r["finite"] for r in doctor["losses"].values())
    assert all(set(r) == {"finite", "max_rel_err_value", "max_rel_err_grad"} for r in doctor["losses"].values())
    bench = json.loads((tmp_path / "out" / "bench.json").read_text())
    assert set(bench["train_images_per_s"]) == {"eager fp32", "bf16-mixed", "bf16-mixed + channels_last"}
    assert all(v > 0 for v in bench["train_images_per_s"].values())
    assert "no GPU" in bench["skipped"]["2 jobs per GPU"] and "--tiny" in bench["skipped"][
        "bf16-mixed + channels_last + compile"]
    records = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert [r["status"] for r in records.values()] == ["completed", "completed"]
    assert all(r["last_epoch"] == 1 for r in records.values())  # --smoke: 2 epochs
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "| CE | completed | 2 |" in summary and "| LDAM-DRW | completed | 2 |" in summary
    assert "published: +6.67" in summary and "nothing: every step finished" in summary
    assert f"{len(doctor['losses'])} losses forward and backward" in summary


def test_a_budget_that_runs_out_stops_the_steps_and_says_so(tmp_path):
    proc = _evidence(tmp_path, "--budget", "21")  # 1 s after the 20 s kept for the summary
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = (tmp_path / "out" / "summary.md").read_text()
    unfinished = summary.split("## Not finished", 1)[1]
    assert "doctor --losses did not finish" in unfinished
    records = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert all(r is None or r["status"] in ("interrupted", "completed") for r in records.values())
    assert "[stopped: the budget ran out" in (tmp_path / "out" / "log.txt").read_text()
