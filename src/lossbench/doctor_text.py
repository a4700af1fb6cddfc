"""The terminal form of `lossbench doctor`'s facts (doctor.report)."""
from __future__ import annotations

from pathlib import Path


def _yes(value) -> str:
    return "yes" if value else "no"


def render(facts: dict, data_root: Path) -> str:
    v = facts["versions"]
    lines = ["versions", f"  python {v['python']}, torch {v['torch']} (CUDA {v['cuda'] or '-'}, cuDNN {v['cudnn'] or '-'})"]
    lines.append("  " + ", ".join(f"{name} {version or 'MISSING'}" for name, version in v.items()
                                  if name not in ("python", "torch", "cuda", "cudnn")))
    cpu = facts["devices"]["cpu"]
    lines += ["devices", f"  CPU: {cpu['model']}, {cpu['cores']} cores for this process, native bf16: "
              f"{', '.join(cpu['bf16_flags']) or 'no (emulated)'}"]
    for gpu in facts["devices"]["gpus"]:
        lines.append(f"  GPU {gpu['index']}: {gpu['name']}, {gpu['memory_gib']} GiB, compute capability "
                     f"{gpu['capability']}, native bf16: {_yes(gpu['native_bf16'])}")
    if not facts["devices"]["gpus"]:
        lines.append("  GPU: none visible to torch")
    lines.append(f"  trainer.precision=auto -> {facts['precision_auto']}; trainer.threads=null -> {facts['threads']}")
    lines.append(f"datasets (data.root {data_root})")
    for name, d in facts["datasets"].items():
        if d["found"]:
            check = f", checksums {d['checksums']}" if d["checksums"] else ""
            lines.append(f"  {name:<14} found: {d['where']}{check}")
        else:
            lines.append(f"  {name:<14} not found" + (f" (looked in {', '.join(d['looked_in'])})" if d.get("looked_in") else ""))
    s = facts["slurm"]
    lines.append("cluster")
    if s["sbatch"] and s["conf"]:
        lines.append(f"  SLURM: sbatch {s['sbatch']}, config {s['conf']}, controller {s['controller']}")
    if s["note"]:
        lines.append(f"  SLURM: {s['note']}")
    w = facts["wandb"]
    lines.append(f"  W&B: {'installed' if w['installed'] else 'not installed (logger=wandb unavailable)'}, mode "
                 f"{w['mode']}, API key {'found' if w['api_key'] else 'not found'}")
    if "losses" in facts:
        lines += [f"losses on this device at {facts['precision_auto']} against float64 (N=256, C=10 and 100)",
                  f"  {'loss':<22} {'finite':>6} {'rel err value':>14} {'rel err grad':>13}"]
        for name, r in facts["losses"].items():
            lines.append(f"  {name:<22} {_yes(r['finite']):>6} {r['max_rel_err_value']:>14.1e} "
                         f"{r['max_rel_err_grad']:>13.1e}")
    lines.append("ready: " + ("yes" if facts["ready"] else "no (" + "; ".join(facts["problems"]) + ")"))
    return "\n".join(lines)
