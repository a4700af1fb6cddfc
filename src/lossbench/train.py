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

import inspect
import os
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from lossbench.distributed import ddp_job_scope, is_global_zero, release_process_group
from lossbench.errors import TrainingDiverged, UsageError
from lossbench.interrupts import JobInterrupted, StopRequest, stop_signals_recorded
from lossbench.job_values import check_job_values
from lossbench.results import RESULTS_FILE, JobRecord, metrics_block, new_record, versions
from lossbench.resume import CHECKPOINT_DIR, plan_resume
from lossbench.tasks import check_loss_fits, model_outputs

# What `best` may be selected by, on the validation split, and which way is better.
SELECTION_METRICS = {"val_acc": "max", "val_balanced_acc": "max", "val_nll": "min", "val_ece": "min",
                     "val_map": "max", "val_micro_f1": "max", "val_macro_f1": "max"}
# The tasks whose evaluation computes a selection metric, where not every task's (val_acc is a
# multi-label task's subset accuracy; balanced accuracy is single-label).
SELECTION_TASKS = {"val_balanced_acc": ("multiclass", "binary"), "val_map": ("multilabel",),
                   "val_micro_f1": ("multilabel",), "val_macro_f1": ("multilabel",)}


def _check_selection_fits(selection: str, task: str, data_name: str) -> None:
    """UsageError when the task's evaluation does not compute `selection`."""
    if task not in SELECTION_TASKS.get(selection, (task,)):
        fits = [m for m in SELECTION_METRICS if task in SELECTION_TASKS.get(m, (task,))]
        raise UsageError(f"selection_metric={selection} is not computed for data={data_name}, a {task} task: "
                         f"pick one of {', '.join(fits)}.")


def _build_components(cfg: DictConfig, choices: dict):
    """Instantiate data module, a trial loss and model: config errors surface here, before data."""
    from hydra.utils import instantiate

    from lossbench.losses.external import build_from_config

    if cfg.selection_metric not in SELECTION_METRICS:
        raise UsageError(f"selection_metric={cfg.selection_metric!r} is not one of {', '.join(SELECTION_METRICS)} "
                         f"(validation metrics the best epoch can be chosen by).")
    datamodule = _checked(lambda: instantiate(cfg.data), f"data={choices.get('data')}")
    check_loss_fits(_loss_class(cfg.loss), datamodule.task, datamodule.name)  # before its num_classes is checked
    _check_selection_fits(str(cfg.selection_metric), datamodule.task, datamodule.name)
    # Placeholder counts let the loss check its parameters now; it is rebuilt with the real ones.
    placeholder_counts = [1] * datamodule.num_classes
    _checked(lambda: build_from_config(cfg.loss, num_classes=datamodule.num_classes, class_counts=placeholder_counts),
             f"loss={_loss_name(cfg, choices)}")
    channels, size = datamodule.declared_shape
    _checked(lambda: instantiate(cfg.model, num_classes=model_outputs(datamodule.task, datamodule.num_classes),
                                 in_channels=channels, image_size=size), f"model={choices.get('model')}")
    return datamodule


def _loss_class(node) -> type | None:
    """The class a loss config names (None for a plain function or module path: a multi-class loss)."""
    from hydra.utils import get_class

    try:
        return get_class(node.get("_target_") or "")
    except Exception:  # not a class path (an external loss's module:Name is resolved elsewhere)
        return None


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
    """The Trainer's precision: `auto` (lossbench's own value) is bf16-mixed on a CUDA GPU and on a
    CPU with native bf16 arithmetic, 32-true elsewhere (hardware.auto_precision)."""
    if cfg_trainer.get("precision", "auto") != "auto":
        return cfg_trainer.precision
    from lossbench.hardware import auto_precision

    return auto_precision(str(cfg_trainer.get("accelerator", "auto")))


