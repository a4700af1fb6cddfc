"""The test results of a job, sent to every external logger once testing is done (the per-epoch
`train_loss`, `val_*` and lr reach them through Lightning during training).

For each of `final` and `best` (the final-epoch and best-on-validation weights):
  scalars     `{which}/test_acc`, `{which}/test_balanced_acc`, ... (results.json's blocks);
  per class   TensorBoard: a histogram `{which}/test_per_class_acc` and a text table; W&B: a table
              `test/per_class_acc` (class, training images, final and best accuracy); any other
              logger: one scalar per class `{which}/test_per_class_acc/{class}`;
  reliability the reliability diagram `{which}/test_reliability` as an image, for the loggers
              that take images (TensorBoard, W&B).
"""
from __future__ import annotations

from collections.abc import Sequence

from lossbench.results import ALL_SCALAR_TEST_METRICS


def scalar_results(out: dict) -> dict[str, float]:
    """`final/test_acc`, `best/test_acc`, ... of `_train`'s output (None values left out)."""
    scalars = {}
    for which in ("final", "best"):
        block = out.get(which) or {}
        scalars.update({f"{which}/{k}": float(block[k]) for k in ALL_SCALAR_TEST_METRICS if block.get(k) is not None})
    return scalars


def reliability_figure(bins: dict, title: str):
    """Accuracy per confidence bin against the diagonal of perfect calibration, with bin counts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = bins["bins"]
    width = 1.0 / n
    centres = [(b + 0.5) * width for b in range(n)]
    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=100)
    ax.bar(centres, bins["accuracy"], width=width * 0.9, color="tab:blue", label="accuracy of the bin")
    ax.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfect calibration")
    for x, y, count in zip(centres, bins["accuracy"], bins["count"]):
        if count:
            ax.text(x, y + 0.01, str(count), ha="center", va="bottom", fontsize=6)
    ax.set(xlim=(0, 1), ylim=(0, 1.08), xlabel="confidence", ylabel="accuracy", title=title)
    ax.legend(loc="upper left", fontsize=7, title="numbers: predictions per bin", title_fontsize=7)
    fig.tight_layout()
    return fig


def log_test_results(loggers: Sequence, out: dict, class_counts: Sequence[int], step: int) -> None:
    """Send `out` (the test part of `_train`'s output) to every logger; call on global rank 0."""
    if not loggers:
        return
    from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger

    scalars = scalar_results(out)
    per_class = {w: (out.get(w) or {}).get("test_per_class_acc") for w in ("final", "best")}
    figures = {w: reliability_figure(bins, f"{w} weights: test reliability")
               for w, bins in (out.get("reliability") or {}).items() if bins}
    try:
        for logger in loggers:
            logger.log_metrics(scalars, step=step)
            if isinstance(logger, TensorBoardLogger):
                _tensorboard(logger.experiment, per_class, class_counts, figures, step)
            elif isinstance(logger, WandbLogger):
                _wandb(logger.experiment, per_class, class_counts, figures)
            else:
                logger.log_metrics({f"{w}/test_per_class_acc/{c}": float(a) for w, accs in per_class.items()
                                    for c, a in enumerate(accs or [])}, step=step)
            logger.save()
    finally:
        import matplotlib.pyplot as plt

        for fig in figures.values():
            plt.close(fig)


def _table_rows(per_class: dict, class_counts: Sequence[int]) -> list[list]:
    final, best = per_class.get("final") or [], per_class.get("best") or []
    return [[c, int(n), final[c] if c < len(final) else None, best[c] if c < len(best) else None]
            for c, n in enumerate(class_counts)]


def _tensorboard(writer, per_class: dict, class_counts, figures: dict, step: int) -> None:
    import numpy as np

    for which, accs in per_class.items():
        if accs:
            writer.add_histogram(f"{which}/test_per_class_acc", np.asarray(accs, dtype=np.float64), step,
                                 bins=np.linspace(0.0, 1.0, 21))
    lines = ["| class | training images | final acc | best acc |", "|---|---|---|---|"]
    lines += [f"| {c} | {n} | {_cell_text(f)} | {_cell_text(b)} |" for c, n, f, b in _table_rows(per_class, class_counts)]
    writer.add_text("test/per_class_acc", "\n".join(lines), step)
    for which, fig in figures.items():
        writer.add_figure(f"{which}/test_reliability", fig, step, close=False)
    writer.flush()


def _wandb(run, per_class: dict, class_counts, figures: dict) -> None:
    import wandb

    table = wandb.Table(columns=["class", "training_images", "final_acc", "best_acc"],
                        data=_table_rows(per_class, class_counts))
    run.log({"test/per_class_acc": table, **{f"{w}/test_reliability": wandb.Image(fig) for w, fig in figures.items()}})


def _cell_text(value) -> str:
    return "" if value is None else f"{value:.4f}"
