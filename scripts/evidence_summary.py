"""summary.md of a scripts/gpu-evidence.sh run: what ran where, every figure, and what did not finish."""
from __future__ import annotations

# Cao et al. 2019, Table 2, CIFAR-10-LT rho=100: top-1 accuracy % (100 - the table's error, 29.64 and 22.97)
PUBLISHED = {"CE": 70.36, "LDAM-DRW": 77.03}
SOURCE = "Cao et al., NeurIPS 2019, Table 2 (CIFAR-10-LT, rho = 100)"


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def _versions(facts: dict | None) -> str:
    if not facts:
        return "(doctor did not finish)"
    v = facts["versions"]
    return (f"python {v['python']}, torch {v['torch']} (CUDA {v['cuda'] or '-'}, cuDNN {v['cudnn'] or '-'}), "
            f"lightning {v['lightning']}, torchmetrics {v['torchmetrics']}, hydra-core {v['hydra-core']}")


def _losses(facts: dict | None) -> list[str]:
    losses = (facts or {}).get("losses")
    if not losses:
        return ["(not measured)"]
    bad = [name for name, r in losses.items() if not r["finite"]]
    worst = max(losses.items(), key=lambda kv: kv[1]["max_rel_err_grad"] if kv[1]["finite"] else -1)
    return [f"{len(losses)} losses forward and backward at {facts['precision_auto']} against float64 on the CPU "
            f"(N = 256, C = 10 and 100): " + (f"not finite: {', '.join(bad)}." if bad else "all finite."),
            f"Largest relative gradient error: {worst[0]} {worst[1]['max_rel_err_grad']:.1e}; largest value error: "
            f"{max(r['max_rel_err_value'] for r in losses.values() if r['finite']):.1e} (doctor.json has every loss)."]


def _bench(bench: dict | None) -> list[str]:
    if not bench:
        return ["(not measured)"]
    lines = [f"ResNet-32, batch 128, synthetic 32x32 images on the device (gpu loader), "
             f"{bench['batches_per_epoch']} batches per epoch, through real jobs:", "",
             "| variant | training img/s | evaluation img/s |", "|---|---|---|"]
    for name, train in bench["train_images_per_s"].items():
        lines.append(f"| {name} | {train:.0f} | {bench['eval_images_per_s'][name]:.0f} |")
    if bench["jobs_per_gpu"]:
        lines += ["", "| jobs sharing the GPU | summed training img/s |", "|---|---|"]
        lines += [f"| {k} | {v:.0f} |" for k, v in bench["jobs_per_gpu"].items()]
    lines += [f"- skipped: {name}: {why}" for name, why in bench["skipped"].items()]
    return lines


def _comparison(records: dict, tiny: bool) -> list[str]:
    lines = ["| method | status | epochs | final test acc % | best test acc % | published % | job wall s | img/s |",
             "|---|---|---|---|---|---|---|---|"]
    for method, r in records.items():
        if r is None:
            lines.append(f"| {method} | no record | - | - | - | {PUBLISHED[method]} | - | - |")
            continue
        final, best = (r.get("final") or {}).get("test_acc"), (r.get("best") or {}).get("test_acc")
        speed = (r.get("throughput") or {}).get("train_images_per_s")
        lines.append(f"| {method} | {r['status']} | {(r.get('last_epoch') or -1) + 1} | {_pct(final)} | {_pct(best)} "
                     f"| {PUBLISHED[method]} | {r.get('wall_time_s') or 0:.0f} | {speed or '-'} |")
    finals = {m: ((r or {}).get("final") or {}).get("test_acc") for m, r in records.items()}
    if all(v is not None for v in finals.values()) and all((r or {}).get("status") == "completed" for r in records.values()):
        gap = 100 * (finals["LDAM-DRW"] - finals["CE"])
        published = PUBLISHED["LDAM-DRW"] - PUBLISHED["CE"]
        lines += ["", f"Gap LDAM-DRW - CE (final epoch): **{gap:+.2f}** points; published: {published:+.2f} "
                      f"(CE {PUBLISHED['CE']}, LDAM-DRW {PUBLISHED['LDAM-DRW']}; {SOURCE}, best test epoch of one run)."]
        if tiny:
            lines.append("(--tiny: smoke jobs on synthetic data; the gap says nothing about the paper.)")
    else:
        lines += ["", "No gap: both jobs must complete their 200 epochs."]
    return lines


def render(*, device: str, date: str, args, facts, bench, records: dict, sweep_s: float, unfinished: list[str],
           took: float) -> str:
    mode = "the CPU rehearsal, --cpu --tiny" if args.tiny else ("on the CPU" if args.cpu else "on the GPU")
    lines = [f"# lossbench evidence: {device}, {date}", "",
             f"- run: `scripts/gpu-evidence.sh` ({mode}), budget {args.budget:.0f} s, took {took:.0f} s",
             f"- versions: {_versions(facts)}",
             f"- precision=auto: {(facts or {}).get('precision_auto', '-')}", "",
             "## 1. Every loss on this device (`lossbench doctor --losses`)", "", *_losses(facts), "",
             "## 2. Training speed (`benchmarks/bench_train.py --evidence`)", "", *_bench(bench), "",
             f"## 3. LDAM-DRW against CE, CIFAR-10-LT rho = 100, seed 0 (`lossbench sweep ldam_drw_cifar_lt`, {sweep_s:.0f} s)",
             "", f"Data: {'synthetic (--tiny)' if args.tiny else f'CIFAR-10 files under {args.cifar_root}'}.", "",
             *_comparison(records, args.tiny), "", "## Not finished", ""]
    lines += [f"- {u}" for u in unfinished] or ["- nothing: every step finished."]
    return "\n".join(lines) + "\n"