def precision_note(overrides: list[str]) -> str:
    """A YAML comment for `lossbench train --cfg job`: what trainer.precision resolves to here."""
    from hydra import compose

    from lossbench.hydra_internals import initialized

    with initialized("train"):
        trainer = compose("config", overrides=list(overrides)).trainer
    given = trainer.get("precision", "auto")
    how = " (lossbench's own value, resolved by lossbench)" if given == "auto" else ""
    return f"# trainer.precision: {given} resolves to {_precision(trainer)} on this machine{how}"


def default_threads(trainer_cfg: dict) -> int:
    """Torch threads of one process of a job when `trainer.threads` is null: the CPUs SLURM gave
    the task (SLURM_CPUS_PER_TASK), else the cores this process may run on, divided among the
    job's processes on this machine when it trains with several CPU processes (DDP on CPU)."""
    from lossbench.hardware import threads_per_process

    slurm_cpus = int(os.environ.get("SLURM_CPUS_PER_TASK") or 0)
    if slurm_cpus:  # already this task's (one rank's) share
        return slurm_cpus
    devices = trainer_cfg.get("devices")
    on_cpu = str(trainer_cfg.get("accelerator")) == "cpu"
    return threads_per_process(devices if on_cpu and isinstance(devices, int) else 1)


def _set_threads(trainer_cfg: dict) -> int:
    """Set torch's intra-op threads for this job: `trainer.threads`, or `default_threads`."""
    import torch

    threads = trainer_cfg.get("threads")
    torch.set_num_threads(max(1, int(threads)) if threads else default_threads(trainer_cfg))
    return torch.get_num_threads()


def _loggers(cfg: DictConfig, run_dir: Path, sweep: dict | None) -> list:
    """The external loggers of `cfg.logger`, one per entry ({"tensorboard": {...}, "wandb": {...}}:
    `logger=[tensorboard,wandb]` composes them), each set up as when used alone; csv adds none
    (metrics.csv is always written)."""
    from hydra.utils import instantiate

    loggers = []
    for name, node in (cfg.get("logger") or {}).items():
        if not isinstance(node, DictConfig) or "_target_" not in node:
            raise UsageError(f"logger.{name} is not a logger config (it needs a _target_); the logger group "
                             f"composes as logger=[tensorboard,wandb] (see `lossbench list loggers`).")
        if str(node.get("_target_", "")).endswith("WandbLogger"):
            _require_wandb()
        logger = instantiate(node, **_logger_placement(node, run_dir, sweep))
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))  # the resolved config, logged once
        loggers.append(logger)
    return loggers


def _require_wandb() -> None:
    """wandb is an optional dependency (lossbench[wandb]): its absence is a config error, not a traceback."""
    try:
        import wandb  # noqa: F401
    except ImportError:
        raise UsageError("logger=wandb needs the wandb package, which is not installed here: pip install wandb "
                         "(or lossbench[wandb]), or choose another logger (logger=csv or logger=tensorboard).") from None


def _logger_placement(node: DictConfig, run_dir: Path, sweep: dict | None) -> dict:
    """Where a logger writes: into the run directory. A W&B run gets a unique id, the sweep as its
    group, and the WANDB_PROJECT / WANDB_DIR of the environment unless the config names them."""
    import uuid

    target = str(node.get("_target_", ""))
    if target.endswith("WandbLogger"):
        # A W&B id names one run in the project: a job directory's name repeats across sweeps (and a
        # re-run job reuses it), so a random suffix keeps every job its own run, never merged.
        extra = {"name": run_dir.name, "id": f"{run_dir.name[:48]}-{uuid.uuid4().hex[:8]}",
                 "group": node.get("group") or (sweep or {}).get("name"), "reinit": "finish_previous",
                 "project": node.get("project") or os.environ.get("WANDB_PROJECT") or "lossbench"}
        # wandb.init reads WANDB_DIR (and WANDB_ENTITY) only when no dir (entity) is passed.
        extra["save_dir"] = node.get("save_dir") or (None if os.environ.get("WANDB_DIR") else str(run_dir))
        return extra
    if target.endswith(("TensorBoardLogger", "CSVLogger")) and not node.get("save_dir"):
        return {"save_dir": str(run_dir)}
    return {}


