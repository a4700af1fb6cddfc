"""The issue-11 reproduction sweeps: their expected blocks are the reference tables as transcribed
(../shared/reference-tables.md), their recipes are the papers' / reference code's, and each expands
and composes (--dry-run)."""
from __future__ import annotations

import pytest
import torch

from lossbench import sweep
from lossbench.sweep.spec import load_experiment

PAPER_SWEEPS = ["la_synthetic", "la_cifar_lt", "ib_cifar_lt", "calibration"]


def _job(exp, method, setting):
    return next(j for j in exp.jobs(seeds=exp.seeds[:1]) if j.method == method and j.setting == setting)


@pytest.mark.parametrize("name", PAPER_SWEEPS)
def test_dry_run_lists_every_job_and_each_composes(name, tmp_path, capsys):
    exp = load_experiment(name)
    assert sweep.main([name, "--dry-run", "--dir", str(tmp_path / "x")]) == 0
    out = capsys.readouterr().out
    n = len(exp.methods) * len(exp.settings) * len(exp.seeds)
    assert out.splitlines()[0].startswith(f"sweep {name}: {n} jobs = {len(exp.methods)} methods x "
                                          f"{len(exp.settings)} settings x {len(exp.seeds)} seeds")
    assert sum(1 for j in exp.jobs() if f"  {j.name}\n" in out) == n
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("name", PAPER_SWEEPS)
def test_every_paper_row_has_the_papers_own_ce_row_beside_it(name):
    exp = load_experiment(name)
    for block in exp.expected:
        ce = {"la_cifar_lt": "ERM", "ib_cifar_lt": "CE", "calibration": "CE"}.get(name)
        if ce is None:  # la_synthetic: a figure, no numbers; the Bayes error is the reference line
            assert block["values"] == {} and block["references"] == {"Bayes-optimal": 7.86}
            continue
        for row in block["values"].values():
            assert set(row) <= set(block["values"][ce])


def test_la_synthetic_is_the_papers_section_6_1_setting():
    exp = load_experiment("la_synthetic")
    assert len(exp.seeds) == 100 and list(exp.settings) == ["pi(+1)=0.05"]
    margins = {m: [o for o in j.overrides if o.startswith(("loss=", "loss.margin="))]
               for m in exp.methods for j in [_job(exp, m, "pi(+1)=0.05")]}
    assert margins == {"ERM": ["loss=ce"], "adaptive": ["loss=pairwise_margin", "loss.margin=adaptive"],
                       "equalised": ["loss=pairwise_margin", "loss.margin=equalised"],
                       "logit-adjusted": ["loss=pairwise_margin", "loss.margin=logit_adjusted"]}
    job = _job(exp, "ERM", "pi(+1)=0.05")
    assert {"data=gaussian2d", "model=affine", "data.val_fraction=0", "data.priors=[0.95,0.05]"} <= set(job.overrides)
    (block,) = exp.expected
    assert (block["metric"], block["form"], block["epoch"]) == ("test_balanced_acc", "error_percent", "final")
    assert any("SGD lr 0.5" in line for line in exp.header)  # the optimiser is stated


def test_la_cifar_lt_expected_block_is_tables_3_and_5():
    exp = load_experiment("la_cifar_lt")
    (block,) = exp.expected
    assert (block["metric"], block["form"], block["epoch"]) == ("test_balanced_acc", "error_percent", "final")
    table = {"ERM": (27.16, 36.54), "weight normalisation": (24.02, 30.86), "adaptive (LDAM)": (26.65, 34.61),
             "equalised (EQL)": (26.02, 31.42), "LA post-hoc": (22.60, 28.66), "LA loss": (22.33, 27.57)}
    assert {m: (r["exp rho=100"], r["step rho=100"]) for m, r in block["values"].items()} == table
    job = _job(exp, "LA post-hoc", "step rho=100")
    assert {"optimizer.weight_decay=1e-4", "scheduler.milestones=[160,180]", "scheduler.gamma=0.1",
            "data.profile=step", "data.imbalance_ratio=100", "data.val_fraction=0", "loss=ce",
            "loss.posthoc_tau=1.0"} <= set(job.overrides)
    assert "model.posthoc_weight_norm_tau=1.0" in _job(exp, "weight normalisation", "exp rho=100").overrides


