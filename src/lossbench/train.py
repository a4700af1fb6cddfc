"""One training job, from a composed config to its results record: the body of `lossbench train`.

`run_job(cfg, run_dir, *, choices, overrides, sweep=None)` is a plain function: everything it needs
comes in as arguments, so a worker process (submitit, a Hydra launcher) can run it from a pickled
config. Only the CLI's Hydra entry point reads Hydra's process-wide state.

  1. decide whether to resume (resume.py): a run directory with `checkpoints/last.ckpt` and the same
     resolved config is resumed; a different config is refused before anything is written;
  2. check the seed, optimiser, schedule and trainer values (job_values.py), then build the data
     module, the loss (with placeholder class counts) and the model on the dataset's declared image
     shape, so bad values fail before any data is loaded (UsageError: error_type "config", exit 2);
  3. load the data; rebuild the loss with the real training class counts;
  4. fit, writing `last.ckpt` and a "running" results.json at the end of every epoch; test the
     final weights, then the best-on-validation weights (never selected on test);
  5. write config.yaml, metrics.csv (per epoch), checkpoints/ and results.json in the run directory.
A job that fails or is interrupted still writes results.json, saying why; a training loss that
becomes NaN or infinite stops the job within one epoch (error_type "diverged", with epoch and step).
"""
from __future__ import annotations

import os
import socket
import time
import traceback
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from lossbench.distributed import ddp_job_scope, is_global_zero, release_process_group
from lossbench.errors import TrainingDiverged, UsageError
from lossbench.interrupts import JobInterrupted, StopRequest, stop_signals_recorded
from lossbench.job_values import check_job_values
from lossbench.results import (RESULTS_FILE, failed_record, metrics_block, new_record, versions, write_json)
from lossbench.resume import CHECKPOINT_DIR, plan_resume

# What `best` may be selected by, on the validation split, and which way is better.
SELECTION_METRICS = {"val_acc": "max", "val_balanced_acc": "max", "val_nll": "min", "val_ece": "min"}


def _build_components(cfg: DictConfig, choices: dict):
    """Instantiate data module, a trial loss and model: config errors surface here, before data."""
    from hydra.utils import instantiate

    if cfg.selection_metric not in SELECTION_METRICS:
        raise UsageError(f"selection_metric={cfg.selection_metric!r} is not one of {', '.join(SELECTION_METRICS)} "
                         f"(validation metrics the best epoch can be chosen by).")
    datamodule = _checked(lambda: instantiate(cfg.data), f"data={choices.get('data')}")
    # Placeholder counts let the loss check its parameters now; it is rebuilt with the real ones.
    placeholder_counts = [1] * datamodule.num_classes
    _checked(lambda: instantiate(cfg.loss, num_classes=datamodule.num_classes, class_counts=placeholder_counts),
             f"loss={choices.get('loss')}")
    channels, size = datamodule.declared_shape
    _checked(lambda: instantiate(cfg.model, num_classes=datamodule.num_classes, in_channels=channels, image_size=size),
             f"model={choices.get('model')}")
    return datamodule


def _checked(build, what: str):
    """Run a constructor; a ValueError/TypeError from it (bad value, unknown parameter) is the
    user's input, reported as a UsageError naming the config group."""
    try:
        return build()
    except Exception as err:  # Hydra wraps constructor errors in InstantiationException
        cause = err.__cause__ if err.__cause__ is not None else err
        if isinstance(cause, (ValueError, TypeError)):
            raise UsageError(f"{what}: {cause}") from None
        raise


def _precision(cfg_trainer: DictConfig) -> str:
    """`precision: auto` means bf16-mixed where a CUDA GPU trains, 32-true elsewhere."""
    if cfg_trainer.get("precision", "auto") != "auto":
        return cfg_trainer.precision
    import torch

    on_gpu = cfg_trainer.get("accelerator", "auto") in ("auto", "gpu", "cuda") and torch.cuda.is_available()
    return "bf16-mixed" if on_gpu else "32-true"


def precision_note(overrides: list[str]) -> str:
    """A YAML comment for `lossbench train --cfg job`: what trainer.precision resolves to here."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from lossbench.paths import CONF_DIR

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3", job_name="train"):
            trainer = compose("config", overrides=list(overrides)).trainer
    finally:
        GlobalHydra.instance().clear()
    given = trainer.get("precision", "auto")
    how = " (lossbench's own value, resolved by lossbench)" if given == "auto" else ""
    return f"# trainer.precision: {given} resolves to {_precision(trainer)} on this machine{how}"


def _set_threads(threads) -> int:
    """Torch's intra-op threads: `trainer.threads`, or every core this process may use."""
    import torch

    n = int(threads) if threads else len(os.sched_getaffinity(0))
    torch.set_num_threads(max(1, n))
    return torch.get_num_threads()


