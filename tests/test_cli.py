"""The `lossbench` command: help, dispatch, `list`, and bad input."""
from __future__ import annotations

import subprocess
import sys

import pytest

from lossbench.cli import LIST_GROUPS, main
from lossbench.paths import CONF_DIR, EXPERIMENTS_DIR, INTERNAL_OPTIONS, group_options
from tests.conftest import run_cli


def test_help_imports_nothing_heavy():
    # --help must answer at once: the CLI imports torch, lightning and hydra only when a command needs them.
    code = ("import sys; from lossbench.cli import main; rc = main(['--help']); "
            "heavy = [m for m in ('torch', 'lightning', 'hydra', 'omegaconf') if m in sys.modules]; "
            "assert rc == 0 and not heavy, heavy")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "usage: lossbench" in proc.stdout and "train" in proc.stdout


def test_python_dash_m_is_the_same_command(tmp_path):
    via_module = subprocess.run([sys.executable, "-m", "lossbench", "--help"], capture_output=True, text=True)
    assert via_module.returncode == 0
    assert via_module.stdout.startswith("usage: lossbench <command>")


@pytest.mark.parametrize("group", sorted(set(LIST_GROUPS.values())))
def test_list_prints_every_option_with_a_description(group, capsys):
    assert main(["list", group]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    folder = EXPERIMENTS_DIR if group == "experiments" else CONF_DIR / group
    internal = set(INTERNAL_OPTIONS.get(group, ()))  # loss=external: what loss=pkg.module:Name becomes
    names = sorted(p.stem for p in folder.glob("*.yaml") if p.stem not in internal)
    assert [line.split()[0] for line in lines] == names
    assert all(len(line.split(None, 1)) == 2 for line in lines), "every option has a one-line description"


def test_list_losses_shows_parameters_with_defaults(capsys):
    main(["list", "losses"])
    lines = capsys.readouterr().out.splitlines()
    focal = next(line for line in lines if line.startswith("focal "))
    assert "gamma=2.0" in focal and "needs" not in focal


def test_list_losses_shows_what_each_loss_needs_beyond_logits(capsys):
    main(["list", "losses"])
    needs = {line.split()[0]: line.split("needs: ")[1] for line in capsys.readouterr().out.splitlines()
             if "needs: " in line}
    assert needs == {"ib": "features", "ib_focal": "features", "elr": "indices", "anl_ce": "model"}


def test_unknown_command_suggests_the_closest(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["trian"])
    assert exc.value.code == 2
    assert "Did you mean 'train'?" in capsys.readouterr().err


def test_misspelled_group_option_lists_options_and_closest(runs_root):
    proc = run_cli(["train", "loss=focall"], runs_root)
    assert proc.returncode == 2
    assert "Did you mean 'focal'?" in proc.stderr
    for option in group_options("loss"):
        assert option in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not any(runs_root.iterdir()), "a rejected command creates no run directory"


def test_misspelled_option_inside_a_sweep_is_caught(runs_root):
    proc = run_cli(["train", "-m", "loss=ce,focl"], runs_root)
    assert proc.returncode == 2 and "Did you mean 'focal'?" in proc.stderr


def test_unknown_key_suggests_the_closest(runs_root):
    proc = run_cli(["train", "loss=focal", "loss.gama=1"], runs_root)
    assert proc.returncode == 2
    assert "Did you mean 'loss.gamma'?" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_out_of_range_value_fails_before_data_and_says_why(runs_root):
    proc = run_cli(["train", "loss=focal", "loss.gamma=-1"], runs_root)
    assert proc.returncode == 2
    assert "gamma=-1" in proc.stderr and "[0, inf)" in proc.stderr
    assert "Traceback" not in proc.stderr
    import json

    (results_path,) = runs_root.rglob("results.json")
    results = json.loads(results_path.read_text())
    assert results["status"] == "failed" and "gamma" in results["error"]
    assert "class_counts" not in results, "rejected before any data was loaded"
