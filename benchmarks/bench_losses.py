"""Forward+backward time of every loss relative to F.cross_entropy (`make bench-losses`).

For each shape (N, C) in (1024, 100) and (256, 10000), on the current device (cuda if available),
the benchmark alternates blocks of F.cross_entropy(z, y).backward() and loss(z, y).backward() on the
same float32 logits and reports the ratio of the fastest block of each (the least disturbed by other
processes on a shared machine; blocks alternate, so slow drifts hit both alike). Targets (issue #3): every loss <= 2x CE; the CE-like ones (focal,
poly1, ldam, logit_adjust, balanced_softmax, vs) <= 1.3x.

    python benchmarks/bench_losses.py [--device cpu|cuda] [--rounds 15] [--block-ms 20] [--threads 1] [--markdown] [LOSS ...]
"""
from __future__ import annotations

import argparse
import datetime
import platform
import time

import torch
import torch.nn.functional as F

from lossbench.losses import build_loss, list_losses

SHAPES = [(1024, 100), (256, 10000)]
CE_LIKE = {"focal", "poly1", "ldam", "logit_adjust", "balanced_softmax", "vs"}


def target(name: str) -> float:
    return 1.3 if name in CE_LIKE else 2.0


def make_step(fn, z, y, **inputs):
    def step():
        z.grad = None
        fn(z, y, **inputs).backward()
    return step


def needs_inputs(loss_fn, z, feature_dim: int = 64) -> dict:
    """What a loss with `needs` takes beyond (z, y): features [N, 64], indices 0..N-1 (sizing elr's
    buffer), a Linear(64, C) as the model; IB is put past its start epoch so its term is timed."""
    needs, (n, c) = loss_fn.needs, z.shape
    g = torch.Generator().manual_seed(1)
    inputs = {}
    if "features" in needs:
        inputs["features"] = torch.randn(n, feature_dim, generator=g).to(z.device).requires_grad_(True)
    if "indices" in needs:
        loss_fn.bind_training_set(num_samples=n)
        inputs["indices"] = torch.arange(n, device=z.device)
    if "model" in needs:
        inputs["model"] = torch.nn.Linear(feature_dim, c).to(z.device)
    loss_fn.set_epoch(getattr(loss_fn, "start_epoch", 0))
    return inputs


def block_time(step, iters: int, sync) -> float:
    sync()
    start = time.perf_counter()
    for _ in range(iters):
        step()
    sync()
    return time.perf_counter() - start


def measure(loss_fn, shape, device, rounds: int, block_ms: float) -> tuple[float, float]:
    """(ratio of the fastest blocks loss/CE, CE microseconds per step)."""
    n, c = shape
    g = torch.Generator().manual_seed(0)
    z = (torch.randn(n, c, generator=g) * 3).to(device).requires_grad_(True)
    y = torch.randint(0, c, (n,), generator=g).to(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    ce_step = make_step(lambda a, b: F.cross_entropy(a, b), z, y)
    loss_step = make_step(loss_fn, z, y, **needs_inputs(loss_fn, z))
    for step in (ce_step, loss_step):  # warm up
        block_time(step, 5, sync)
    per_ce = block_time(ce_step, 20, sync) / 20
    iters = max(3, int(block_ms / 1e3 / max(per_ce, 1e-7)))
    ce_times, loss_times = [], []
    for _ in range(rounds):
        ce_times.append(block_time(ce_step, iters, sync))
        loss_times.append(block_time(loss_step, iters, sync))
    return min(loss_times) / min(ce_times), min(ce_times) / iters * 1e6


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--block-ms", type=float, default=20.0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: on a shared CPU, more threads make the timings erratic; "
                             "0 keeps torch's default)")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table (for docs/PERFORMANCE.md)")
    parser.add_argument("losses", nargs="*", help="only these losses (default: all)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if args.threads and device.type == "cpu":
        torch.set_num_threads(args.threads)
    names = args.losses or list_losses()

    results, ce_us = {}, {}
    for shape in SHAPES:
        counts = [max(1, int(5000 * 0.01 ** (j / (shape[1] - 1)))) for j in range(shape[1])]  # LT, rho = 100
        for name in names:
            loss_fn = build_loss(name, num_classes=shape[1], class_counts=counts).to(device)
            results[name, shape], ce_us[shape] = measure(loss_fn, shape, device, args.rounds, args.block_ms)

    what = (torch.cuda.get_device_name(device) if device.type == "cuda"
            else f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads")
    print(f"# bench_losses {datetime.date.today()}  device: {device} ({what})  torch {torch.__version__}")
    print("# F.cross_entropy forward+backward: "
          + ", ".join(f"N={n} C={c}: {ce_us[n, c]:.0f} us" for n, c in SHAPES))
    heads = ["loss"] + [f"N={n} C={c}" for n, c in SHAPES] + ["target", "ok"]
    rows = []
    for name in names:
        ratios = [results[name, shape] for shape in SHAPES]
        ok = all(r <= target(name) for r in ratios)
        rows.append([name] + [f"{r:.2f}x" for r in ratios] + [f"<= {target(name)}x", "yes" if ok else "NO"])
    if args.markdown:
        print("| " + " | ".join(heads) + " |")
        print("|" + "|".join(" --- " for _ in heads) + "|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
    else:
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(heads)]
        print("  ".join(h.ljust(w) for h, w in zip(heads, widths)))
        for row in rows:
            print("  ".join(v.ljust(w) for v, w in zip(row, widths)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
