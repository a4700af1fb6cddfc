"""Training and evaluation speed of lossbench's real training path against a plain PyTorch loop
(`make bench-train`).

For each model at its dataset's image size (mlp and small_cnn on 8x8x1 digits-sized images; cnn8,
resnet32 and resnet18 at 32x32x3), on the current device and precision:
  - lossbench: a real `lossbench train` job (run_in_process: the ClassificationModule, the Trainer
    with every callback a job has, the synthetic data module at that shape with loader=gpu, so the
    data stay on the device), CE loss, SGD, two epochs; its second epoch's img/s as the job itself
    records it in metrics.csv (the first epoch is the warm-up);
  - minimal: a five-line LightningModule (no callbacks, no logger) on the same data: Lightning's own
    per-step cost, which lossbench cannot remove;
  - plain: the same model, data tensors, loss and optimizer in a hand-written loop, one warm-up pass
    then one timed pass over the same number of batches;
repetitions alternate between the three, medians reported; the ratio is lossbench's time over the
plain loop's (target: <= 1.05). Evaluation img/s is the job's own test pass (forward and metrics,
`throughput.eval_s`). With CIFAR-10 files present (`--cifar-root`, written by
../shared/tools/cifar10_batches.py) one real cifar10_lt epoch of ResNet-32 is run as a job and
projected to a 200-epoch job.

    python benchmarks/bench_train.py [--device cpu|cuda] [--precision auto|32-true|bf16-mixed]
        [--reps 3] [--threads N] [--models resnet32,...] [--options] [--cifar-root DIR] [--markdown]

`--evidence [--tiny] [--json PATH] [--deadline-s S]` times, instead, what scripts/gpu-evidence.sh
records for ResNet-32 (batch 128, synthetic 32x32 images, the gpu loader) through real jobs:
training and evaluation img/s in eager fp32, bf16-mixed, bf16-mixed with channels_last, and that
with trainer.compile; and on a GPU 1, 2 and 4 jobs sharing it (separate processes started together),
their summed training img/s. `--tiny` (the CPU rehearsal) uses 3 batches per epoch and skips
compile; parts that cannot run here, or would pass the deadline, are listed with the reason.

`--options` also times what issue 10 asked to try, each through the real job: channels_last against
contiguous convolutions (trainer.channels_last), the evaluation batch size (data.eval_batch_size 256
against 1024) and torch.inference_mode against torch.no_grad for evaluation (a forward-only loop).
"""
from __future__ import annotations

import argparse
import csv
import datetime
import os
import platform
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

warnings.filterwarnings("ignore")

# model -> (image size, channels, batch size, training batches per epoch): enough batches that an
# epoch takes a second or more on a CPU, as few as that allows.
CASES = {"mlp": (8, 1, 64, 400), "small_cnn": (8, 1, 64, 150), "cnn8": (32, 3, 128, 10),
         "resnet32": (32, 3, 128, 10), "resnet18": (32, 3, 128, 5)}
TEST_PER_CLASS = 100  # x10 for the 8x8 cases, whose evaluation is fast
QUIET = ["trainer.enable_progress_bar=false", "++trainer.enable_model_summary=false"]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def job_overrides(model: str, device: torch.device, precision: str, threads: int, extra=()) -> list[str]:
    size, channels, batch, steps = CASES[model]
    return [f"model={model}", "data=synthetic", f"data.image_size={size}", f"data.channels={channels}",
            f"data.batch_size={batch}", f"data.train_per_class={batch * steps // 10}",
            f"data.test_per_class={TEST_PER_CLASS * (10 if size == 8 else 1)}", "data.val_fraction=0", "data.loader=gpu", "loss=ce",
            "optimizer=sgd", "scheduler=none", f"trainer.precision={precision}",
            f"trainer.accelerator={device.type}", "trainer.devices=1", f"trainer.threads={threads}",
            "trainer.max_epochs=2", *QUIET, *extra]


EVIDENCE_VARIANTS = {
    "eager fp32": ["trainer.precision=32-true", "trainer.channels_last=false"],
    "bf16-mixed": ["trainer.precision=bf16-mixed", "trainer.channels_last=false"],
    "bf16-mixed + channels_last": ["trainer.precision=bf16-mixed", "trainer.channels_last=true"],
    "bf16-mixed + channels_last + compile": ["trainer.precision=bf16-mixed", "trainer.channels_last=true",
                                             "trainer.compile=default"],
}
PACKING = (1, 2, 4)