def test_ib_cifar_lt_expected_block_is_table_4_and_the_ib_rows_use_the_scripts_schedule():
    exp = load_experiment("ib_cifar_lt")
    (block,) = exp.expected
    assert (block["metric"], block["form"]) == ("test_acc", "percent")
    exp_row = lambda m: tuple(block["values"][m].get(f"exp rho={r}") for r in (200, 100, 50, 20, 10))  # noqa: E731
    step_row = lambda m: tuple(block["values"][m].get(f"step rho={r}") for r in (200, 100, 50, 20, 10))  # noqa: E731
    assert exp_row("CE") == (66.28, 70.87, 78.22, 82.43, 86.49)
    assert exp_row("IB + Focal") == (75.05, 79.76, 81.51, 85.31, 88.04)
    assert exp_row("LDAM-DRW") == (None, 77.03, None, None, 88.16)
    assert step_row("IB + CB") == (69.96, 75.97, 82.09, 85.27, 88.01)
    assert step_row("Focal") == (None,) * 5  # the paper's step table has no focal or CB rows
    assert len(exp.settings) == 10 and len(exp.methods) == 8
    ib = _job(exp, "IB + CB", "exp rho=50")
    assert {"loss=ib", "loss.weighting=class_balanced", "loss.start_epoch=100", "scheduler.milestones=[100,160,180]",
            "scheduler.gamma=0.01", "optimizer.weight_decay=2e-4"} <= set(ib.overrides)
    assert "scheduler.milestones=[160,180]" in _job(exp, "CE", "exp rho=50").overrides


def test_calibration_expected_blocks_are_the_resnet50_column():
    exp = load_experiment("calibration")
    ece, err = exp.expected
    assert (ece["metric"], ece["form"], err["metric"], err["form"]) == ("test_ece", "percent", "test_acc",
                                                                        "error_percent")
    rows = ("CE", "Brier", "MMCE", "LS-0.05", "FL-3", "FLSD-53")
    assert tuple(ece["values"][m]["CIFAR-10"] for m in rows) == (4.35, 1.82, 4.56, 2.96, 1.48, 1.55)
    assert tuple(err["values"][m]["CIFAR-10"] for m in rows) == (4.95, 5.00, 4.99, 5.29, 5.25, 4.98)
    brier = _job(exp, "Brier", "CIFAR-10")  # the reference's Brier is a batch mean: its own lr, decay, clip
    assert {"optimizer.lr=0.1", "optimizer.weight_decay=5e-4", "trainer.gradient_clip_val=2.0"} <= set(brier.overrides)


def test_sgd_on_the_summed_loss_takes_the_steps_of_the_calibration_sweeps_mean_loss_recipe():
    """The claim in calibration.yaml's header: SGD (momentum 0.9) on the batch SUM with lr 0.1, weight decay 5e-4 and
    norm clip 2 equals SGD on the batch MEAN with lr 12.8, weight decay 5e-4 / 128 and clip 2 / 128 (batch 128)."""
    torch.manual_seed(0)
    batches = [(torch.randn(128, 6, dtype=torch.float64), torch.randint(0, 3, (128,))) for _ in range(5)]
    start = torch.nn.Linear(6, 3).double()
    runs = []
    for reduction, lr, wd, clip in (("sum", 0.1, 5e-4, 2.0), ("mean", 12.8, 3.90625e-6, 0.015625)):
        model = torch.nn.Linear(6, 3).double()
        model.load_state_dict(start.state_dict())
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=wd)
        for x, y in batches:
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x) * 5, y, reduction=reduction).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
        runs.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert not torch.allclose(runs[0], torch.cat([p.detach().flatten() for p in start.parameters()]))
    # Equal but for clip_grad_norm_'s epsilon: it divides by (norm + 1e-6), and the mean's norm is 128 times smaller.
    torch.testing.assert_close(runs[0], runs[1], rtol=1e-5, atol=1e-9)


