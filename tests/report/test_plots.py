"""What the plots show, read back from the matplotlib figures: legends for every mark of a
reliability diagram, its ECE taken from the table (mean ± std over seeds), bin counts, seed bands,
losses of different scale normalised, the swept parameter named on the axis."""
from __future__ import annotations

import statistics

import pytest

from lossbench import report
from lossbench.report import plots


@pytest.fixture
def figures(monkeypatch):
    """Every figure the plots save, by file stem."""
    saved = {}
    original = plots._save

    def keep(fig, path):
        saved[path.name] = fig
        return original(fig, path)

    monkeypatch.setattr(plots, "_save", keep)
    return saved


ACCS = {"ce": [0.70, 0.74, 0.75], "ldam": [0.80, 0.78, 0.83]}


@pytest.fixture
def two_methods(tmp_path, make_run):
    for method, accs in ACCS.items():
        for seed, acc in enumerate(accs):
            make_run(tmp_path, f"{method}_{seed}", method=method, loss=method, seed=seed, acc=acc, best_acc=acc,
                     overrides=[f"loss={method}"], loss_scale=50.0 if method == "ldam" else 1.0)
    return tmp_path


def test_reliability_legend_bin_counts_and_the_tables_ece(two_methods, figures):
    report.build_report(two_methods, print_table=False)
    fig = figures["toy_rho_50_reliability"]
    legend_texts = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    assert legend_texts == ["accuracy in the bin", "mean confidence in the bin", "perfect calibration"]
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    for method, accs in ACCS.items():
        ece = [0.1 * a for a in accs]  # the fixture's per-seed test_ece, as in the table
        expected = f"ECE {100 * statistics.mean(ece):.2f} ± {100 * statistics.stdev(ece):.2f}% (n=3)"
        assert f"{method}\n{expected}" in titles
    # the count panels: 6 + 4 predictions per seed in bins 12 and 14, pooled over 3 seeds
    count_axes = [ax for ax in fig.axes if ax.get_ylabel() == "predictions"]
    assert len(count_axes) == 2
    heights = [p.get_height() for p in count_axes[0].patches]
    assert heights[12] == 18 and heights[14] == 12 and sum(heights) == 30


def test_curves_normalise_each_loss_and_show_the_seed_band(two_methods, figures):
    report.build_report(two_methods, print_table=False)
    loss_ax, acc_ax = figures["toy_rho_50_curves"].axes
    lines = {line.get_label().split(" (")[0]: line for line in loss_ax.get_lines()}
    # fixture loss of seed s at epoch e: scale * (2 / (e + 1) + 0.01 s); mean over s = 0, 1, 2
    for method, scale in (("ce", 1.0), ("ldam", 50.0)):
        mean = [scale * (2 / (e + 1) + 0.01) for e in range(10)]
        assert list(lines[method].get_ydata()) == pytest.approx([m / mean[0] for m in mean])
        assert f"first epoch {mean[0]:.3g}" in lines[method].get_label()
    assert loss_ax.get_ylabel() == "training loss / its first-epoch value"
    assert len(loss_ax.collections) == 2  # one ± std band per method (the seeds differ)
    assert "mean over seeds" in figures["toy_rho_50_curves"].get_suptitle()


def test_per_class_band_over_seeds(two_methods, figures):
    report.build_report(two_methods, print_table=False)
    (ax,) = figures["toy_rho_50_per_class"].axes
    ce = next(line for line in ax.get_lines() if line.get_label() == "ce")
    # class c: acc + 0.1 - 0.05 c, capped at 1; class sizes sorted descending = class order
    expected = [100 * statistics.mean(min(1.0, a + 0.1 - 0.05 * c) for a in ACCS["ce"]) for c in range(5)]
    assert list(ce.get_ydata()) == pytest.approx(expected)
    assert len(ax.collections) == 2 and "band: ± sample std" in ax.get_title()


def test_parameter_plot_names_the_parameter(tmp_path, make_run, figures):
    for gamma in (0.5, 1.0, 2.0):
        for seed in (0, 1):
            make_run(tmp_path, f"g{gamma}_{seed}", method="", loss="focal", seed=seed, acc=0.6 + gamma / 10,
                     best_acc=None, overrides=["loss=focal", f"loss.gamma={gamma}"], sweep=None)
    written = report.build_report(tmp_path, print_table=False)
    fig = next(f for name, f in figures.items() if name.endswith("_param"))
    assert [ax.get_xlabel() for ax in fig.axes] == ["gamma (loss.gamma)"] * 2
    assert any(p.name.endswith("_param.png") for p in written["plots"])


def test_slug_keeps_a_decimal_point_in_the_file_name(tmp_path, make_run):
    make_run(tmp_path, "r", method="ce", loss="ce", seed=0, acc=0.7, best_acc=0.7, overrides=["loss=ce"],
             setting="noise=0.5")
    written = report.build_report(tmp_path, print_table=False)
    assert sorted(p.name for p in written["plots"])[0] == "noise_0.5_curves.png"
    assert (written["plots"][0].parent / "noise_0.5_curves.pdf").is_file()


def test_a_multilabel_sweep_plots_average_precision_and_validation_map(tmp_path, make_run, figures):
    """A multi-label task's per-class plot is the average precision of each class, its curves validation mAP,
    and its report tables the mAP columns."""
    import json

    aps = {"bce": [0.9, 0.7, 0.5, 0.4, 0.3], "db": [0.9, 0.8, 0.6, 0.5, 0.45]}
    for method, ap in aps.items():
        for seed in (0, 1):
            make_run(tmp_path, f"{method}_{seed}", method=method, loss=method, seed=seed, acc=0.3, best_acc=0.3,
                     overrides=[f"loss={method}"])
            path = tmp_path / f"{method}_{seed}" / "results.json"
            res = json.loads(path.read_text())
            for block in (res["final"], res["best"]):
                block.update(test_balanced_acc=None, test_many_acc=None, test_medium_acc=None, test_map=sum(ap) / 5,
                             test_map_head=ap[0], test_map_medium=ap[2], test_map_tail=ap[4], test_micro_f1=0.5,
                             test_macro_f1=0.4, test_per_class_ap=[a + 0.01 * seed for a in ap])
            path.write_text(json.dumps(res))
            (path.parent / "metrics.csv").write_text("epoch,lr,train_loss,val_map\n" + "".join(
                f"{e},0.1,{1.0 / (e + 1)},{0.4 + 0.02 * e}\n" for e in range(10)))
    written = report.build_report(tmp_path, print_table=False)
    (ax,) = figures["toy_rho_50_per_class"].axes
    assert ax.get_ylabel() == "test average precision of the class (%), final epoch"
    db = next(line for line in ax.get_lines() if line.get_label() == "db")
    assert list(db.get_ydata()) == pytest.approx([100 * (a + 0.005) for a in aps["db"]])
    _, map_ax = figures["toy_rho_50_curves"].axes
    assert map_ax.get_ylabel() == "validation mAP (%)"
    assert list(map_ax.get_lines()[0].get_ydata()) == pytest.approx([100 * (0.4 + 0.02 * e) for e in range(10)])
    markdown = written["markdown"].read_text()
    assert "| mAP | mAP head | mAP med. | mAP tail | micro F1 | macro F1 | ECE |" in markdown