def evidence(device: torch.device, threads: int, tiny: bool, deadline: float) -> dict:
    """The figures of scripts/gpu-evidence.sh's step 2 (see the module doc)."""
    from lossbench.overrides import merge_overrides

    steps = 3 if tiny else 50
    base = merge_overrides(job_overrides("resnet32", device, "32-true", threads), [f"data.train_per_class={128 * steps // 10}"])
    out = {"device": str(device), "batches_per_epoch": steps, "train_images_per_s": {}, "eval_images_per_s": {},
           "jobs_per_gpu": {}, "skipped": {}}
    for name, extra in EVIDENCE_VARIANTS.items():
        if tiny and "compile" in name:
            out["skipped"][name] = "--tiny: Inductor's compile takes minutes on a CPU"
        elif time.time() > deadline:
            out["skipped"][name] = "the budget ran out"
        else:
            train, evaluation = lossbench_path(merge_overrides(base, extra))
            out["train_images_per_s"][name], out["eval_images_per_s"][name] = round(train, 1), round(evaluation, 1)
    for k in PACKING:
        if device.type != "cuda":
            out["skipped"][f"{k} jobs per GPU"] = "no GPU: jobs per GPU is a GPU measurement"
        elif time.time() > deadline:
            out["skipped"][f"{k} jobs per GPU"] = "the budget ran out"
        else:
            speed = packed(merge_overrides(base, [*EVIDENCE_VARIANTS["bf16-mixed + channels_last"],
                                                  "trainer.max_epochs=4"]), k)
            if speed is None:
                out["skipped"][f"{k} jobs per GPU"] = "a job failed (run it alone to see why)"
            else:
                out["jobs_per_gpu"][str(k)] = speed
    return out