def _user_callbacks(cfg: DictConfig) -> list:
    """The callbacks of the `callbacks` group ({"early_stopping": {...}, ...}: callbacks=[a,b]
    composes them, `+callbacks.mine._target_=pkg.Class` adds one), instantiated."""
    from hydra.utils import instantiate

    out = []
    for name, node in (cfg.get("callbacks") or {}).items():
        if not isinstance(node, DictConfig) or "_target_" not in node:
            raise UsageError(f"callbacks.{name} is not a callback config: give it a _target_ (the class), e.g. "
                             f"+callbacks.{name}._target_=lightning.pytorch.callbacks.EarlyStopping.")
        out.append(_checked(lambda node=node: instantiate(node), f"callbacks.{name}"))
    return out


def _progress_callbacks(trainer_cfg: dict, timer, user_callbacks: list) -> list:
    """A terminal gets Lightning's progress bar with the epoch time and ETA; a log file (stdout not
    a terminal: SLURM's .out, a pipe) one plain line per epoch instead. Nothing when the bar is off
    (sweeps) or the user brought a progress bar of their own."""
    import sys

    from lightning.pytorch.callbacks import ProgressBar

    from lossbench.callbacks import PlainProgress, eta_progress_bar

    if not trainer_cfg.get("enable_progress_bar", True) or any(isinstance(c, ProgressBar) for c in user_callbacks):
        return []
    if sys.stdout.isatty():
        return [eta_progress_bar(timer)]
    trainer_cfg["enable_progress_bar"] = False
    return [PlainProgress(timer)]


def _checkpoint_epoch(path: str) -> int:
    from lossbench.untrusted import load_checkpoint

    return int(load_checkpoint(path)["epoch"])


def run_job(cfg: DictConfig, run_dir: str | Path, *, choices: dict, overrides: list[str],
            sweep: dict | None = None) -> dict:
    """Train and evaluate one configuration into `run_dir`; returns the results record, which is
    also written to `run_dir`/results.json (by global rank 0 only; results.JobRecord).

    choices: the option chosen in each config group ({"loss": "focal", ...});
    overrides: the command-line overrides that made `cfg` (recorded, and passed to DDP children);
    sweep: the job's place in a `lossbench sweep`, recorded as results.json's `sweep` block.
    A stop signal ends the job with status "interrupted" and raises JobInterrupted after the
    record is written; every other outcome is returned."""
    run_dir = Path(run_dir).resolve()
    first = new_record(seed=cfg.get("seed"), loss=_loss_name(cfg, choices), data=None, model=choices.get("model"),
                       run_dir=run_dir, overrides=overrides, sweep=sweep)
    record = JobRecord(run_dir / RESULTS_FILE, first, writer=is_global_zero(), started=time.time())
    interrupted: JobInterrupted | None = None
    try:
        resolved = OmegaConf.to_container(cfg, resolve=True)
        record.update(data=(resolved.get("data") or {}).get("name"))
        check_job_values(cfg)  # seed, optimizer, scheduler and trainer values: before anything is built
        plan = plan_resume(run_dir, resolved, str(cfg.get("resume", "auto")))
    except Exception as err:  # noqa: BLE001 -- a config that does not resolve, a bad value, another run's directory
        message = str(err) if isinstance(err, UsageError) else f"the config does not resolve: {err}"
        record.fail(" ".join(message.split()), "config")
        record.update(segments=[], wall_time_s=0.0, versions=versions())
        record.write(only_if_absent=True)  # never over another run's record
        return record.data
    with stop_signals_recorded() as stop:
        try:
            record.start_segment(plan.previous_segments, plan.resumed_from_epoch)
            if record.writer:
                plan.prepare(run_dir)
                record.write()
            with ddp_job_scope(overrides, run_dir):
                _train(cfg, run_dir, choices, record, sweep, plan.ckpt_path, stop)
            record.complete()
        except JobInterrupted as err:
            interrupted = err
            record.fail(_interrupted_message(err, record.data), "interrupted")
            record.update(signal=err.signum)
        except UsageError as err:
            record.fail(str(err), "config")
        except TrainingDiverged as err:
            record.fail(str(err), "diverged")
            # The loss as text: JSON has no NaN/Infinity (results.json writes non-finite numbers as null).
            record.update(diverged={"epoch": err.epoch, "step": err.step, "what": err.what, "value": str(err.value)})
        except Exception as err:  # noqa: BLE001 -- recorded in results.json, reported by the caller
            record.fail(f"{type(err).__name__}: {err}", "exception", traceback.format_exc())
        finally:
            release_process_group()
            record.close()
            if "wandb" in (cfg.get("logger") or {}) and sys.modules.get("wandb") is not None:
                sys.modules["wandb"].finish()  # one W&B run per job: never let the next job of a multirun append to it
    if interrupted is not None:
        raise interrupted
    return record.data