def _loggers(cfg: DictConfig, run_dir: Path, logger_choice: str | None, sweep: dict | None):
    """The extra logger chosen by `logger=` (csv adds none: metrics.csv is always written)."""
    import uuid

    from hydra.utils import instantiate

    if not cfg.get("logger"):
        return []
    extra = {}
    if logger_choice == "wandb":
        # A W&B id names one run in the project: a job directory's name repeats across sweeps (and a
        # re-run job reuses it), so a random suffix keeps every job its own run, never merged.
        extra = {"save_dir": str(run_dir), "name": run_dir.name, "id": f"{run_dir.name[:48]}-{uuid.uuid4().hex[:8]}",
                 "group": cfg.logger.group or (sweep or {}).get("name"), "reinit": "finish_previous"}
    elif logger_choice == "tensorboard":
        extra = {"save_dir": str(run_dir)}
    logger = instantiate(cfg.logger, **extra)
    logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))  # the resolved config, logged once
    return [logger]


def _checkpoint_epoch(path: str) -> int:
    import torch

    return int(torch.load(path, map_location="cpu", weights_only=False)["epoch"])


def run_job(cfg: DictConfig, run_dir: str | Path, *, choices: dict, overrides: list[str],
            sweep: dict | None = None) -> dict:
    """Train and evaluate one configuration into `run_dir`; returns the results record, which is
    also written to `run_dir`/results.json (by global rank 0 only).

    choices: the option chosen in each config group ({"loss": "focal", ...});
    overrides: the command-line overrides that made `cfg` (recorded, and passed to DDP children);
    sweep: the job's place in a `lossbench sweep`, recorded as results.json's `sweep` block.
    A stop signal ends the job with status "interrupted" and raises JobInterrupted after the
    record is written; every other outcome is returned."""
    started = time.time()
    run_dir = Path(run_dir).resolve()
    writer = is_global_zero()
    record = new_record(seed=cfg.get("seed"), loss=choices.get("loss"), data=cfg.data.name, model=choices.get("model"),
                        run_dir=run_dir, overrides=overrides, sweep=sweep)
    segments: list[dict] = []
    interrupted: JobInterrupted | None = None
    try:
        plan = plan_resume(run_dir, OmegaConf.to_container(cfg, resolve=True), str(cfg.get("resume", "auto")))
    except UsageError as err:  # the directory holds another run: report, and write nothing into it
        return failed_record(record, str(err), "config")
    try:
        check_job_values(cfg)
    except UsageError as err:  # before anything is built or loaded
        record = failed_record(record, str(err), "config")
        record.update(segments=[], wall_time_s=0.0, versions=versions())
        if writer:
            write_json(run_dir / RESULTS_FILE, record)
        return record
    with stop_signals_recorded() as stop:
        try:
            segments = [{**s, "status": "killed"} if s.get("status") == "running" else s
                        for s in plan.previous_segments]  # a segment left "running" ended without a word
            record.update(resumed_from_epoch=plan.resumed_from_epoch, last_epoch=plan.resumed_from_epoch,
                          segments=[*segments, {"resumed_from_epoch": plan.resumed_from_epoch, "status": "running",
                                                "wall_time_s": 0.0}])
            if writer:
                plan.prepare(run_dir)
                write_json(run_dir / RESULTS_FILE, record)
            with ddp_job_scope(overrides, run_dir):
                record.update(_train(cfg, run_dir, choices, record, sweep, plan.ckpt_path, writer, stop, started))
            record["status"] = "completed"
        except JobInterrupted as err:
            interrupted = err
            record = failed_record(record, _interrupted_message(err, record), "interrupted")
            record["signal"] = err.signum
        except UsageError as err:
            record = failed_record(record, str(err), "config")
        except TrainingDiverged as err:
            record = failed_record(record, str(err), "diverged")
            # The loss as text: JSON has no NaN/Infinity (results.json writes non-finite numbers as null).
            record["diverged"] = {"epoch": err.epoch, "step": err.step, "what": err.what, "value": str(err.value)}
        except Exception as err:  # noqa: BLE001 -- recorded in results.json, reported by the caller
            record = failed_record(record, f"{type(err).__name__}: {err}", "exception", traceback.format_exc())
        finally:
            release_process_group()
            segment = {"resumed_from_epoch": record.get("resumed_from_epoch"), "status": record["status"],
                       "wall_time_s": round(time.time() - started, 3)}
            record["segments"] = [*segments, segment]
            record["wall_time_s"] = round(sum(s["wall_time_s"] for s in record["segments"]), 3)
            record["versions"] = versions()
            if writer:
                write_json(run_dir / RESULTS_FILE, record)
            if choices.get("logger") == "wandb":
                import wandb

                wandb.finish()  # one W&B run per job: never let the next job of a multirun append to it
    if interrupted is not None:
        raise interrupted
    return record


def _interrupted_message(err: JobInterrupted, record: dict) -> str:
    last = record.get("last_epoch")
    where = (f"the last finished epoch, {last}, is in {CHECKPOINT_DIR}/last.ckpt" if last is not None
             else "no epoch had finished")
    return f"{err}; {where}. Run the same command again to resume (resume=never starts over)."


