"""Checks of a composed job config's values, before anything is built or loaded: the optimiser,
schedule, trainer and top-level keys are checked as strictly as the losses check theirs, and a bad
value is a UsageError (exit 2, one paragraph naming the key and what to do). The data module's own
constructor checks the data keys (data/base.py) and the loss's its parameters.
"""
from __future__ import annotations

import math

from omegaconf import DictConfig

from lossbench.errors import UsageError

# Lightning's precision names (lightning.fabric.connector._PRECISION_INPUT) and lossbench's own "auto".
PRECISIONS = ("auto", "32-true", "bf16-mixed", "16-mixed", "bf16-true", "16-true", "64-true", "transformer-engine",
              "transformer-engine-float16", "32", "16", "bf16", "64")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")


# trainer.compile: true is "default"; reduce-overhead adds CUDA graphs, max-autotune also tunes kernels.
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise UsageError(message)


def check_job_values(cfg: DictConfig) -> None:
    """Raise UsageError for the first bad value of seed, optimizer, scheduler or trainer."""
    seed = cfg.get("seed")
    _require(_is_int(seed) and seed >= 0, f"seed={seed!r} is not a seed: give an integer >= 0, e.g. seed=1.")
    trainer = cfg.get("trainer") or {}
    max_epochs = trainer.get("max_epochs")
    _require(_is_int(max_epochs) and max_epochs >= 1,
             f"trainer.max_epochs={max_epochs!r} is out of range: it must be a whole number of epochs >= 1, "
             f"e.g. trainer.max_epochs=30.")
    _check_optimizer(cfg.get("optimizer") or {})
    if cfg.get("scheduler"):
        _check_scheduler(cfg.scheduler, max_epochs)
    _check_trainer(trainer)


def _check_optimizer(opt) -> None:
    lr = opt.get("lr")
    # A NaN lr passes here on purpose: training then diverges and says so (error_type "diverged").
    _require(_is_number(lr) and not lr <= 0 and lr != math.inf,
             f"optimizer.lr={lr!r} is out of range: the learning rate must be a number > 0, e.g. optimizer.lr=0.05"
             f"{' (lr=0 would never change the weights)' if lr == 0 else ''}.")
    wd = opt.get("weight_decay", 0.0)
    _require(_is_number(wd) and math.isfinite(wd) and wd >= 0,
             f"optimizer.weight_decay={wd!r} is out of range: it must be a number >= 0 (0 = no weight decay).")
    if "momentum" in opt:
        m = opt.momentum
        _require(_is_number(m) and 0 <= m < 1, f"optimizer.momentum={m!r} is out of range: it must be in [0, 1).")
    if "betas" in opt:
        betas = list(opt.betas)
        _require(len(betas) == 2 and all(_is_number(b) and 0 <= b < 1 for b in betas),
                 f"optimizer.betas={betas!r} is out of range: two numbers in [0, 1), e.g. [0.9,0.999].")


def _check_scheduler(sched, max_epochs: int) -> None:
    warmup = sched.get("warmup_epochs", 0)
    # A warm-up as long as the run is allowed (a smoke run of a long recipe keeps the recipe's warm-up).
    _require(_is_int(warmup) and warmup >= 0,
             f"scheduler.warmup_epochs={warmup!r} is out of range: it must be a whole number of epochs >= 0.")
    if "milestones" in sched:
        milestones = list(sched.milestones)
        _require(all(_is_int(m) and m >= 1 for m in milestones) and milestones == sorted(milestones),
                 f"scheduler.milestones={milestones} must be increasing whole epochs >= 1.")
        late = [m for m in milestones if m >= max_epochs]
        _require(not late, f"scheduler.milestones={milestones}: {late} lie at or beyond trainer.max_epochs={max_epochs} "
                           f"(epochs 0..{max_epochs - 1}), so the learning rate would never drop there. Set "
                           f"milestones below max_epochs, e.g. 'scheduler.milestones=[{int(max_epochs * 0.8)}]', or "
                           f"raise trainer.max_epochs.")
    if "gamma" in sched:
        gamma = sched.gamma
        _require(_is_number(gamma) and 0 < gamma <= 1, f"scheduler.gamma={gamma!r} is out of range: the lr "
                                                       f"multiplier at each milestone must be in (0, 1].")


def _check_trainer(trainer) -> None:
    precision = trainer.get("precision", "auto")
    _require(str(precision) in PRECISIONS,
             f"trainer.precision={precision!r} is not a precision: use auto (lossbench's own: bf16-mixed where a "
             f"GPU trains, 32-true elsewhere) or one of Lightning's {', '.join(PRECISIONS[1:8])}.")
    accelerator = str(trainer.get("accelerator", "auto"))
    _require(accelerator in ACCELERATORS,
             f"trainer.accelerator={accelerator!r} is not one of {', '.join(ACCELERATORS)}.")
    import torch

    gpus = torch.cuda.device_count()
    _require(not (accelerator in ("gpu", "cuda") and gpus == 0),
             f"trainer.accelerator={accelerator} but this machine has no CUDA GPU torch can use: use "
             f"trainer.accelerator=auto (or cpu, e.g. trainer=cpu).")
    _check_devices(trainer.get("devices", "auto"), accelerator, gpus)
    threads = trainer.get("threads")
    _require(threads is None or (_is_int(threads) and threads >= 1),
             f"trainer.threads={threads!r} is out of range: null (every core) or an integer >= 1.")
    value = trainer.get("channels_last", False)
    _require(isinstance(value, bool), f"trainer.channels_last={value!r} is not a switch: use true or false.")
    value = trainer.get("compile", False)
    _require(isinstance(value, bool) or value in COMPILE_MODES,
             f"trainer.compile={value!r} is not one of false, true, {', '.join(COMPILE_MODES)} (torch.compile's modes).")
    clip = trainer.get("gradient_clip_val")
    _require(clip is None or (_is_number(clip) and math.isfinite(clip) and clip >= 0),
             f"trainer.gradient_clip_val={clip!r} is out of range: null (no clipping) or a number >= 0.")


def _check_devices(devices, accelerator: str, gpus: int) -> None:
    if devices in ("auto", -1, "-1"):
        return
    on_gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and gpus > 0)
    from lossbench.hardware import cpu_cores

    have = gpus if on_gpu else cpu_cores()
    what = f"{have} CUDA GPU(s)" if on_gpu else f"{have} CPU core(s) this process may use (one process per device)"
    if _is_int(devices):
        _require(devices >= 1, f"trainer.devices={devices!r} is out of range: a count >= 1, or auto.")
        _require(devices <= have, f"trainer.devices={devices} is more than this machine has: {what}. Use "
                                  f"trainer.devices={max(1, min(have, 2))} or trainer.devices=auto.")
        return
    ids = list(devices) if not isinstance(devices, str) else None
    _require(ids is not None and all(_is_int(i) and 0 <= i < have for i in ids),
             f"trainer.devices={devices!r} is not a device count or list of device ids on this machine ({what}).")