def _loss_name(cfg: DictConfig, choices: dict) -> str | None:
    """The loss as results.json names it: its config option, or for a loss of your own
    (loss=pkg.module:Name) that import path."""
    from lossbench.losses.external import EXTERNAL

    if choices.get("loss") == EXTERNAL and isinstance(cfg.loss.get("_target_"), str):
        module, _, name = cfg.loss._target_.rpartition(".")
        return f"{module}:{name}"
    return choices.get("loss")


def _interrupted_message(err: JobInterrupted, record: dict) -> str:
    last = record.get("last_epoch")
    where = (f"the last finished epoch, {last}, is in {CHECKPOINT_DIR}/last.ckpt" if last is not None
             else "no epoch had finished")
    return f"{err}; {where}. Run the same command again to resume (resume=never starts over)."


def _train(cfg: DictConfig, run_dir: Path, choices: dict, record: JobRecord, sweep: dict | None,
           ckpt_path: Path | None, stop: StopRequest) -> None:
    """Build the job, make its Trainer, fit and test it; each step adds its facts to `record`."""
    import warnings

    # Lightning 2.6 on torch 2.14 warns about a torch pytree API on every batch; nothing to act on.
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
    import lightning as L

    trainer_cfg = OmegaConf.to_container(cfg.trainer, resolve=True)
    settings = _run_settings(trainer_cfg)
    quiet = {"verbose": False} if "verbose" in inspect.signature(L.seed_everything).parameters else {}  # 2.3+
    L.seed_everything(int(cfg.seed), workers=True, **quiet)
    module, datamodule, user_callbacks = _build(cfg, choices, record, settings, stop)
    job = _trainer(cfg, trainer_cfg, run_dir, record, sweep, datamodule.has_validation, user_callbacks, stop)
    trainer = job.trainer
    stop.trainer = trainer
    stop.raise_if_requested(" before training started")
    _fit_and_test(job, module, datamodule, ckpt_path, stop, record)
    from lossbench.hardware import run_facts

    record.update(**run_facts(trainer.strategy.root_device), precision=trainer_cfg["precision"],
                  world_size=int(trainer.world_size), threads=settings["threads"], compiled=settings["compiled"],
                  channels_last=settings["channels_last"], last_epoch=trainer.current_epoch - 1)


def _run_settings(trainer_cfg: dict) -> dict:
    """Take lossbench's own keys out of the trainer config (Lightning's Trainer does not know
    them) and apply the thread count: {"threads", "compiled", "channels_last"}."""
    threads = _set_threads(trainer_cfg)
    trainer_cfg.pop("threads", None)
    compile_mode = trainer_cfg.pop("compile", False)
    return {"threads": threads, "compiled": compile_mode not in (False, None),
            "compile_mode": "default" if compile_mode is True else (compile_mode or None),
            "channels_last": bool(trainer_cfg.pop("channels_last", False))}