def _train(cfg: DictConfig, run_dir: Path, choices: dict, record: dict, sweep: dict | None,
           ckpt_path: Path | None, writer: bool, stop: StopRequest, started: float) -> dict:
    import warnings

    # Lightning 2.6 on torch 2.14 warns about a torch pytree API on every batch; nothing to act on.
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
    import lightning as L
    from hydra.utils import instantiate

    from lossbench.callbacks import (EpochMetricsCSV, RandomState, RunningRecord, StopOnDivergence, StopOnRequest,
                                     checkpoint_callbacks)
    from lossbench.module import ClassificationModule

    trainer_cfg = OmegaConf.to_container(cfg.trainer, resolve=True)
    threads = _set_threads(trainer_cfg.pop("threads", None))
    L.seed_everything(int(cfg.seed), workers=True, verbose=False)
    datamodule = _build_components(cfg, choices)
    stop.raise_if_requested(" before the data was loaded")
    datamodule.setup("fit")
    class_counts = datamodule.class_counts
    record.update(num_classes=datamodule.num_classes, class_counts=class_counts, **datamodule.result_fields())
    loss = instantiate(cfg.loss, num_classes=datamodule.num_classes, class_counts=class_counts)
    model = instantiate(cfg.model, num_classes=datamodule.num_classes, in_channels=datamodule.in_channels,
                        image_size=datamodule.image_size)
    module = ClassificationModule(
        model=model, loss=loss, optimizer=instantiate(cfg.optimizer),
        scheduler=instantiate(cfg.scheduler) if cfg.get("scheduler") else None, class_counts=class_counts)

    has_val = datamodule.has_validation
    selection = str(cfg.selection_metric)
    best, last = checkpoint_callbacks(run_dir / CHECKPOINT_DIR, selection if has_val else None,
                                      SELECTION_METRICS[selection])
    trainer_cfg["precision"] = _precision(cfg.trainer)
    if not has_val:
        trainer_cfg["limit_val_batches"] = 0
    callbacks = [EpochMetricsCSV(run_dir / "metrics.csv"), StopOnDivergence(), RandomState(), StopOnRequest(stop),
                 RunningRecord(run_dir / RESULTS_FILE, record, started, enabled=writer), *([best] if best else []), last]
    # The data module shards each split over DDP ranks itself (data/sampling.py): Lightning must not
    # wrap its samplers in a DistributedSampler on top.
    trainer = instantiate(trainer_cfg, default_root_dir=str(run_dir), enable_checkpointing=True,
                          use_distributed_sampler=False, callbacks=callbacks,
                          logger=_loggers(cfg, run_dir, choices.get("logger"), sweep) or False, num_sanity_val_steps=0)
    stop.trainer = trainer
    stop.raise_if_requested(" before training started")
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=str(ckpt_path) if ckpt_path else None,
                    weights_only=False)
        final_epoch = trainer.current_epoch - 1
        trainer.test(module, datamodule=datamodule, verbose=False)
        out = {"final": metrics_block(module.test_metrics, final_epoch), "best": None}
        out["reliability"] = {"final": module.test_metrics.get("reliability"), "best": None}  # for the report's plots
        if best is not None and best.best_model_path:
            best_epoch = _checkpoint_epoch(best.best_model_path)
            trainer.test(module, datamodule=datamodule, ckpt_path=best.best_model_path, verbose=False,
                         weights_only=False)
            out["best"] = {"selected_by": selection, selection: float(best.best_model_score),
                           **metrics_block(module.test_metrics, best_epoch)}
            out["reliability"]["best"] = module.test_metrics.get("reliability")
    except (SystemExit, KeyboardInterrupt) as err:  # Lightning's SIGTERM path raises SystemExit
        signum = stop.signum or (2 if isinstance(err, KeyboardInterrupt) else 15)
        raise JobInterrupted(signum, f" in epoch {trainer.current_epoch}") from None
    if trainer.interrupted:
        raise JobInterrupted(stop.signum or 2, f" in epoch {trainer.current_epoch}")
    out["device"] = str(trainer.strategy.root_device)
    out["precision"] = trainer_cfg["precision"]
    out["world_size"] = int(trainer.world_size)
    out["threads"] = threads
    out["host"] = socket.gethostname()
    out["last_epoch"] = trainer.current_epoch - 1
    return out


def run_in_process(overrides: list[str], run_dir: str | Path, sweep: dict | None = None) -> dict:
    """Compose the config for `overrides` and run the job here, into `run_dir` -- as
    `lossbench train <overrides> hydra.run.dir=<run_dir>` would, without a new interpreter.
    Sweeps use this to run many small jobs without paying the start-up of torch each time."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import open_dict

    from lossbench.paths import CONF_DIR

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3", job_name="train"):
            cfg = compose("config", overrides=list(overrides), return_hydra_config=True)
    finally:
        GlobalHydra.instance().clear()
    choices = dict(cfg.hydra.runtime.choices)
    task_overrides = list(cfg.hydra.overrides.task)
    with open_dict(cfg):
        del cfg["hydra"]
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    return run_job(cfg, run_dir, choices=choices, overrides=task_overrides, sweep=sweep)

