"""The report's plots (matplotlib, Agg backend, no display needed), one set per setting, each saved
as PDF and as PNG at `DPI` dots per inch:

  per_class    per-class test accuracy against training-class size (log x), one line per method:
               mean over seeds, band = ± sample std, clipped to 0..100 (long-tailed settings only: class sizes
               differing by more than 1.5x);
  reliability  reliability diagrams, one panel per method: accuracy per confidence bin (bins pooled
               over seeds), the bin's mean confidence, the diagonal, and below each the number of
               test predictions per bin; the title's ECE is the table's (mean ± std over seeds);
  curves       training loss and validation accuracy per epoch (metrics.csv): mean over seeds,
               band = ± sample std; the loss of each method is divided by its own first-epoch mean,
               so that losses of very different scale (LDAM's scaled logits) share one axis;
  param        for a loss run at three or more values of one parameter (poly1 epsilon, focal gamma,
               ...): final test accuracy and balanced accuracy against it, the parameter named on
               the axis, error bars = ± sample std over seeds.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

from lossbench.overrides import slug
from lossbench.report.aggregate import Row, multilabel, stat

MAX_PANELS = 16
DPI = 300  # journals ask for 300; the PNG stores it as pixels per metre (299.9994 read back)


def _figure(width: float, height: float, ncols: int = 1, nrows: int = 1, **kw):
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, [ax for line in axes for ax in line]


def _save(fig, path: Path) -> Path:
    """path.png and path.pdf; returns the PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    png, pdf = path.parent / f"{path.name}.png", path.parent / f"{path.name}.pdf"  # not with_suffix: "rho_0.5"
    fig.savefig(png, dpi=DPI)
    fig.savefig(pdf)
    return png


def _mean_std(samples: list[list[float]]) -> tuple[list[float], list[float]]:
    """Per position: mean and sample std (0 for one sample) over the samples."""
    means, stds = [], []
    for values in zip(*samples):
        s = stat(values)
        means.append(s.mean)
        stds.append(s.std or 0.0)
    return means, stds


def _band(ax, xs, mean, std, label, lo=-math.inf, hi=math.inf, **kw):
    """A mean line with a ± std band, the band clipped to [lo, hi] (an accuracy stays in 0..100)."""
    line, = ax.plot(xs, mean, linewidth=1.3, label=label, **kw)
    if any(std):
        ax.fill_between(xs, [max(lo, m - s) for m, s in zip(mean, std)], [min(hi, m + s) for m, s in zip(mean, std)],
                        color=line.get_color(), alpha=0.18, linewidth=0)
    return line


def _seeds_note(rows: list[Row]) -> str:
    ns = sorted({len(r.completed) for r in rows if r.completed})
    if ns == [1]:
        return "n = 1 seed: no spread shown"
    return f"n = {ns[0]} seeds" if len(ns) == 1 else f"n = {ns[0]}-{ns[-1]} seeds"


def per_class(rows: list[Row], path: Path) -> Path | None:
    rows = [r for r in rows if r.completed]
    if not rows:
        return None
    counts = rows[0].completed[0].results.get("class_counts") or []
    if not counts or min(counts) <= 0 or max(counts) / min(counts) < 1.5:
        return None
    key, what = ("test_per_class_ap", "average precision") if multilabel(rows) else ("test_per_class_acc", "accuracy")
    order = sorted(range(len(counts)), key=lambda c: -counts[c])
    fig, (ax,) = _figure(7, 4.2)
    for row in rows:
        per_seed = [(r.results.get("final") or {}).get(key) for r in row.completed]
        per_seed = [[100 * p[c] for c in order] for p in per_seed
                    if p and len(p) == len(counts) and all(p[c] is not None for c in order)]
        if per_seed:
            mean, std = _mean_std(per_seed)
            _band(ax, [counts[c] for c in order], mean, std, row.label, 0.0, 100.0, marker="o", markersize=3)
    ax.set_xscale("log")
    ax.set_ylim(-3, 103)
    ax.set_xlabel("training images of the class (log scale)")
    ax.set_ylabel(f"test {what} of the class (%), final epoch")
    ax.set_title(f"Per-class {what} vs class size -- {rows[0].setting}\n"
                 f"line: mean over seeds, band: ± sample std ({_seeds_note(rows)})", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)