def _check_learned_options(loss) -> None:
    """loss.lr_scale and loss.weight_decay set the optimizer group of a loss's own parameters: for a
    loss without any they would do nothing, which is refused rather than ignored."""
    from lossbench.losses.base import learned_parameters

    given = getattr(loss, "group_options_given", [])
    if given and not learned_parameters(loss):
        raise UsageError(f"{', '.join('loss.' + k for k in given)}: loss {getattr(loss, 'name', '?')} has no "
                         f"parameters of its own, so there is no optimizer group for {'them' if len(given) > 1 else 'it'} "
                         f"to set; leave {'them' if len(given) > 1 else 'it'} out (optimizer.weight_decay sets the "
                         f"network's).")


def _build(cfg: DictConfig, choices: dict, record: JobRecord, settings: dict, stop: StopRequest):
    """(module, datamodule, user callbacks): the data loaded, the loss built with the real training
    class counts, the model in the memory format and compilation the settings ask for."""
    import torch
    from hydra.utils import instantiate

    from lossbench.losses.external import build_from_config
    from lossbench.module import ClassificationModule

    datamodule = _build_components(cfg, choices)
    user_callbacks = _user_callbacks(cfg)  # a bad callback config fails here, before the data loads
    stop.raise_if_requested(" before the data was loaded")
    datamodule.setup("fit")
    # A compiled model trains on full batches only (the last partial batch of an epoch is dropped):
    # one static shape, so that its graph (and reduce-overhead's CUDA graphs) is never rebuilt for it.
    datamodule.drop_last = settings["compiled"] and len(datamodule.train_y) >= datamodule.batch_size
    class_counts = datamodule.class_counts
    record.update(num_classes=datamodule.num_classes, class_counts=class_counts, **datamodule.result_fields())
    loss = build_from_config(cfg.loss, num_classes=datamodule.num_classes, class_counts=class_counts)
    _check_learned_options(loss)
    model = instantiate(cfg.model, num_classes=model_outputs(datamodule.task, datamodule.num_classes),
                        in_channels=datamodule.in_channels, image_size=datamodule.image_size)
    if settings["channels_last"]:  # NHWC convolution weights; the activations follow them (docs/PERFORMANCE.md)
        model = model.to(memory_format=torch.channels_last)
    if settings["compiled"]:
        # In place: the state_dict keys, and so checkpoints, stay those of the plain model.
        model.compile(mode=settings["compile_mode"])
    module = ClassificationModule(
        model=model, loss=loss, optimizer=instantiate(cfg.optimizer),
        scheduler=instantiate(cfg.scheduler) if cfg.get("scheduler") else None, class_counts=class_counts,
        task=datamodule.task)
    return module, datamodule, user_callbacks


def _trainer(cfg: DictConfig, trainer_cfg: dict, run_dir: Path, record: JobRecord, sweep: dict | None,
             has_val: bool, user_callbacks: list, stop: StopRequest) -> Job:
    """The Lightning Trainer with every callback and logger of the job (a `Job`)."""
    from hydra.utils import instantiate

    from lossbench.callbacks import (EpochMetricsCSV, EpochTimer, RandomState, RunningRecord, StopOnDivergence,
                                     StopOnRequest, checkpoint_callbacks)

    selection = str(cfg.selection_metric)
    best, last = checkpoint_callbacks(run_dir / CHECKPOINT_DIR, selection if has_val else None,
                                      SELECTION_METRICS[selection])
    trainer_cfg["precision"] = _precision(cfg.trainer)
    if not has_val:
        trainer_cfg["limit_val_batches"] = 0
    loggers = _loggers(cfg, run_dir, sweep)
    timer = EpochTimer()  # first: the callbacks after it read the epoch's times
    callbacks = [timer, EpochMetricsCSV(run_dir / "metrics.csv", extra=timer.epoch_fields), StopOnDivergence(),
                 RandomState(), StopOnRequest(stop), RunningRecord(record, timer=timer), *([best] if best else []), last,
                 *_progress_callbacks(trainer_cfg, timer, user_callbacks), *user_callbacks]
    if loggers:
        from lightning.pytorch.callbacks import LearningRateMonitor

        callbacks.append(LearningRateMonitor(logging_interval="epoch"))
    # The data module shards each split over DDP ranks itself (data/sampling.py): Lightning must not
    # wrap its samplers in a DistributedSampler on top.
    trainer = instantiate(trainer_cfg, default_root_dir=str(run_dir), enable_checkpointing=True,
                          use_distributed_sampler=False, callbacks=callbacks,
                          logger=loggers or False, num_sanity_val_steps=0)
    return Job(trainer, best, loggers, timer, selection)