def test_saddle_cifar_lt_runs_sam_with_the_rho_of_the_authors_run_sh(tmp_path, capsys):
    """Saddle-LongTail's run.sh: CE+SAM 0.1 / 0.2, CE+DRW+SAM 0.5 / 0.8, LDAM+DRW+SAM 0.8 (CIFAR-10 / -100);
    the rows without SAM keep SGD; the expected block holds the authors' README numbers (rho = 100)."""
    from lossbench.sweep.compose import compose, hydra_context

    exp = load_experiment("saddle_cifar_lt")
    assert sweep.main(["saddle_cifar_lt", "--dry-run", "--dir", str(tmp_path / "x")]) == 0
    rhos = {("CE+SAM", "C10-LT"): 0.1, ("CE+SAM", "C100-LT"): 0.2, ("CE+DRW+SAM", "C10-LT"): 0.5,
            ("CE+DRW+SAM", "C100-LT"): 0.8, ("LDAM+DRW+SAM", "C10-LT"): 0.8, ("LDAM+DRW+SAM", "C100-LT"): 0.8}
    with hydra_context():
        for method in exp.methods:
            for data in ("C10-LT", "C100-LT"):
                cfg = compose(_job(exp, method, f"{data} rho=100").overrides)
                if method.endswith("+SAM"):
                    assert cfg.optimizer._target_ == "lossbench.optim.SAM" and cfg.optimizer.base == "sgd"
                    assert (cfg.optimizer.lr, cfg.optimizer.momentum, cfg.optimizer.weight_decay) == (0.1, 0.9, 2e-4)
                    if (method, data) in rhos:
                        assert cfg.optimizer.rho == rhos[method, data]
                else:
                    assert cfg.optimizer._target_ == "torch.optim.SGD"
                assert cfg.scheduler.milestones == [160, 180] and cfg.trainer.max_epochs == 200
    block = exp.expected[0] if isinstance(exp.expected, list) else exp.expected
    assert block["values"]["LDAM+DRW+SAM"]["C10-LT rho=100"] == 81.9
    assert block["values"]["CE+DRW+SAM"]["C100-LT rho=100"] == 44.6


def test_legendretron_sweep_runs_both_methods_with_the_authors_recipes_and_tests_at_99_percent(tmp_path):
    """khflam/legendretron: lt_libsvm.py / mlr_libsvm.py (lr 0.01, gamma 0.95, wd 0.01, 240 epochs, batch 64,
    hidden 2, 2 blocks) and lt_mnist.py / mlr_mnist.py (lr 1e-3, gamma 0.7, wd 1e-3, 200 epochs, batch 128,
    hidden 4, 1 block): a pinned-logit linear model, Adam, StepLR every 4 epochs, float64."""
    from lossbench.sweep.compose import compose, hydra_context

    exp = load_experiment("legendretron")
    assert sweep.main(["legendretron", "--dry-run", "--dir", str(tmp_path / "x")]) == 0
    assert exp.significance == 0.01 and len(exp.seeds) >= 10 and exp.expected[0]["baseline"] == "MLR"
    recipes = {"iris": (0.01, 0.95, 0.01, 240, 64, 2, 2), "wine": (0.01, 0.95, 0.01, 240, 64, 2, 2),
               "digits": (0.01, 0.95, 0.01, 240, 64, 2, 2), "fashion_mnist": (1e-3, 0.7, 1e-3, 200, 128, 4, 1)}
    with hydra_context():
        for setting, (lr, gamma, wd, epochs, batch, hidden, blocks) in recipes.items():
            for method in ("MLR", "LegendreTron"):
                cfg = compose(_job(exp, method, setting).overrides)
                assert cfg.model._target_ == "lossbench.models.Affine" and cfg.model.pin_last_logit is True
                assert cfg.optimizer._target_ == "torch.optim.Adam" and cfg.trainer.precision == "64-true"
                assert (cfg.optimizer.lr, cfg.optimizer.weight_decay, cfg.scheduler.step_size, cfg.scheduler.gamma,
                        cfg.trainer.max_epochs, cfg.data.batch_size) == (lr, wd, 4, gamma, epochs, batch)
                assert cfg.data.val_fraction == 0 and cfg.data.name == setting
                if method == "LegendreTron":
                    assert (cfg.loss.hidden, cfg.loss.depth, cfg.loss.blocks, cfg.loss.weight_decay) == (
                        hidden, 4, blocks, wd)
                else:
                    assert cfg.loss._target_ == "lossbench.losses.CrossEntropyLoss"


def test_a_sweeps_significance_must_be_a_level():
    from lossbench.errors import UsageError
    from lossbench.sweep.spec import parse_experiment

    raw = {"settings": {"a": []}, "methods": {"CE": ["loss=ce"]}, "seeds": [0], "significance": 5}
    with pytest.raises(UsageError, match=r"significance must be a number in \(0, 0.5\)"):
        parse_experiment(raw, "x", __import__("pathlib").Path("x.yaml"), [])


