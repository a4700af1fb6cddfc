"""`lossbench train -m` through Hydra's launcher plugins (the `cluster` extra): joblib and
submitit_local run the same jobs as the basic launcher, to the same numbers; the end-of-multirun
table is read from the jobs' results.json; a failed job makes the command fail under every launcher
and is listed in the table. Every subprocess runs with one OpenMP thread (2 shared cores)."""
from __future__ import annotations

import os

import pytest

from tests.conftest import results_under, run_cli, run_table

pytest.importorskip("hydra_plugins.hydra_joblib_launcher", reason="the `cluster` extra: pip install -e '.[cluster]'")
pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="the `cluster` extra: pip install -e '.[cluster]'")

pytestmark = pytest.mark.slow

ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
TWO_LOSSES = ["train", "-m", "loss=ce,focal", "trainer=smoke", "data=synthetic"]
SCALARS = ("test_acc", "test_balanced_acc", "test_nll", "test_ece")
LAUNCHERS = {"joblib": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
             "submitit_local": ["hydra/launcher=submitit_local"]}


def _by_loss(root) -> dict[str, dict]:
    return {r["loss"]: r for r in results_under(root)}


def table_rows(stdout: str, label: str) -> list[dict]:
    """The multirun table's rows whose run label starts with `label` (tests/conftest.py run_table)."""
    return [r for r in run_table(stdout) if r["run"].split()[0] == label]


@pytest.fixture(scope="module")
def basic_results(tmp_path_factory) -> dict[str, dict]:
    """The reference: the same two jobs under Hydra's basic launcher, one after the other."""
    root = tmp_path_factory.mktemp("basic")
    proc = run_cli(TWO_LOSSES, root, env=ONE_THREAD)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return _by_loss(root)


@pytest.mark.parametrize("launcher", sorted(LAUNCHERS))
def test_two_job_multirun_gives_two_results_and_the_table(launcher, runs_root, basic_results):
    proc = run_cli([*TWO_LOSSES, *LAUNCHERS[launcher]], runs_root, env=ONE_THREAD)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = _by_loss(runs_root)
    assert sorted(results) == ["ce", "focal"]
    assert len({r["run_dir"] for r in results.values()}) == 2
    for loss, record in results.items():
        assert record["status"] == "completed" and record["final"]["epoch"] == 1
        # The launcher changes where a job runs, not what it computes (the thread count may differ).
        for key in SCALARS:
            assert record["final"][key] == pytest.approx(basic_results[loss]["final"][key], rel=1e-5, abs=1e-6)
        # The table (read back from results.json) shows these numbers: acc and NLL columns of `final`.
        final_row = next(r for r in table_rows(proc.stdout, loss) if r["ckpt"] == "final")
        assert final_row["acc"] == f"{100 * record['final']['test_acc']:.2f}"
        assert final_row["NLL"] == f"{record['final']['test_nll']:.3f}"
    assert "lossbench multirun: test metrics" in proc.stdout
    # Both launchers run the 2 jobs at once (joblib: n_jobs=2; submitit_local: the whole batch):
    # each job gets cores // 2 torch threads (1 on a 2-core machine), never more in all.
    expected = max(1, len(os.sched_getaffinity(0)) // 2)
    assert [r["threads"] for r in results.values()] == [expected, expected]


@pytest.mark.parametrize("launcher", ["basic", "joblib", "submitit_local"])
def test_a_failed_job_fails_the_multirun_and_is_listed(launcher, runs_root):
    # gamma=-1 composes (the pre-run check composes the first value of each sweep) and fails
    # when the job builds its loss: the second job fails after Hydra composed it.
    args = ["train", "-m", "loss=focal", "loss.gamma=1,-1", "trainer=smoke", "data=synthetic",
            f"hydra/launcher={launcher}", *LAUNCHERS.get(launcher, [])[1:]]
    proc = run_cli(args, runs_root, env=ONE_THREAD)
    assert proc.returncode == 2, proc.stderr[-3000:]  # every failure is a config value: exit 2
    results = sorted(results_under(runs_root), key=lambda r: r["run_dir"])
    assert [r["status"] for r in results] == ["completed", "failed"]
    failed = results[1]
    assert failed["error_type"] == "config" and "gamma=-1 is out of range" in failed["error"]
    assert 0 <= results[0]["final"]["test_acc"] <= 1 and results[0]["final"]["test_nll"] > 0
    rows = table_rows(proc.stdout, "focal")
    assert [(r["run"], r["ckpt"]) for r in rows] == [("focal gamma=1", "final"), ("focal gamma=1", "best"),
                                                      ("focal gamma=-1", "FAILED")]
    assert rows[0]["acc"] == f"{100 * results[0]['final']['test_acc']:.2f}"
    assert "focal gamma=-1 seed 0: loss=focal: gamma=-1 is out of range" in " ".join(proc.stdout.split())


def test_a_job_that_fails_before_training_is_recorded_and_listed(runs_root):
    # seed=abc composes (seed is untyped) and fails where the job reads it as an int, before the
    # job can write its own record: the command records it, so that the table lists it.
    proc = run_cli(["train", "-m", "seed=0,abc", "trainer=smoke", "data=synthetic"], runs_root, env=ONE_THREAD)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    results = sorted(results_under(runs_root), key=lambda r: r["run_dir"])
    assert [(r["seed"], r["status"]) for r in results] == [(0, "completed"), ("abc", "failed")]
    assert "seed='abc' is not a seed" in results[1]["error"]
    assert [r["ckpt"] for r in table_rows(proc.stdout, "ce")] == ["final", "best", "FAILED"]


def test_launcher_overrides_pass_the_pre_run_check(runs_root):
    proc = run_cli(["train", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "--cfg", "hydra"], runs_root,
                   env=ONE_THREAD)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "_target_: hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher" in proc.stdout
    assert "n_jobs: 2" in proc.stdout
    misspelled = run_cli(["train", "hydra/launcher=jobib"], runs_root, env=ONE_THREAD)
    assert misspelled.returncode == 2
    assert "Could not find 'hydra/launcher/jobib'" in misspelled.stderr and "submitit_local" in misspelled.stderr
    assert not any(runs_root.iterdir())  # nothing ran
