"""`lossbench sweep NAME --method 'Mine=[...]'`: a method added to a shipped comparison runs under the
sweep's recipe, is recorded in sweep.json (so --status, a re-run and the report know it without the
flag), and the report sets it beside the paper's rows and lossbench's own CE."""
from __future__ import annotations

import json

import pytest

from lossbench import sweep
from lossbench.errors import UsageError
from lossbench.sweep.spec import load_experiment, parse_method_option


@pytest.mark.parametrize("text,expected", [
    ("Mine=[loss=mypkg.losses:MyLoss,loss.t=3]", ("Mine", ["loss=mypkg.losses:MyLoss", "loss.t=3"])),
    ("ms=[scheduler=multistep, scheduler.milestones=[1,2], loss=ce]",
     ("ms", ["scheduler=multistep", "scheduler.milestones=[1,2]", "loss=ce"])),
])
def test_the_method_option_is_a_name_and_its_overrides(text, expected):
    assert parse_method_option(text) == expected


@pytest.mark.parametrize("text", ["Mine", "Mine=loss=ce", "=[loss=ce]", "Mine=[]", "Mine=[focal]"])
def test_a_malformed_method_option_says_the_form(text):
    with pytest.raises(UsageError, match=r"NAME=\[override|each entry"):
        parse_method_option(text)


def test_a_name_the_sweep_has_is_refused_naming_the_existing_method():
    exp = load_experiment("ldam_drw_cifar_lt")
    with pytest.raises(UsageError, match=r"already has a method named 'CE' \(loss=ce\)"):
        exp.with_methods({"CE": ["loss=focal"]})


def test_an_added_method_runs_is_recorded_and_is_reported_beside_the_papers_rows(tmp_path, capsys):
    exp = load_experiment("ldam_drw_cifar_lt")
    settings = exp.smoke_settings
    out = tmp_path / "s"
    args = ["ldam_drw_cifar_lt", "--smoke", "--dir", str(out), "--methods", "CE,Mine",
            "--method", "Mine=[loss=focal,loss.gamma=1.0]"]
    assert sweep.main(args) == 0, capsys.readouterr().err
    info = json.loads((out / "sweep.json").read_text())
    assert info["added_methods"] == {"Mine": ["loss=focal", "loss.gamma=1.0"]}
    assert all("Mine" in block["unpublished"] for block in info["expected"])
    records = {p.parent.name: json.loads(p.read_text()) for p in out.glob("*/results.json")}
    mine = [r for r in records.values() if r["sweep"]["method"] == "Mine"]
    assert sorted(r["sweep"]["setting"] for r in mine) == sorted(settings) and {r["loss"] for r in mine} == {"focal"}
    for record in mine:  # the sweep's recipe, as CE's job of the same setting has it
        ce = next(r for r in records.values() if r["sweep"]["method"] == "CE"
                  and r["sweep"]["setting"] == record["sweep"]["setting"])
        recipe = [o for o in ce["sweep"]["overrides"] if not o.startswith(("loss", "seed", "model.classifier"))]
        assert recipe == [o for o in record["sweep"]["overrides"]
                          if not o.startswith(("loss", "seed", "model.classifier"))]
    report = (out / "report.md").read_text()
    published = report.split("### Published numbers beside ours")[1].split("\n### ")[0]
    assert "| Mine |" in published and "| CE |" in published
    stats = (out / "report_stats.csv").read_text()
    assert all(f"{setting},Mine,CE,final,test_acc," in stats for setting in settings)

    capsys.readouterr()
    # --status and a re-run know the added method from sweep.json, without the flag
    assert sweep.main(["ldam_drw_cifar_lt", "--smoke", "--dir", str(out), "--methods", "CE,Mine", "--status"]) == 0
    status = capsys.readouterr().out
    assert "__Mine__seed" in status and f"{2 * len(settings)} done" in status
    assert sweep.main(["ldam_drw_cifar_lt", "--smoke", "--dir", str(out), "--methods", "CE,Mine", "--no-report"]) == 0
    assert capsys.readouterr().out.count("done before, skipped") == 2 * len(settings)