def packed(overrides: list[str], jobs: int) -> float | None:
    """Summed training img/s of `jobs` processes started together on one GPU (each its median epoch
    after the first); None if one failed."""
    import subprocess
    import sys

    with tempfile.TemporaryDirectory() as tmp:
        procs = [subprocess.Popen([sys.executable, "-m", "lossbench", "train", *overrides, f"hydra.run.dir={tmp}/{i}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i in range(jobs)]
        if any([proc.wait() != 0 for proc in procs]):  # a list: wait for every one
            return None
        speeds = []
        for i in range(jobs):
            with open(Path(tmp) / str(i) / "metrics.csv") as f:
                rows = list(csv.DictReader(f))[1:]
            speeds.append(statistics.median(float(r["train_images_per_s"]) for r in rows))
    return round(sum(speeds), 1)


def compose_job(overrides: list[str]):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from lossbench.hydra_hooks import register_resolvers
    from lossbench.paths import CONF_DIR

    register_resolvers()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3", job_name="bench"):
        return compose("config", overrides=overrides)


def build(cfg, device):
    from hydra.utils import instantiate

    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    model = instantiate(cfg.model, num_classes=datamodule.num_classes, in_channels=datamodule.in_channels,
                        image_size=datamodule.image_size).to(device)
    if cfg.trainer.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return datamodule, model


def lossbench_path(overrides: list[str]) -> tuple[float, float]:
    """(train img/s of the job's second epoch, eval img/s of its test pass) of a real job."""
    from lossbench.train import run_in_process

    with tempfile.TemporaryDirectory() as tmp:
        record = run_in_process(overrides, tmp)
        if record.get("status") != "completed":
            raise SystemExit(f"the benchmark job failed: {record.get('error')}")
        with open(Path(tmp) / "metrics.csv") as f:
            rows = list(csv.DictReader(f))
    return float(rows[-1]["train_images_per_s"]), record["dataset"]["num_test"] / record["throughput"]["eval_s"]


def _timed_passes(device, steps: int, step) -> float:
    """img/s of the second of two passes of `steps` calls of step(i) (the first is the warm-up)."""
    for i in range(steps):
        step(i)
    sync(device)
    start = time.perf_counter()
    images = sum(step(i) for i in range(steps))
    sync(device)
    return images / (time.perf_counter() - start)


def minimal_lightning(cfg, device, precision: str) -> float:
    """Train img/s of the smallest LightningModule on the same data and model: what Lightning's
    loop costs by itself."""
    import lightning as L
    from hydra.utils import instantiate

    datamodule, model = build(cfg, device)
    optimizer = instantiate(cfg.optimizer)

    class Minimal(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.model = model

        def training_step(self, batch, batch_idx):
            return F.cross_entropy(self.model(batch[0]).float(), batch[1])

        def configure_optimizers(self):
            return optimizer(params=self.parameters())

    times = []

    class Clock(L.Callback):
        def on_train_epoch_start(self, trainer, module):
            sync(device)
            times.append(time.perf_counter())

        def on_train_epoch_end(self, trainer, module):
            sync(device)
            times.append(time.perf_counter())

    trainer = L.Trainer(accelerator=device.type, devices=1, precision=precision, max_epochs=2, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        limit_val_batches=0, num_sanity_val_steps=0, callbacks=[Clock()])
    trainer.fit(Minimal(), datamodule=datamodule)
    return len(datamodule.train_y) / (times[3] - times[2])


def plain_loop(cfg, device, precision: str) -> float:
    """Train img/s of a hand-written loop over the same data, model, loss and optimizer."""
    from hydra.utils import instantiate

    datamodule, model = build(cfg, device)
    mean = torch.tensor(list(cfg.data.mean), device=device).view(1, -1, 1, 1)
    std = torch.tensor(list(cfg.data.std), device=device).view(1, -1, 1, 1)
    x_all = ((datamodule.train_x.to(device).float() / 255) - mean) / std
    y_all = datamodule.train_y.to(device)
    optimizer = instantiate(cfg.optimizer)(params=model.parameters())
    batch = int(cfg.data.batch_size)
    order = torch.randperm(len(y_all), generator=torch.Generator().manual_seed(0)).to(device)
    bf16 = precision.startswith("bf16")
    model.train()

    def step(i: int) -> int:
        idx = order[i * batch:(i + 1) * batch]
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(x_all[idx])
        loss = F.cross_entropy(logits.float(), y_all[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return len(idx)

    return _timed_passes(device, len(y_all) // batch, step)


def eval_speed(cfg, device, precision: str, inference: bool, reps: int = 3) -> float:
    """Forward-only img/s over the test images under torch.inference_mode or torch.no_grad."""
    datamodule, model = build(cfg, device)
    loader = datamodule.test_dataloader()
    model.eval()
    context = torch.inference_mode if inference else torch.no_grad
    times = []
    for _ in range(reps + 1):
        sync(device)
        start = time.perf_counter()
        with context(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision.startswith("bf16")):
            for x, _y in loader:
                model(x)
        sync(device)
        times.append(time.perf_counter() - start)
    return len(datamodule.test_y) / statistics.median(times[1:])


def sam_row(device, precision: str, threads: int, reps: int) -> None:
    """ResNet-32 training img/s with optimizer=sgd and optimizer=sam (two forward-backward passes
    per step: about half the speed expected), through real jobs, alternating, medians."""
    runs = {name: [] for name in ("sgd", "sam")}
    for _ in range(reps):
        for name in runs:
            runs[name].append(lossbench_path(job_overrides("resnet32", device, precision, threads,
                                                           [f"optimizer={name}"]))[0])
    sgd, sam = median_of(runs["sgd"]), median_of(runs["sam"])
    print(f"resnet32 training, optimizer=sgd {sgd:.1f} img/s, optimizer=sam {sam:.1f} img/s "
          f"(SAM step time {sgd / sam:.2f}x SGD's)", flush=True)


def cifar_epoch(root: str, device, precision: str, threads: int) -> dict | None:
    """One real cifar10_lt ResNet-32 epoch (the job's defaults: crop+flip, batch 128) as a job."""
    from lossbench.train import run_in_process

    if not os.path.isdir(os.path.join(root, "cifar-10-batches-py")):
        return None
    with tempfile.TemporaryDirectory() as tmp:
        record = run_in_process([
            "data=cifar10_lt", f"data.root={root}", "data.val_fraction=0", "data.download=false", "model=resnet32",
            "trainer.max_epochs=1", f"trainer.precision={precision}", f"trainer.accelerator={device.type}",
            "trainer.devices=1", f"trainer.threads={threads}", *QUIET], tmp)
    if record.get("status") != "completed":
        print(f"cifar10_lt epoch failed: {record.get('error')}")
        return None
    return {**record["throughput"], "test_images": record["dataset"]["num_test"]}


def median_of(runs: list, key=lambda r: r) -> float:
    return statistics.median(key(r) for r in runs)


def main() -> None:
    import lightning  # noqa: F401  (first: importing it resets its loggers' levels)

    from lossbench.sweep.runner import quiet_lightning

    with quiet_lightning():  # no "GPU available" lines between the rows
        bench()


def bench() -> None:
    from lossbench.hardware import cpu_cores

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--precision", default="auto")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--threads", type=int, default=cpu_cores())
    p.add_argument("--models", default=",".join(CASES))
    p.add_argument("--options", action="store_true")
    p.add_argument("--cifar-root", default=os.environ.get("LOSSBENCH_DATA", "data"))
    p.add_argument("--markdown", action="store_true")
    p.add_argument("--evidence", action="store_true", help="the ResNet-32 figures of scripts/gpu-evidence.sh")
    p.add_argument("--tiny", action="store_true", help="with --evidence: the quick CPU rehearsal")
    p.add_argument("--json", type=Path, help="with --evidence: write the figures to this JSON file")
    p.add_argument("--deadline-s", type=float, default=1e9, help="with --evidence: start nothing after this many s")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    from lossbench.hardware import auto_precision

    if args.evidence:
        import json

        figures = evidence(device, args.threads, args.tiny, time.time() + args.deadline_s)
        text = json.dumps(figures, indent=2)
        if args.json:
            args.json.write_text(text + "\n")
        print(text)
        return

    precision = auto_precision(device.type) if args.precision == "auto" else args.precision
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    print(f"# bench_train {datetime.date.today()} device={device} ({name}) precision={precision} "
          f"threads={args.threads} torch={torch.__version__} reps={args.reps}", flush=True)
    rows = []
    for model in args.models.split(","):
        size, channels, batch, steps = CASES[model]
        overrides = job_overrides(model, device, precision, args.threads)
        cfg = compose_job(overrides)
        ours, minimal, plain = [], [], []
        for _ in range(args.reps):  # alternate, so that a slow spell of the machine hits all three
            ours.append(lossbench_path(overrides))
            minimal.append(minimal_lightning(cfg, device, precision))
            plain.append(plain_loop(cfg, device, precision))
        o, e = median_of(ours, lambda r: r[0]), median_of(ours, lambda r: r[1])
        m, q = median_of(minimal), median_of(plain)
        rows.append((model, f"{size}x{size}x{channels}", batch, steps, o, m, q, q / o, e))
        print(f"{model:<10} {size}x{size}x{channels} b{batch}: lossbench {o:8.1f} img/s  minimal Lightning "
              f"{m:8.1f}  plain {q:8.1f}  lossbench/plain time {q / o:5.3f}  eval {e:8.1f} img/s", flush=True)
    if args.markdown:
        print("\n| model | input | batch | batches/epoch | lossbench img/s | minimal Lightning img/s | plain loop img/s "
              "| lossbench / plain time | eval img/s |")
        print("|---|---|---|---|---|---|---|---|---|")
        for model, shape, batch, steps, o, m, q, r, e in rows:
            print(f"| {model} | {shape} | {batch} | {steps} | {o:.1f} | {m:.1f} | {q:.1f} | {r:.3f} | {e:.1f} |")
    if args.options:
        options(device, precision, args.threads, args.reps)
    epoch = cifar_epoch(args.cifar_root, device, precision, args.threads)
    if epoch:
        print(f"cifar10_lt resnet32, one real epoch: training {epoch['train_epoch_s']:.1f} s "
              f"({epoch['train_images_per_s']:.0f} img/s), test pass {epoch['eval_s']:.1f} s "
              f"({epoch['test_images'] / epoch['eval_s']:.0f} img/s); "
              f"200 epochs of training ~ {epoch['train_epoch_s'] * 200 / 3600:.2f} h")
    else:
        print(f"cifar10_lt: no CIFAR-10 files under {args.cifar_root} (python ../shared/tools/cifar10_batches.py DIR)")


def options(device, precision: str, threads: int, reps: int) -> None:
    """channels_last and the evaluation batch size through real jobs; inference_mode against
    no_grad in a forward-only loop. Alternating repetitions, medians."""
    jobs = {(model, flag): job_overrides(model, device, precision, threads, [f"trainer.channels_last={flag}"])
            for model in ("cnn8", "resnet32") for flag in ("false", "true")}
    jobs["resnet32", "eval 1024"] = job_overrides("resnet32", device, precision, threads, ["data.eval_batch_size=1024"])
    runs = {key: [] for key in jobs}
    for _ in range(reps):
        for key, overrides in jobs.items():
            runs[key].append(lossbench_path(overrides))
    for model in ("cnn8", "resnet32"):
        plain, nhwc = (median_of(runs[model, flag], lambda r: r[0]) for flag in ("false", "true"))
        print(f"{model} training, trainer.channels_last false {plain:.1f} img/s, true {nhwc:.1f} img/s "
              f"({nhwc / plain:.3f}x)")
    small, large = median_of(runs["resnet32", "true"], lambda r: r[1]), median_of(runs["resnet32", "eval 1024"], lambda r: r[1])
    print(f"resnet32 evaluation, data.eval_batch_size 256 {small:.1f} img/s, 1024 {large:.1f} img/s ({small / large:.3f}x)")
    sam_row(device, precision, threads, reps)
    cfg = compose_job(jobs["resnet32", "true"])
    speeds = {mode: [] for mode in ("no_grad", "inference_mode")}
    for _ in range(reps):
        for mode in speeds:
            speeds[mode].append(eval_speed(cfg, device, precision, inference=mode == "inference_mode", reps=1))
    no_grad, inference = median_of(speeds["no_grad"]), median_of(speeds["inference_mode"])
    print(f"resnet32 forward over the test images, no_grad {no_grad:.1f} img/s, inference_mode {inference:.1f} img/s "
          f"({inference / no_grad:.3f}x)")


if __name__ == "__main__":
    main()
