"""The slurm launcher: one SLURM job array through submitit's AutoExecutor, configured by
conf/launcher/slurm.yaml (`launcher.KEY=VALUE` on the command line). A job that gets a stop signal
(preemption, the time limit, `scancel --signal=TERM`) requeues itself and resumes from its
last.ckpt. The jobs keep running when the waiting `lossbench sweep` command stops."""
from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path

from lossbench.errors import UsageError, closest
from lossbench.results import RESULTS_FILE, read_results, write_json
from lossbench.sweep.local import SUBMITIT_DIR
from lossbench.sweep.progress import Progress
from lossbench.sweep.runner import SweepJob, worker_record
from lossbench.sweep.state import is_final, status_of

SLURM_IDS_FILE = "slurm_jobs.json"  # job name -> SLURM job id, in <sweep dir>/.submitit/


def _slurm_parameters(slurm: dict) -> dict:
    """submitit AutoExecutor parameters from conf/launcher/slurm.yaml."""
    params = {"timeout_min": int(slurm["timeout_min"]), "slurm_job_name": slurm["job_name"],
              "cpus_per_task": int(slurm["cpus_per_job"]), "tasks_per_node": 1, "nodes": 1,
              "slurm_array_parallelism": int(slurm["array_parallelism"]),
              "slurm_signal_delay_s": int(slurm["signal_delay_s"])}
    if slurm["gpus_per_job"]:
        params["gpus_per_node"] = int(slurm["gpus_per_job"])
    if slurm["mem_gb"]:
        params["mem_gb"] = float(slurm["mem_gb"])
    for key in ("partition", "account", "qos", "constraint"):
        if slurm.get(key):
            params[f"slurm_{key}"] = str(slurm[key])
    if slurm.get("setup"):
        params["slurm_setup"] = list(slurm["setup"])
    extra = dict(slurm.get("additional_parameters") or {})
    extra.setdefault("requeue", True)
    params["slurm_additional_parameters"] = extra
    return params


def run_slurm(indexed: list[tuple[int, SweepJob]], slurm: dict, wait: bool, sweep_dir: Path, progress: Progress,
              records: dict, stop_requested) -> None:
    """Submit `indexed` ((index, job) pairs) as one job array; with `wait`, follow them until each
    has a final record (state.is_final) or its worker ended, putting the records into `records`."""
    import submitit

    if shutil.which("sbatch") is None:
        raise UsageError("--launcher slurm needs the `sbatch` command, which is not on PATH here. Run this on a "
                         "SLURM login node, or use --launcher local to run the jobs on this machine.")
    threads = f"trainer.threads={int(slurm['cpus_per_job'])}"
    todo = [(i, dataclasses.replace(spec, launcher_overrides=(*spec.launcher_overrides, threads), requeue_on_signal=True,
                                    max_requeues=int(slurm["max_requeues"]))) for i, spec in indexed]
    if not todo:
        return
    executor = submitit.AutoExecutor(folder=sweep_dir / SUBMITIT_DIR / "%j", cluster="slurm")
    executor.update_parameters(**_slurm_parameters(slurm))
    try:
        with executor.batch():
            jobs = [executor.submit(spec) for _, spec in todo]
    except Exception as err:  # noqa: BLE001 -- sbatch's own words, relayed
        raise sbatch_error(str(err)) from None
    ids = {spec.job.name: job.job_id for (_, spec), job in zip(todo, jobs)}
    ids_file = sweep_dir / SUBMITIT_DIR / SLURM_IDS_FILE
    write_json(ids_file, {**(read_results(ids_file) or {}), **ids})
    progress.say(f"slurm launcher: submitted {len(jobs)} job(s) as array {jobs[0].job_id.split('_')[0]}; "
                 f"`lossbench sweep {progress.name} --status` shows them")
    if not wait:
        return
    running = {job: (i, spec) for (i, spec), job in zip(todo, jobs)}
    while running:
        if stop_requested():
            progress.say("lossbench: stopped waiting; the SLURM jobs keep running (scancel stops them)")
            return
        for job in list(running):
            i, spec = running[job]
            record = read_results(Path(spec.job_dir) / RESULTS_FILE)
            # submitit's result file, not job.done(): that asks sacct, which many clusters (and the
            # test cluster) run without, and it logs a warning on every call then. An interrupted
            # job that requeued itself leaves none, and is waited for.
            worker_ended = Path(job.paths.result_pickle).exists()
            if is_final(record) or (worker_ended and status_of(record) != "running"):
                running.pop(job)
                records[i] = record if isinstance(record, dict) else worker_record(job, spec)
                progress.ended(i, spec, records[i], f" (SLURM {job.job_id})")
        progress.periodic({"done": len(records), "queued or running": len(running)}, list(running.values()))
        time.sleep(1.0)


# sbatch's last words when it finds no slurm.conf (no SLURM_CONF, no /etc/slurm/slurm.conf, no DNS SRV record).
NO_CONFIG_SOURCE = "Could not establish a configuration source"


def sbatch_error(text: str) -> UsageError:
    """The one-paragraph error for a job array that sbatch refused, from sbatch's own words."""
    text = " ".join(text.split())
    if NO_CONFIG_SOURCE in text:
        return UsageError("sbatch found no SLURM configuration: SLURM_CONF is not set and there is no readable "
                          "slurm.conf where SLURM looks for it, so it cannot reach a controller. Set SLURM_CONF to "
                          "the cluster's slurm.conf (for the one-node test cluster: "
                          "eval \"$(scripts/local-slurm.sh start --env)\"), or run this on the cluster's login "
                          f"node. (sbatch said: {text[-200:]})")
    return UsageError(f"sbatch refused the sweep's job array: {text} Check the launcher.* settings "
                      f"(`lossbench sweep NAME --launcher slurm launcher.partition=...`).")


def slurm_ids(sweep_dir: Path) -> dict:
    data = read_results(sweep_dir / SUBMITIT_DIR / SLURM_IDS_FILE)
    return data if isinstance(data, dict) else {}


def load_slurm_config(overrides: list[str]) -> dict:
    """conf/launcher/slurm.yaml with `launcher.KEY=VALUE` overrides; UsageError for an unknown key."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from lossbench.paths import CONF_DIR

    base = OmegaConf.load(CONF_DIR / "launcher" / "slurm.yaml")
    OmegaConf.set_struct(base, True)
    dotlist = [o.split(".", 1)[1] for o in overrides]
    for item in dotlist:
        key = item.split("=", 1)[0].split(".")[0]
        if key not in base:
            raise UsageError(f"launcher.{key} is not a setting of the slurm launcher.{closest(key, list(base))} "
                             f"Settings: {', '.join(base)} (conf/launcher/slurm.yaml).")
    try:
        merged = OmegaConf.merge(base, OmegaConf.from_dotlist(dotlist))
    except OmegaConfBaseException as err:
        raise UsageError(f"launcher settings: {' '.join(str(err).split())}") from None
    return json.loads(json.dumps(OmegaConf.to_container(merged, resolve=True)))
