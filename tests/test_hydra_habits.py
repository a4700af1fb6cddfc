"""What Hydra and Lightning users do, and what lossbench answers: their own config dirs, Hydra's
own flags, `+` keys that nothing would read, the debug and callbacks groups, and --help / list."""
from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
import yaml

from lossbench.cli import LIST_GROUPS, main
from lossbench.paths import CONF_DIR, EXPERIMENTS_DIR
from tests.conftest import results_under, run_cli

MYFOCAL = "defaults:\n  - focal\n  - _self_\ngamma: 3.0\n"


@pytest.fixture
def user_conf(tmp_path) -> Path:
    """A user's own config dir with loss/myfocal.yaml (focal at gamma 3), as `-cd` takes it."""
    (tmp_path / "myconf" / "loss").mkdir(parents=True)
    (tmp_path / "myconf" / "loss" / "myfocal.yaml").write_text(MYFOCAL)
    return tmp_path / "myconf"


def test_config_dir_with_the_users_own_loss_trains_it_under_debug_fdr(runs_root, user_conf):
    proc = run_cli(["train", "-cd", str(user_conf), "loss=myfocal", "debug=fdr", "data=synthetic", "trainer=cpu"],
                   runs_root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (res,) = results_under(runs_root)
    assert res["status"] == "completed" and res["loss"] == "myfocal"
    run_dir = Path(res["run_dir"])
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["loss"]["gamma"] == 3.0 and config["loss"]["_target_"] == "lossbench.losses.FocalLoss"
    # debug=fdr: one epoch, and every output kept on (unlike Lightning's fast_dev_run)
    with open(run_dir / "metrics.csv") as f:
        assert [row["epoch"] for row in csv.DictReader(f)] == ["0"]
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert res["final"]["epoch"] == 0


def test_searchpath_addition_finds_the_users_loss(runs_root, user_conf):
    proc = run_cli(["train", f"hydra.searchpath=[file://{user_conf}]", "loss=myfocal", "--cfg", "job"], runs_root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert yaml.safe_load(proc.stdout)["loss"]["gamma"] == 3.0


def test_config_dir_that_does_not_exist_is_named(runs_root, tmp_path):
    proc = run_cli(["train", "-cd", str(tmp_path / "nope"), "loss=ce"], runs_root)
    assert proc.returncode == 2 and "--config-dir" in proc.stderr and "no such directory" in proc.stderr


def test_shell_completion_install_passes_the_check(runs_root):
    proc = run_cli(["train", "-sc", "install=bash"], runs_root)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "complete -o nospace" in proc.stdout and "not a config key" not in proc.stderr


def test_info_shows_the_search_path_with_the_config_dir(runs_root, user_conf):
    proc = run_cli(["train", "--info", "searchpath", "-cd", str(user_conf)], runs_root)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"file://{user_conf}" in proc.stdout


@pytest.mark.parametrize("args,words", [
    (["+experiment=demo"], ["lossbench sweep", "experiment"]),
    (["experiment=demo"], ["lossbench sweep"]),
    (["+debug=fdr"], ["debug=fdr", "without '+'"]),
    (["+foo=1"], ["'foo'", "nothing in lossbench reads"]),
    (["+seeds=3"], ["'seeds'", "Did you mean 'seed'?"]),
    (["+trainer.callbacks=[x]"], ["callbacks group", "+callbacks.NAME._target_"]),
    (["+trainer.logger=x"], ["logger group", "logger=[tensorboard,wandb]"]),
])
def test_keys_nothing_reads_are_rejected(runs_root, args, words):
    proc = run_cli(["train", *args], runs_root)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    for word in words:
        assert word in proc.stderr, (word, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert not any(runs_root.iterdir()), "a rejected command creates no run directory"


def test_train_help_names_groups_but_not_internal_ones_and_says_what_experiment_is(runs_root):
    proc = run_cli(["train", "--help"], runs_root)
    assert proc.returncode == 0
    assert "loss_options" not in proc.stdout
    assert "debug: fdr, limit, overfit, profiler" in proc.stdout
    assert "callbacks: early_stopping" in proc.stdout
    assert re.search(r"experiment= .* is `lossbench sweep NAME`", proc.stdout)


def test_list_offers_no_internal_group():
    assert "loss_options" not in LIST_GROUPS and "loss_options" not in LIST_GROUPS.values()


@pytest.mark.parametrize("group", sorted(set(LIST_GROUPS.values())))
def test_list_descriptions_are_whole_sentences(group, capsys):
    assert main(["list", group]) == 0
    lines = capsys.readouterr().out.splitlines()
    folder = EXPERIMENTS_DIR if group == "experiments" else CONF_DIR / group
    for line in lines:
        name = line.split()[0]
        text = line.split(None, 1)[1].split("  [")[0].split("  needs:")[0].split("  task:")[0]  # losses add parameters
        assert re.search(r"[.?!)]$", text), f"{folder}/{name}.yaml: description cut off: {text!r}"
        assert not text.startswith("@package")


def test_list_joins_a_description_that_wraps_over_comment_lines(capsys):
    main(["list", "trainers"])
    smoke = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("smoke "))
    assert smoke.endswith("so a smoke run exercises the whole output path.")


def test_callbacks_compose_as_a_list():
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=["callbacks=[early_stopping,model_summary]"])
    assert sorted(cfg.callbacks) == ["early_stopping", "model_summary"]
    assert cfg.callbacks.early_stopping.monitor == "val_acc"  # the selection metric


def test_a_users_callback_from_the_command_line_runs(tmp_path):
    from lossbench.train import run_in_process

    # Early stopping that counts no epoch as an improvement after the first (min_delta 1.0 on an
    # accuracy): with patience 1 the run stops after its second epoch of five.
    res = run_in_process(["data=synthetic", "trainer=cpu", "trainer.max_epochs=5", "trainer.enable_progress_bar=false",
                          "+callbacks.stop._target_=lightning.pytorch.callbacks.EarlyStopping",
                          "+callbacks.stop.monitor=val_acc", "+callbacks.stop.mode=max",
                          "+callbacks.stop.patience=1", "+callbacks.stop.min_delta=1.0"], tmp_path / "job")
    assert res["status"] == "completed", res.get("error")
    assert res["last_epoch"] == 1 and res["final"]["epoch"] == 1


def test_a_callback_without_target_is_a_config_error(tmp_path):
    from lossbench.train import run_in_process

    res = run_in_process(["data=synthetic", "trainer=smoke", "+callbacks.stop.patience=1"], tmp_path / "job")
    assert res["status"] == "failed" and res["error_type"] == "config"
    assert "callbacks.stop" in res["error"] and "_target_" in res["error"]


def test_debug_profiler_writes_its_report_into_the_run_directory(tmp_path):
    from lossbench.train import run_in_process

    res = run_in_process(["data=synthetic", "trainer=smoke", "debug=profiler",
                          "trainer.enable_progress_bar=false"], tmp_path / "job")
    assert res["status"] == "completed", res.get("error")
    report = tmp_path / "job" / "fit-profile.txt"
    assert report.is_file() and "run_training_epoch" in report.read_text()


def test_every_option_of_a_swept_group_is_checked_before_any_job_runs(runs_root):
    """`loss=focal,ce loss.gamma=2`: gamma exists for focal only; the ce jobs would fail in Hydra's
    words after the focal ones ran. The pre-run check composes each swept option."""
    proc = run_cli(["train", "-m", "loss=focal,ce", "loss.gamma=2", "trainer=smoke", "data=synthetic"], runs_root)
    assert proc.returncode == 2
    assert "with loss=ce: 'loss.gamma' is not a config key" in proc.stderr and "Traceback" not in proc.stderr
    assert not list(runs_root.rglob("results.json"))  # nothing ran