def test_anyloss_binary_runs_the_authors_mlp_recipe_on_binary_tasks(tmp_path):
    """doheonhan/anyloss notebook 4-22: Adam lr 1e-3, batches of 5% of the training set, 100 epochs; AnyLoss in
    its four metric variants against BCE and MSE; the baseline is BCE."""
    from lossbench.sweep.compose import compose, hydra_context

    exp = load_experiment("anyloss_binary")
    assert sweep.main(["anyloss_binary", "--dry-run", "--dir", str(tmp_path / "x")]) == 0
    assert exp.expected[0]["baseline"] == "BCE"
    metrics = {"AnyLoss-Acc": "accuracy", "AnyLoss-F1": "f_beta", "AnyLoss-Gmean": "gmean",
               "AnyLoss-BAcc": "balanced_accuracy"}
    train_sizes = {"breast_cancer": 455, "fmnist_pair_rho10": 6600, "fmnist_pair_rho100": 6060}
    with hydra_context():
        for setting, n in train_sizes.items():
            for method in exp.methods:
                cfg = compose(_job(exp, method, setting).overrides)
                assert cfg.optimizer._target_ == "torch.optim.Adam" and cfg.optimizer.lr == 1e-3
                assert cfg.trainer.max_epochs == 100 and cfg.data.batch_size == int(0.05 * n)
                if method in metrics:
                    assert (cfg.loss.metric, cfg.loss.amplifier, cfg.loss.size) == (metrics[method], 73.0, "train")
                else:
                    assert cfg.loss._target_.endswith({"BCE": "BCELoss", "MSE": "BinaryMSELoss"}[method])


def test_multilabel_lt_compares_the_six_multilabel_losses_with_their_authors_defaults(tmp_path):
    """BCE, focal, ASL, DB, Dice and Gumbel (its classifier bias -2) on the long-tailed mosaics, the best
    epoch by validation mAP; the baseline is BCE and the headline metric mAP."""
    from lossbench.sweep.compose import compose, hydra_context

    exp = load_experiment("multilabel_lt")
    assert sweep.main(["multilabel_lt", "--dry-run", "--dir", str(tmp_path / "x")]) == 0
    assert exp.expected[0]["baseline"] == "BCE" and exp.expected[0]["metric"] == "test_map"
    targets = {"BCE": "BCEMultiLabelLoss", "Focal": "FocalMultiLabelLoss", "ASL": "AsymmetricMultiLabelLoss",
               "DB": "DistributionBalancedLoss", "Dice": "DiceLoss", "Gumbel": "GumbelBCELoss"}
    with hydra_context():
        for method, target in targets.items():
            cfg = compose(_job(exp, method, "fashion_mnist_mosaic").overrides)
            assert cfg.loss._target_ == f"lossbench.losses.{target}" and cfg.selection_metric == "val_map"
            assert cfg.data._target_.endswith("FashionMnistMosaicDataModule") and cfg.data.imbalance_ratio == 200
            assert cfg.model.head_bias_init == ("gumbel" if method == "Gumbel" else "none")
        asl = compose(_job(exp, "ASL", "fashion_mnist_mosaic").overrides).loss
        assert (asl.gamma_pos, asl.gamma_neg, asl.clip) == (0.0, 4.0, 0.05)


def test_ensloss_binary_runs_the_authors_image_protocol(tmp_path):
    """statmlben/ensLoss main_image.py and train.py: ResNet-50, batch 128, 200 epochs, SGD lr 1e-3 momentum 0.9
    weight decay 5e-4, cosine annealing; EnsLoss, BCE, Hinge and EXP (its gradient clipped at 10) on CIFAR-10 pairs."""
    from lossbench.sweep.compose import compose, hydra_context

    exp = load_experiment("ensloss_binary")
    assert sweep.main(["ensloss_binary", "--dry-run", "--dir", str(tmp_path / "x")]) == 0
    assert exp.expected[0]["baseline"] == "BCE" and exp.seeds == [0, 1, 2, 3, 4]
    pairs = {"cat_dog": [3, 5], "bird_deer": [2, 4], "automobile_truck": [1, 9]}
    losses = {"EnsLoss": "EnsLoss", "BCE": "BCELoss", "Hinge": "HingeLoss", "EXP": "ExponentialLoss"}
    with hydra_context():
        for setting, pair in pairs.items():
            for method, target in losses.items():
                cfg = compose(_job(exp, method, setting).overrides)
                assert list(cfg.data.classes) == pair and cfg.data.batch_size == 128 and cfg.model.depth == 50
                assert (cfg.optimizer.lr, cfg.optimizer.momentum, cfg.optimizer.weight_decay) == (1e-3, 0.9, 5e-4)
                assert cfg.trainer.max_epochs == 200 and cfg.scheduler._target_.endswith("cosine")
                assert cfg.loss._target_ == f"lossbench.losses.{target}"
                assert cfg.trainer.gradient_clip_val == (10.0 if method == "EXP" else None)