def pooled_bins(row: Row):
    """(bins, count, mean confidence, accuracy) per bin, pooled over the row's seeds (final epoch)."""
    blocks = [((r.results.get("reliability") or {}).get("final")) for r in row.completed]
    blocks = [b for b in blocks if b and b.get("count")]
    if not blocks:
        return None
    n = blocks[0]["bins"]
    count = [sum(b["count"][i] for b in blocks) for i in range(n)]
    conf = [sum(b["count"][i] * b["confidence"][i] for b in blocks) / count[i] if count[i] else 0.0 for i in range(n)]
    acc = [sum(b["count"][i] * b["accuracy"][i] for b in blocks) / count[i] if count[i] else 0.0 for i in range(n)]
    return n, count, conf, acc


def _ece_title(row: Row) -> str:
    """The table's ECE (each seed's own, torchmetrics' L1 ECE), mean ± sample std over seeds."""
    s = row.final["test_ece"]
    if s.mean is None:
        return "ECE n/a"
    if s.std is None:
        return f"ECE {100 * s.mean:.2f}% (1 seed)"
    return f"ECE {100 * s.mean:.2f} ± {100 * s.std:.2f}% (n={s.n})"


def reliability(rows: list[Row], path: Path) -> Path | None:
    pooled = [(row, pooled_bins(row)) for row in rows if row.completed]
    pooled = [(row, p) for row, p in pooled if p][:MAX_PANELS]
    if not pooled:
        return None
    ncols = min(4, len(pooled))
    nrows = math.ceil(len(pooled) / ncols)
    fig, axes = _figure(3.2 * ncols, 4.0 * nrows, ncols, 2 * nrows,
                        gridspec_kw={"height_ratios": [3, 1] * nrows})
    handles = None
    for i, (row, (n, count, conf, acc)) in enumerate(pooled):
        top, bottom = axes[(i // ncols) * 2 * ncols + i % ncols], axes[(i // ncols) * 2 * ncols + ncols + i % ncols]
        edges = [k / n for k in range(n)]
        filled = [k for k in range(n) if count[k]]
        bars = top.bar([edges[k] for k in filled], [acc[k] for k in filled], width=1 / n, align="edge",
                       edgecolor="black", linewidth=0.4, color="tab:blue", alpha=0.8, label="accuracy in the bin")
        ticks = top.scatter([conf[k] for k in filled], [conf[k] for k in filled], marker="_", s=80, color="tab:red",
                            zorder=3, label="mean confidence in the bin")
        diag, = top.plot([0, 1], [0, 1], "k--", linewidth=0.8, label="perfect calibration")
        handles = [bars, ticks, diag]
        top.set_xlim(0, 1)
        top.set_ylim(0, 1)
        top.set_title(f"{row.label}\n{_ece_title(row)}", fontsize=8)
        top.set_ylabel("accuracy", fontsize=8)
        top.tick_params(labelsize=7, labelbottom=False)
        bottom.bar(edges, count, width=1 / n, align="edge", color="0.55", edgecolor="black", linewidth=0.3)
        bottom.set_yscale("symlog", linthresh=1)
        bottom.set_xlim(0, 1)
        bottom.set_xlabel("confidence (max softmax probability)", fontsize=8)
        bottom.set_ylabel("predictions", fontsize=7)
        bottom.tick_params(labelsize=6)
    for i in range(len(pooled), nrows * ncols):
        axes[(i // ncols) * 2 * ncols + i % ncols].axis("off")
        axes[(i // ncols) * 2 * ncols + ncols + i % ncols].axis("off")
    fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=7, frameon=False)
    fig.suptitle(f"Reliability diagrams (final epoch, test set; bins pooled over seeds) -- {rows[0].setting}\n"
                 "lower panels: test predictions per bin (log scale); ECE: per seed as in the table, "
                 "mean ± sample std", fontsize=9)
    return _save(fig, path)


def read_curve(run_dir: Path) -> dict[int, dict[str, float]]:
    out = {}
    try:
        with (run_dir / "metrics.csv").open() as f:
            for rec in csv.DictReader(f):
                out[int(float(rec["epoch"]))] = {k: float(v) for k, v in rec.items()
                                                 if v not in ("", None) and k != "epoch"}
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return out


def _curve(runs: list[dict], key: str, scale: float = 1.0):
    """(epochs every seed has, mean, std) of one metrics.csv column."""
    epochs = sorted(set.intersection(*({e for e in c if key in c[e]} for c in runs)))
    samples = [[scale * c[e][key] for e in epochs] for c in runs]
    mean, std = _mean_std(samples) if epochs else ([], [])
    return epochs, mean, std


def curves(rows: list[Row], path: Path) -> Path | None:
    series = []
    for row in rows:
        runs = [c for c in (read_curve(r.run_dir) for r in row.completed) if c]
        if runs:
            series.append((row.label, runs))
    if not series:
        return None
    fig, (loss_ax, acc_ax) = _figure(11, 4.0, ncols=2)
    key, what = ("val_map", "validation mAP") if multilabel(rows) else ("val_acc", "validation accuracy")
    for label, runs in series:
        epochs, mean, std = _curve(runs, "train_loss")
        if epochs and mean[0]:
            first = mean[0]
            _band(loss_ax, epochs, [m / first for m in mean], [s / first for s in std],
                  f"{label} (first epoch {first:.3g})", marker=".")
        epochs, mean, std = _curve(runs, key, 100.0)
        if epochs:
            _band(acc_ax, epochs, mean, std, label, 0.0, 100.0, marker=".")
    loss_ax.set_ylabel("training loss / its first-epoch value")
    loss_ax.set_title("Training loss, each method relative to its own first epoch", fontsize=9)
    acc_ax.set_ylabel(f"{what} (%)")
    acc_ax.set_title(what.capitalize(), fontsize=9)
    from matplotlib.ticker import MaxNLocator

    for ax in (loss_ax, acc_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"Training curves -- {rows[0].setting}: line = mean over seeds, band = ± sample std "
                 f"({_seeds_note(rows)})", fontsize=10)
    return _save(fig, path)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def param_series(rows: list[Row]) -> list[tuple[str, str, list[tuple[float, Row]]]]:
    """(parameter, label, [(value, row)]) for each loss run at >= 3 values of one numeric parameter,
    the other explicitly set loss options equal."""
    out = []
    prepared = []
    for row in rows:
        if not row.completed:
            continue
        first = row.completed[0]
        prepared.append((row, str(first.results.get("loss")), first.loss_overrides))
    keys = sorted({k for _, _, opts in prepared for k in opts})
    for key in keys:
        groups: dict[tuple, list[tuple[float, Row]]] = {}
        for row, loss, opts in prepared:
            value = _number(opts.get(key))
            if value is None:
                continue
            rest = tuple(sorted((k, v) for k, v in opts.items() if k != key))
            groups.setdefault((loss, rest, tuple(sorted(row.differs.items()))), []).append((value, row))
        for (loss, rest, _), points in groups.items():
            if len({v for v, _ in points}) >= 3:
                label = loss + (f" ({', '.join(f'{k}={v}' for k, v in rest)})" if rest else "")
                out.append((key, label, sorted(points, key=lambda p: p[0])))
    return out


def params(rows: list[Row], path: Path) -> Path | None:
    series = param_series(rows)
    if not series:
        return None
    names = list(dict.fromkeys(key for key, _, _ in series))
    fig, axes = _figure(10, 3.8 * len(names), ncols=2, nrows=len(names))
    for i, name in enumerate(names):
        shown = ((("test_map", "test mAP (%)"), ("test_map_tail", "test mAP of the tail classes (%)"))
                 if multilabel(rows) else
                 (("test_acc", "test accuracy (%)"), ("test_balanced_acc", "balanced test accuracy (%)")))
        for (metric, label), ax in zip(shown, (axes[2 * i], axes[2 * i + 1])):
            for key, loss, points in series:
                if key != name:
                    continue
                xs = [v for v, _ in points]
                means = [100 * (row.final[metric].mean or 0.0) for _, row in points]
                stds = [100 * (row.final[metric].std or 0.0) for _, row in points]
                ax.errorbar(xs, means, yerr=stds, marker="o", capsize=3, linewidth=1.2, label=loss)
            ax.set_xlabel(f"{name} (loss.{name})")
            ax.set_ylabel(f"{label}, final epoch")
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=7)
    fig.suptitle(f"Test accuracy vs loss parameter -- {rows[0].setting}: mean, error bars = ± sample std "
                 f"over seeds ({_seeds_note(rows)})", fontsize=10)
    return _save(fig, path)


PLOTS = (("per_class", per_class, "Per-class test accuracy (multi-label: average precision) against training-class size"),
         ("reliability", reliability, "Reliability diagrams"),
         ("curves", curves, "Training loss and validation accuracy per epoch"),
         ("param", params, "Test accuracy against the loss parameter"))


def write_plots(all_rows: dict[str, list[Row]], plots_dir: Path) -> dict[str, list[tuple[str, Path]]]:
    """experiment -> [(caption, PNG path)]; each PNG has a PDF beside it."""
    out = {}
    for exp, rows in all_rows.items():
        figures = []
        for setting in dict.fromkeys(r.setting for r in rows):
            in_setting = [r for r in rows if r.setting == setting]
            for kind, draw, caption in PLOTS:
                path = draw(in_setting, plots_dir / slug(exp) / f"{slug(setting)}_{kind}")
                if path:
                    figures.append((f"{caption} -- {setting}", path))
        out[exp] = figures
    return out
