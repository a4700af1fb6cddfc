"""docs/YOUR_LOSS.md, run as written: its files are written into a temporary folder and each of its
commands runs there, in order, as a user would type them (`export` sets the environment of the
next commands; `pip install` gets `--target` a folder of its own, which joins PYTHONPATH, so that
the test's environment is never changed). Each command must exit 0; what each step must show is
asserted after it."""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, run_cli

DOC = REPO / "docs" / "YOUR_LOSS.md"


def _blocks(text: str) -> list[tuple[str, str]]:
    return re.findall(r"```(\w+)\n(.*?)```", text, re.S)


def test_every_file_and_command_of_the_guide_works(tmp_path):
    env = {"PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    site = tmp_path / "site"
    outputs = []
    for lang, body in _blocks(DOC.read_text()):
        first, _, rest = body.partition("\n")
        if match := re.match(r"# file: (\S+)$", first):
            path = tmp_path / match.group(1)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(rest)
            continue
        assert lang == "bash", f"a {lang} block names no file: {first!r}"
        for line in filter(None, (line.strip() for line in body.splitlines())):
            words = shlex.split(line.replace("$PWD", str(tmp_path)))
            if words[0] == "export":
                key, value = words[1].split("=", 1)
                env[key] = value
            elif words[:2] == ["pip", "install"]:
                done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                                       "--no-build-isolation", "--target", str(site), *words[2:]], cwd=tmp_path,
                                      capture_output=True, text=True, timeout=300)
                assert done.returncode == 0, done.stderr[-2000:]
                env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env["PYTHONPATH"]]))
            else:
                assert words[0] == "lossbench", line
                proc = run_cli(words[1:], tmp_path / "runs", cwd=tmp_path, env=env)
                assert proc.returncode == 0, f"{line}\n{proc.stderr[-3000:]}"
                outputs.append((line, proc.stdout))

    records = [json.loads(p.read_text()) for p in sorted((tmp_path / "runs").rglob("results.json"))]
    by_loss = {}
    for record in records:
        by_loss.setdefault(record["loss"], []).append(record)
    # by path (twice: section 2 and the plugin of section 4 name the same class), the subclass, the -cd config
    assert set(by_loss) == {"mypkg.losses:TemperedCE", "mypkg.balanced:PriorShiftedCE", "tempered"}
    assert all(r["status"] == "completed" for r in records), [r.get("error") for r in records]
    # the overrides as composed: loss=PATH becomes the `external` config naming the class (losses/external.py)
    by_path = next(r for r in by_loss["mypkg.losses:TemperedCE"] if "+loss.t=3" in r["overrides"])
    assert by_path["overrides"][:2] == ["loss=external", "loss._target_=mypkg.losses.TemperedCE"]
    config = (Path(by_path["run_dir"]) / "config.yaml").read_text()
    assert "_target_: mypkg.losses.TemperedCE" in config and "t: 3" in config
    plugin = next(r for r in by_loss["mypkg.losses:TemperedCE"] if "+loss.t=2" in r["overrides"])
    assert "t: 2" in (Path(plugin["run_dir"]) / "config.yaml").read_text()
    (shifted,) = by_loss["mypkg.balanced:PriorShiftedCE"]
    assert "reweight: class_balanced" in (Path(shifted["run_dir"]) / "config.yaml").read_text()

    listed = next(out for line, out in outputs if line == "lossbench list losses")
    assert re.search(r"^tempered_ce +Cross-entropy of the logits divided by a temperature t\. "
                     r"\(plugin mypkg\.losses:TemperedCE\)  \[t=1\.0\]$", listed, re.M)
    sweep = [json.loads(p.read_text()) for p in sorted((tmp_path / "sweeps" / "mine").glob("*/results.json"))]
    assert sorted({r["sweep"]["method"] for r in sweep}) == ["ce", "focal", "tempered t=3"] and len(sweep) == 6
    assert "| tempered t=3 |" in (tmp_path / "sweeps" / "mine" / "report.md").read_text()
    stats = (tmp_path / "sweeps" / "mine" / "report_stats.csv").read_text()
    assert "digits_lt rho=10,tempered t=3,ce,final,test_acc,2," in stats
    smoke = tmp_path / "sweeps" / "ldam-smoke"
    published = (smoke / "report.md").read_text().split("### Published numbers beside ours")[1].split("\n### ")[0]
    assert "| Mine |" in published and "| CE |" in published
    assert json.loads((smoke / "sweep.json").read_text())["added_methods"] == {
        "Mine": ["loss=mypkg.losses:TemperedCE", "loss.t=3"]}


def test_reweighting_a_plain_loss_is_refused_in_one_paragraph(tmp_path):
    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "losses.py").write_text("import torch.nn.functional as F\nfrom torch import nn\n\n\n"
                                   "class TemperedCE(nn.Module):\n    def __init__(self, t=1.0):\n"
                                   "        super().__init__()\n        self.t = t\n\n"
                                   "    def forward(self, z, y):\n        return F.cross_entropy(z / self.t, y)\n")
    proc = run_cli(["train", "loss=mypkg.losses:TemperedCE", "loss.reweight=class_balanced", "trainer=smoke",
                    "data=synthetic"], tmp_path / "runs", cwd=tmp_path, env={"PYTHONPATH": str(tmp_path)})
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("lossbench:")]
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "loss=mypkg.losses:TemperedCE" in lines[0] and "re-weighting needs the loss of each sample" in lines[0]
    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "runs").rglob("results.json")]
    assert record["error_type"] == "config" and record["loss"] == "mypkg.losses:TemperedCE"
