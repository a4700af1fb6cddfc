"""Training and evaluation speed of lossbench's real training path against a plain PyTorch loop
(`make bench-train`).

For each model at its dataset's image size (mlp and small_cnn on 8x8x1 digits-sized images; cnn8,
resnet32 and resnet18 at 32x32x3), on the current device and precision:
  - lossbench: the real ClassificationModule, Lightning Trainer and data module (the synthetic data
    module at that shape, loader=gpu: the data stays on the device), CE loss, SGD;
  - plain: the same model, data tensors, loss and optimizer in a hand-written loop;
both timed over the same batches after warm-up, alternating repetitions, median reported; the
ratio lossbench / plain (target: <= 1.05). Evaluation img/s is the real `trainer.test` (forward and
metrics). With CIFAR-10 files present (`--cifar-root`, written by ../shared/tools/cifar10_batches.py)
one real cifar10_lt epoch of ResNet-32 is timed and projected to a 200-epoch job.

    python benchmarks/bench_train.py [--device cpu|cuda] [--precision auto|32-true|bf16-mixed]
        [--reps 3] [--steps 10] [--threads N] [--models resnet32,...] [--options] [--cifar-root DIR] [--markdown]

`--options` also times what issue 10 asked to try: channels_last, the evaluation batch size (256
against 1024) and torch.inference_mode against torch.no_grad for evaluation.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import time
import warnings

import torch
import torch.nn.functional as F

warnings.filterwarnings("ignore")

# model -> (image size, channels, batch size)
CASES = {"mlp": (8, 1, 64), "small_cnn": (8, 1, 64), "cnn8": (32, 3, 128), "resnet32": (32, 3, 128),
         "resnet18": (32, 3, 128)}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def compose_job(model: str, size: int, channels: int, batch: int, steps: int, extra=()):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from lossbench.hydra_hooks import register_resolvers
    from lossbench.paths import CONF_DIR

    register_resolvers()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3", job_name="bench"):
        return compose("config", overrides=[
            f"model={model}", "data=synthetic", f"data.image_size={size}", f"data.channels={channels}",
            f"data.batch_size={batch}", f"data.train_per_class={batch * steps // 10 + batch}", "data.test_per_class=200",
            "data.val_fraction=0", "data.loader=gpu", "loss=ce", "optimizer=sgd", "scheduler=none", *extra])


def build(cfg, device):
    from hydra.utils import instantiate

    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    model = instantiate(cfg.model, num_classes=datamodule.num_classes, in_channels=datamodule.in_channels,
                        image_size=datamodule.image_size).to(device)
    return datamodule, model


class BatchClock:
    """Lightning callback: wall time from the end of warm-up batch `warmup` to the last batch."""

    def __init__(self, warmup: int, device):
        import lightning as L

        class _Clock(L.Callback):
            def on_train_batch_end(cb, trainer, module, outputs, batch, batch_idx):  # noqa: N805
                if batch_idx == warmup - 1:
                    sync(device)
                    self.start = time.perf_counter()

            def on_train_epoch_end(cb, trainer, module):  # noqa: N805
                sync(device)
                self.stop = time.perf_counter()

        self.callback = _Clock()
        self.start = self.stop = 0.0


def lossbench_path(cfg, device, precision: str, warmup: int, steps: int) -> tuple[float, float]:
    """(train img/s, eval img/s) of the real module, Trainer and data module."""
    import lightning as L
    from hydra.utils import instantiate

    from lossbench.module import ClassificationModule

    datamodule, model = build(cfg, device)
    module = ClassificationModule(model=model, loss=instantiate(cfg.loss, num_classes=datamodule.num_classes,
                                                                class_counts=datamodule.class_counts),
                                  optimizer=instantiate(cfg.optimizer), scheduler=None,
                                  class_counts=datamodule.class_counts)
    clock = BatchClock(warmup, device)
    trainer = L.Trainer(accelerator=device.type, devices=1, precision=precision, max_epochs=1,
                        limit_train_batches=warmup + steps, limit_val_batches=0, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        num_sanity_val_steps=0, use_distributed_sampler=False, callbacks=[clock.callback])
    trainer.fit(module, datamodule=datamodule)
    train = steps * cfg.data.batch_size / (clock.stop - clock.start)
    n_test = len(datamodule.test_y)
    trainer.test(module, datamodule=datamodule, verbose=False)  # warm
    sync(device)
    start = time.perf_counter()
    trainer.test(module, datamodule=datamodule, verbose=False)
    sync(device)
    return train, n_test / (time.perf_counter() - start)


def plain_loop(cfg, device, precision: str, warmup: int, steps: int, channels_last: bool = False) -> float:
    """Train img/s of a hand-written loop over the same data, model, loss and optimizer."""
    from hydra.utils import instantiate

    datamodule, model = build(cfg, device)
    mean = torch.tensor(list(cfg.data.mean), device=device).view(1, -1, 1, 1)
    std = torch.tensor(list(cfg.data.std), device=device).view(1, -1, 1, 1)
    x_all = ((datamodule.train_x.to(device).float() / 255) - mean) / std
    y_all = datamodule.train_y.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x_all = x_all.contiguous(memory_format=torch.channels_last)
    optimizer = instantiate(cfg.optimizer)(params=model.parameters())
    batch = int(cfg.data.batch_size)
    order = torch.randperm(len(y_all), generator=torch.Generator().manual_seed(0)).to(device)
    bf16 = precision.startswith("bf16")
    model.train()
    for i in range(warmup + steps):
        if i == warmup:
            sync(device)
            start = time.perf_counter()
        idx = order[(i * batch) % len(order):][:batch]
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(x_all[idx])
        loss = F.cross_entropy(logits.float(), y_all[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    sync(device)
    return steps * batch / (time.perf_counter() - start)


def eval_speed(cfg, device, precision: str, batch: int, inference: bool, reps: int = 3) -> float:
    datamodule, model = build(cfg, device)
    x = datamodule.test_x.to(device).float() / 255
    model.eval()
    ctx = torch.inference_mode if inference else torch.no_grad
    times = []
    for _ in range(reps + 1):
        sync(device)
        start = time.perf_counter()
        with ctx(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision.startswith("bf16")):
            for i in range(0, len(x), batch):
                model(x[i:i + batch])
        sync(device)
        times.append(time.perf_counter() - start)
    return len(x) / statistics.median(times[1:])


def cifar_epoch(root: str, device, precision: str) -> tuple[float, float] | None:
    """(seconds for one real cifar10_lt ResNet-32 epoch, projected hours for 200 epochs)."""
    import tempfile

    from lossbench.train import run_in_process

    if not os.path.isdir(os.path.join(root, "cifar-10-batches-py")):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        record = run_in_process([
            "data=cifar10_lt", f"data.root={root}", "data.val_fraction=0", "data.download=false", "model=resnet32",
            "trainer.max_epochs=1", f"trainer.precision={precision}", f"trainer.accelerator={device.type}",
            "trainer.enable_progress_bar=false", "++trainer.enable_model_summary=false", "logger=csv",
        ], tmp)
    if record.get("status") != "completed":
        print(f"cifar10_lt epoch failed: {record.get('error')}")
        return None
    seconds = float(record.get("epoch_time_s") or record["wall_time_s"])
    return seconds, seconds * 200 / 3600


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--precision", default="auto")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    p.add_argument("--models", default=",".join(CASES))
    p.add_argument("--options", action="store_true")
    p.add_argument("--cifar-root", default=os.environ.get("LOSSBENCH_DATA", "data"))
    p.add_argument("--markdown", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    from lossbench.hardware import auto_precision

    precision = auto_precision(device.type) if args.precision == "auto" else args.precision
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    print(f"# bench_train {datetime.date.today()} device={device} ({name}) precision={precision} "
          f"threads={args.threads} torch={torch.__version__} reps={args.reps} steps={args.steps}")
    rows = []
    for model in args.models.split(","):
        size, channels, batch = CASES[model]
        cfg = compose_job(model, size, channels, batch, args.warmup + args.steps)
        ours, plain, evals = [], [], []
        for _ in range(args.reps):  # alternate, so that a slow spell of the machine hits both
            train, ev = lossbench_path(cfg, device, precision, args.warmup, args.steps)
            ours.append(train)
            evals.append(ev)
            plain.append(plain_loop(cfg, device, precision, args.warmup, args.steps))
        o, q, e = statistics.median(ours), statistics.median(plain), statistics.median(evals)
        rows.append((model, f"{size}x{size}x{channels}", batch, o, q, q / o, e))
        print(f"{model:<10} {size}x{size}x{channels} b{batch}: lossbench {o:8.1f} img/s  plain {q:8.1f} img/s  "
              f"lossbench/plain time {q / o:5.3f}  eval {e:8.1f} img/s", flush=True)
    if args.markdown:
        print("\n| model | input | batch | lossbench img/s | plain loop img/s | lossbench / plain time | eval img/s |")
        print("|---|---|---|---|---|---|---|")
        for m, shape, b, o, q, r, e in rows:
            print(f"| {m} | {shape} | {b} | {o:.1f} | {q:.1f} | {r:.3f} | {e:.1f} |")
    if args.options:
        cfg = compose_job("resnet32", 32, 3, 128, args.warmup + args.steps)
        base = [plain_loop(cfg, device, precision, args.warmup, args.steps) for _ in range(args.reps)]
        last = [plain_loop(cfg, device, precision, args.warmup, args.steps, channels_last=True)
                for _ in range(args.reps)]
        print(f"resnet32 train, plain loop: contiguous {statistics.median(base):.1f} img/s, channels_last "
              f"{statistics.median(last):.1f} img/s")
        for batch in (256, 1024):
            for inference in (False, True):
                speed = eval_speed(cfg, device, precision, batch, inference)
                print(f"resnet32 eval batch {batch} {'inference_mode' if inference else 'no_grad'}: {speed:.1f} img/s")
    epoch = cifar_epoch(args.cifar_root, device, precision)
    if epoch:
        print(f"cifar10_lt resnet32, one real epoch: {epoch[0]:.1f} s -> 200 epochs ~ {epoch[1]:.2f} h")
    else:
        print(f"cifar10_lt: no CIFAR-10 files under {args.cifar_root} (python ../shared/tools/cifar10_batches.py DIR)")


if __name__ == "__main__":
    main()