@dataclass(frozen=True)
class Job:
    """What `_fit_and_test` needs of the job `_trainer` set up."""
    trainer: object
    best: object           # the best-on-validation ModelCheckpoint, or None without a validation split
    loggers: list
    timer: object          # callbacks.EpochTimer
    selection: str         # the validation metric that picks `best`


def _weights_only(method) -> dict:
    """{"weights_only": True} where Lightning's fit/test take it (2.6 and later). Earlier Lightning
    calls torch.load with torch's default, which is weights-only from torch 2.6 on."""
    return {"weights_only": True} if "weights_only" in inspect.signature(method).parameters else {}


def _fit_and_test(job: Job, module, datamodule, ckpt_path: Path | None, stop: StopRequest, record: JobRecord) -> None:
    """Fit (resuming from `ckpt_path`), test the final weights, then the best-on-validation ones;
    the `final`, `best`, `reliability` and `throughput` blocks go into `record`."""
    from lossbench.logged_results import log_test_results
    from lossbench.untrusted import checkpoint_globals

    trainer, best = job.trainer, job.best
    try:
        with checkpoint_globals():  # checkpoints are data: loaded weights-only (untrusted.py)
            trainer.fit(module, datamodule=datamodule, ckpt_path=str(ckpt_path) if ckpt_path else None,
                        **_weights_only(trainer.fit))
        final_epoch = trainer.current_epoch - 1
        trainer.test(module, datamodule=datamodule, verbose=False)
        out = {"final": metrics_block(module.test_metrics, final_epoch), "best": None}
        out["reliability"] = {"final": module.test_metrics.get("reliability"), "best": None}  # for the report's plots
        if best is not None and best.best_model_path:
            best_epoch = _checkpoint_epoch(best.best_model_path)
            with checkpoint_globals():
                trainer.test(module, datamodule=datamodule, ckpt_path=best.best_model_path, verbose=False,
                             **_weights_only(trainer.test))
            out["best"] = {"selected_by": job.selection, job.selection: float(best.best_model_score),
                           **metrics_block(module.test_metrics, best_epoch)}
            out["reliability"]["best"] = module.test_metrics.get("reliability")
    except (SystemExit, KeyboardInterrupt) as err:  # Lightning's SIGTERM path raises SystemExit
        signum = stop.signum or (2 if isinstance(err, KeyboardInterrupt) else 15)
        raise JobInterrupted(signum, f" in epoch {trainer.current_epoch}") from None
    if trainer.interrupted:
        raise JobInterrupted(stop.signum or 2, f" in epoch {trainer.current_epoch}")
    if trainer.is_global_zero:
        log_test_results(job.loggers, out, module.class_counts, trainer.global_step)
    record.update(**out, throughput=job.timer.job_fields())


def run_in_process(overrides: list[str], run_dir: str | Path, sweep: dict | None = None) -> dict:
    """Compose the config for `overrides` and run the job here, into `run_dir` -- as
    `lossbench train <overrides> hydra.run.dir=<run_dir>` would, without a new interpreter.
    Sweeps use this to run many small jobs without paying the start-up of torch each time."""
    from hydra import compose
    from omegaconf import open_dict

    from lossbench.hydra_internals import initialized
    from lossbench.losses.external import expand_loss_overrides

    with initialized("train"):
        cfg = compose("config", overrides=expand_loss_overrides(overrides), return_hydra_config=True)
    choices = dict(cfg.hydra.runtime.choices)
    task_overrides = list(cfg.hydra.overrides.task)
    with open_dict(cfg):
        del cfg["hydra"]
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    return run_job(cfg, run_dir, choices=choices, overrides=task_overrides, sweep=sweep)

