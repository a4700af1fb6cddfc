"""`lossbench train -m ... hydra/launcher=submitit_slurm`: each job of the multirun is a SLURM job
(through the real sbatch of the local cluster), and the command prints the table read from their
results.json."""
from __future__ import annotations

import pytest

from tests.conftest import results_under, run_cli, run_table

pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="the `cluster` extra: pip install -e '.[cluster]'")

pytestmark = pytest.mark.slow


def test_submitit_slurm_multirun_gives_two_results_and_the_table(slurm_cluster, runs_root):
    proc = run_cli(["train", "-m", "loss=ce,focal", "trainer=smoke", "data=synthetic", "hydra/launcher=submitit_slurm",
                    "hydra.launcher.partition=debug", "hydra.launcher.timeout_min=10", "hydra.launcher.cpus_per_task=1"],
                   runs_root, env={"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "SLURM_CONF": slurm_cluster},
                   timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = {r["loss"]: r for r in results_under(runs_root)}
    assert sorted(results) == ["ce", "focal"]
    # submitit names each job's log after its SLURM job id: the jobs ran through sbatch.
    slurm_logs = list(runs_root.rglob(".submitit/*/*_0_log.out"))
    assert len(slurm_logs) == 2
    for loss, record in results.items():
        assert record["status"] == "completed" and record["final"]["epoch"] == 1
        final = next(r for r in run_table(proc.stdout) if r["run"] == loss and r["ckpt"] == "final")
        assert final["acc"] == f"{100 * record['final']['test_acc']:.2f}"
        assert final["NLL"] == f"{record['final']['test_nll']:.3f}"
