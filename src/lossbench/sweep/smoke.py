"""`lossbench sweep NAME --smoke`: every job shrunk to a couple of batches on tiny synthetic data.

Per job: `data=X` becomes `data=synthetic` with X's number of classes (`synthetic_binary` for a binary task,
`digits_mosaic` with its own options for a multi-label one); the data options synthetic
also has are kept (imbalance ratio, label noise, sampler, validation fraction, ...) and the others
dropped (root, per-channel mean/std, ...); asymmetric label noise becomes pairflip (the asymmetric
maps are those of CIFAR/MNIST classes); with an imbalance ratio rho the synthetic set gets ceil(2 rho) images per class
so that the rarest class keeps two. `trainer=smoke` replaces the trainer and its options except
gradient clipping (clip 5.0 where the sweep sets none), and batches are small (32 to train, 64 to evaluate, two of
each); a deferred re-weighting epoch (DRW, `loss.reweight_from_epoch`), an influence-balanced start epoch
(`loss.start_epoch`) and the schedule's milestones (a milestone must lie before max_epochs) move to epoch 1 so that
they happen within the two smoke epochs. A model with a `width` (the ResNets of 18-50 layers) keeps its class and
depth at SMOKE_WIDTH channels in its first stage: a ResNet-50 smoke job wrote 190 MB checkpoints at 64. Model, loss,
optimizer and schedule otherwise stay as the sweep sets them.
The command line's overrides apply after all that, except those of the data and the run length
(`kept_in_smoke`): `--smoke trainer.devices=2 trainer.strategy=ddp` smoke-tests DDP.
"""
from __future__ import annotations

import math

from lossbench.overrides import merge_overrides, override_key

KEPT_TRAINER_KEYS = {"gradient_clip_val", "gradient_clip_algorithm"}
# What smoke decides however the command line sets it: the run length.
SMOKE_TRAINER_KEYS = {"max_epochs", "max_steps", "limit_train_batches", "limit_val_batches", "limit_test_batches"}
DROPPED_DATA_KEYS = {"root", "num_classes", "name", "mean", "std"}  # mean/std: per channel of the real data
MIN_PER_CLASS = 60  # synthetic's default train_per_class
SMOKE_CLIP = 5.0  # gradient-norm clip of smoke jobs whose sweep sets none
SMOKE_BATCH, SMOKE_EVAL_BATCH = 32, 64  # two batches of each: a ResNet-50 smoke job stays cheap on a CPU
SMOKE_WIDTH = 8  # first-stage channels of a model that has a `width` (1/64 of a ResNet-50's parameters)
# The smoke data of the tasks other than multi-class. A multi-label job keeps none of its data options: digits_mosaic
# (16x16 images, its own long tail, no download) is the smallest multi-label set an image model takes.
SMOKE_DATA = {"binary": ["data=synthetic_binary"], "multilabel": ["data=digits_mosaic"]}
# Loss options that switch something on at an epoch (DRW's weights, IB's influence term): moved to epoch 1.
DEFERRED_LOSS_EPOCHS = {"loss.reweight_from_epoch", "loss.start_epoch"}


def kept_in_smoke(command_line: list[str]) -> list[str]:
    """The command line's overrides that a smoke job keeps: all but the data and the run length."""
    def kept(override: str) -> bool:
        key = override_key(override)
        if key in ("data", "trainer") or key.startswith("data."):
            return False
        return not (key.startswith("trainer.") and key[len("trainer."):] in SMOKE_TRAINER_KEYS)

    return [o for o in command_line if kept(o)]


def smoke_overrides(overrides: list[str], synthetic_keys: set[str], num_classes: int,
                    model_keys: frozenset[str] = frozenset(), task: str = "multiclass") -> list[str]:
    """The smoke version of a job's overrides; `model_keys`: the keys of the job's model config."""
    kept, extra = [], []
    for override in overrides:
        key, value = override_key(override), override.split("=", 1)[1]
        if key in ("data", "trainer"):
            continue
        if key.startswith("data."):
            top = key[len("data."):].split(".")[0]
            if task == "multilabel" or top in DROPPED_DATA_KEYS or top not in synthetic_keys:
                continue
            if key == "data.label_noise.type" and value == "asymmetric":
                override = f"{key}=pairflip"  # the asymmetric maps are CIFAR's; pairflip is class-dependent too
            if key == "data.imbalance_ratio":
                extra.append(f"data.train_per_class={max(MIN_PER_CLASS, math.ceil(2 * float(value)))}")
        elif key == "model.width":
            continue  # narrowed below
        elif key.startswith("trainer."):
            if key[len("trainer."):] not in KEPT_TRAINER_KEYS:
                continue
        elif key in DEFERRED_LOSS_EPOCHS:
            override = f"{key}={min(int(value), 1)}"
        elif key == "scheduler.milestones":  # lr steps too move inside the smoke epochs (milestones < max_epochs)
            count = len([v for v in value.strip("[]").split(",") if v.strip()])
            override = f"{key}=[{','.join(['1'] * count)}]"
        kept.append(override)
    small_batches = [f"data.batch_size={SMOKE_BATCH}", f"data.eval_batch_size={SMOKE_EVAL_BATCH}"]
    if "width" in model_keys:
        extra.append(f"model.width={SMOKE_WIDTH}")
    if not any(override_key(o) == "trainer.gradient_clip_val" for o in kept):
        # A full-size model on 8x8 noise with a recipe's CIFAR learning rate can blow up within the
        # four smoke steps (calibration's squentropy on ResNet-50 did: a NaN NLL, now a "diverged" job);
        # clipping keeps the smoke run a check of the plumbing. Real runs are never clipped unless asked.
        extra.append(f"trainer.gradient_clip_val={SMOKE_CLIP}")
    data = SMOKE_DATA.get(task) or ["data=synthetic", f"data.num_classes={num_classes}"]
    return merge_overrides([*data, "trainer=smoke"], kept, extra, small_batches)
