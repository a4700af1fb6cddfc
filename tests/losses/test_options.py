"""Build-time validation, the cross-cutting options (re-weighting and DRW, logit_clip, logz_penalty,
posthoc_tau), and the registry / config contract of the issue."""
from __future__ import annotations

import inspect

import pytest
import torch
import torch.nn.functional as F
import yaml

import lossbench.losses as losses
from lossbench.losses import ClassificationLoss, build_loss, list_losses
from lossbench.paths import CONF_DIR

C = 5
COUNTS = [50, 20, 10, 5, 2]

# The issue's table: every loss with exactly these parameter names and defaults.
TABLE = {
    "ce": {"label_smoothing": 0.0}, "focal": {"gamma": 2.0, "alpha": None}, "poly1": {"epsilon": 1.0},
    "ldam": {"max_margin": 0.5, "scale": 30.0}, "logit_adjust": {"tau": 1.0}, "balanced_softmax": {},
    "vs": {"gamma": 0.2, "tau": 1.0}, "gce": {"q": 0.7}, "mae": {"scale": 1.0}, "sce": {"alpha": 0.1, "beta": 1.0},
    "nce": {}, "nce_rce": {"alpha": 1.0, "beta": 1.0}, "comp_sum": {"tau": 1.0}, "squentropy": {},
    "encouraging": {"log_end": 0.75}, "dual_focal": {"gamma": 2.0}, "poly1_focal": {"epsilon": 1.0, "gamma": 2.0},
    "ldr_kl": {"lambda_": 1.0, "margin": 0.1},
    "cb_sigmoid": {"beta": 0.9999}, "cb_focal": {"beta": 0.9999, "gamma": 1.0},
    "eql": {"gamma": 0.9, "lambda_": 0.005}, "seesaw": {"p": 0.8, "q": 2.0, "eps": 0.01},
    "lade": {"alpha": 0.1, "lambda_": 0.01},
    "label_aware_smoothing": {"eps_head": 0.3, "eps_tail": 0.0, "profile": "concave"},
    # Issue 11 section 3 (la_synthetic): Menon et al.'s pairwise margin loss, defaulting to their logit adjustment.
    "pairwise_margin": {"margin": "logit_adjusted", "tau": 1.0},
    # Issue 11: ALFs CIFAR-10 config values, GJS pi = (0.7, 0.3), Taylor order 2, ASLSingleLabel's defaults.
    "agce": {"a": 0.6, "q": 0.6}, "aul": {"a": 5.5, "q": 3.0}, "ael": {"a": 2.5},
    "nce_agce": {"alpha": 1.0, "beta": 4.0, "a": 6.0, "q": 1.5},
    "nce_aul": {"alpha": 1.0, "beta": 4.0, "a": 6.3, "q": 1.5},
    "nce_ael": {"alpha": 1.0, "beta": 4.0, "a": 5.0}, "js": {"pi1": 0.7, "clamp_probs": True},
    "taylor_ce": {"t": 2}, "asl": {"gamma_pos": 0.0, "gamma_neg": 4.0, "eps": 0.1},
    "brier": {}, "mmce": {"lambda_": 2.0, "bandwidth": 0.4}, "mdca": {"beta": 1.0},
    "mbls": {"margin": 10.0, "alpha": 0.1}, "flsd": {"gamma_low": 5.0, "gamma_mid": 3.0, "gamma": 3.0},
    "square": {"k": None, "M": None}, "spherical_z": {"a": 1.0, "b": 3.0},
    "bi_tempered": {"t1": 0.8, "t2": 1.2, "num_iters": 5},
    # Losses with needs (issue 11 section 1): IB-Loss cifar_train.py, ELR config_cifar10.json, ANL cifar10_anl_ce.json.
    "ib": {"alpha": 1000.0, "epsilon": 1e-3, "weighting": "inverse", "start_epoch": 100},
    "ib_focal": {"alpha": 1000.0, "epsilon": 1e-3, "gamma": 1.0, "weighting": "inverse", "start_epoch": 100,
                 "p_from_weighted_ce": True},
    "elr": {"lambda_": 3.0, "beta": 0.7, "num_samples": None},
    "anl_ce": {"alpha": 5.0, "beta": 5.0, "delta": 5e-5, "min_prob": 1e-7},
    # A loss that learns (issue 20 section 2): the authors' lt_mnist.py defaults.
    "legendretron": {"hidden": 4, "depth": 4, "blocks": 1},
    # Binary losses (issue 19 section 4): EnsLoss's baselines (statmlben/ensLoss losses.py), AnyLoss's L = 73.
    "bce": {}, "hinge": {}, "squared_hinge": {}, "exponential": {}, "sigmoid_ramp": {}, "binary_mse": {},
    "binary_focal": {"gamma": 2.0, "alpha": None}, "anyloss": {"metric": "f_beta", "amplifier": 73.0, "beta": 1.0, "size": "train"},
    "ensloss": {"lam": 0.0, "seed": 0},
    # Multi-label losses (issue 19 section 4): ASL as Alibaba-MIIL/ASL train.py builds it, DB with the
    # authors' COCO-MLT config, Dice with ShannonAI's smooth.
    "bce_multilabel": {"label_reduction": "mean"}, "focal_multilabel": {"gamma": 2.0, "alpha": None},
    "asl_multilabel": {"gamma_pos": 0.0, "gamma_neg": 4.0, "clip": 0.05, "eps": 1e-8, "detach_weight": False},
    "db": {"rebalance": True, "focal": True, "gamma": 2.0, "balance_param": 2.0, "neg_scale": 2.0, "init_bias": 0.05,
           "map_alpha": 0.1, "map_beta": 10.0, "map_gamma": 0.2, "train_size": None},
    "dice": {"smooth": 1e-4, "alpha": 0.0, "square_denominator": False, "average": "macro"},
    "gumbel_bce": {"exact_gradient": False},
}
BINARY = {"bce", "hinge", "squared_hinge", "exponential", "sigmoid_ramp", "binary_mse", "binary_focal", "anyloss",
          "ensloss"}
MULTILABEL = {"bce_multilabel", "focal_multilabel", "asl_multilabel", "db", "dice", "gumbel_bce"}
NEEDS = {"ib": {"features"}, "ib_focal": {"features"}, "elr": {"indices"}, "anl_ce": {"model"}}
NEEDS_COUNTS = {"ldam", "logit_adjust", "balanced_softmax", "vs", "cb_sigmoid", "cb_focal", "eql", "lade",
                "label_aware_smoothing", "ib", "ib_focal", "pairwise_margin"}
COMMON = {"reweight": "none", "reweight_beta": 0.9999, "reweight_from_epoch": 0, "logit_clip": None,
          "logz_penalty": 0.0, "posthoc_tau": 0.0}


def _batch(seed=0, n=32):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, C, generator=g, dtype=torch.float64) * 3, torch.randint(0, C, (n,), generator=g)


def _defaults(cls):
    out = {}
    for klass in cls.__mro__:
        if "__init__" in klass.__dict__ and issubclass(klass, ClassificationLoss):
            for p in inspect.signature(klass.__init__).parameters.values():
                if p.kind is p.KEYWORD_ONLY:
                    out.setdefault(p.name, p.default)
    return out


# -- the registry and the configs ----------------------------------------------------------------
def test_registry_holds_exactly_the_issue_table():
    assert list_losses() == sorted(TABLE)


@pytest.mark.parametrize("name", sorted(TABLE))
def test_parameters_and_defaults_are_the_issue_table(name):
    defaults = _defaults(losses.get_loss_class(name))
    for param, default in TABLE[name].items():
        assert param in defaults and defaults[param] == default, (name, param)
    for param, default in COMMON.items():
        assert defaults[param] == default, (name, param)


@pytest.mark.parametrize("name", sorted(TABLE))
def test_one_yaml_per_loss_with_its_public_class_and_defaults(name):
    path = CONF_DIR / "loss" / f"{name}.yaml"
    lines = path.read_text().splitlines()
    assert lines[0].startswith(f"# {name}: ") and lines[1].startswith("# Example: lossbench train loss=")
    node = yaml.safe_load(path.read_text())
    assert node["defaults"] == ["/loss_options/common@_here_", "_self_"]
    module, _, cls_name = node["_target_"].rpartition(".")
    assert module == "lossbench.losses" and getattr(losses, cls_name) is losses.get_loss_class(name)
    defaults = _defaults(losses.get_loss_class(name))
    fields = {k: v for k, v in node.items() if k not in ("defaults", "_target_")}
    assert set(TABLE[name]) <= set(fields)
    # ensloss.seed: ${seed}, the run's seed (each seed its own draws); the class's default is 0.
    fields = {k: v for k, v in fields.items() if v != "${seed}"}
    assert fields == {k: defaults[k] for k in fields}


def test_common_options_yaml_matches_the_base_class():
    common = yaml.safe_load((CONF_DIR / "loss_options" / "common.yaml").read_text())
    assert common == COMMON == {k: v for k, v in _defaults(ClassificationLoss).items() if k in COMMON}


# -- validation ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(NEEDS_COUNTS))
def test_missing_or_zero_class_counts_is_a_value_error(name):
    with pytest.raises(ValueError, match="needs class_counts"):
        build_loss(name, num_classes=C)
    with pytest.raises(ValueError, match=r"classes \[3\] are not"):
        build_loss(name, num_classes=C, class_counts=[5, 4, 3, 0, 1])
    with pytest.raises(ValueError, match="num_classes=5"):
        build_loss(name, num_classes=C, class_counts=[5, 4, 3])


@pytest.mark.parametrize("name", sorted(set(TABLE) - NEEDS_COUNTS - BINARY - MULTILABEL))  # tests/losses/test_binary.py, test_multilabel.py
def test_losses_without_class_frequencies_ignore_class_counts(name, needs_inputs):
    logits, targets = _batch()
    torch.manual_seed(0)  # a learned loss (legendretron) draws its initial parameters: the same draws for both
    without = build_loss(name, num_classes=C)
    torch.manual_seed(0)
    with_counts = build_loss(name, num_classes=C, class_counts=COUNTS)
    assert without(logits, targets, **needs_inputs(without, logits)) == with_counts(
        logits, targets, **needs_inputs(with_counts, logits))


def test_needs_are_the_issue_table():
    assert {name: set(losses.get_loss_class(name).needs) for name in list_losses()
            if losses.get_loss_class(name).needs} == NEEDS


@pytest.mark.parametrize("options", [{"reweight": "class_balanced"}, {"reweight": "inverse"}, {"posthoc_tau": 1.0}])
def test_options_that_use_class_frequencies_need_class_counts(options):
    with pytest.raises(ValueError, match="needs class_counts"):
        build_loss("ce", num_classes=C, **options)
    with pytest.raises(ValueError, match="classes"):
        build_loss("ce", num_classes=C, class_counts=[0, 1, 1, 1, 1], **options)


OUT_OF_RANGE = [
    ("ce", "label_smoothing", 1.5, r"\[0, 1\]"), ("focal", "gamma", -0.5, r"\[0, inf\)"),
    ("poly1", "epsilon", -1.5, r"\[-1, inf\)"), ("poly1_focal", "epsilon", -2.0, r"\[-1, inf\)"),
    ("poly1_focal", "gamma", -1.0, r"\[0, inf\)"), ("ldam", "max_margin", -0.1, r"\[0, inf\)"),
    ("ldam", "scale", 0.0, r"\(0, inf\)"), ("logit_adjust", "tau", -1.0, r"\[0, inf\)"),
    ("vs", "gamma", -0.2, r"\[0, inf\)"), ("vs", "tau", -1.0, r"\[0, inf\)"), ("gce", "q", 0.0, r"\(0, 1\]"),
    ("gce", "q", 1.5, r"\(0, 1\]"), ("mae", "scale", 0.0, r"\(0, inf\)"), ("sce", "alpha", -1.0, r"\[0, inf\)"),
    ("sce", "beta", float("nan"), r"\[0, inf\)"), ("nce_rce", "alpha", -1.0, r"\[0, inf\)"),
    ("comp_sum", "tau", -0.5, r"\[0, inf\)"), ("encouraging", "log_end", 0.0, r"\(0, 1\]"),
    ("encouraging", "log_end", 1.2, r"\(0, 1\]"), ("dual_focal", "gamma", -1.0, r"\[0, inf\)"),
    ("ldr_kl", "lambda_", 0.0, r"\(0, inf\)"), ("ldr_kl", "margin", -0.1, r"\[0, inf\)"),
    ("agce", "a", 0.0, r"\(0, inf\)"), ("agce", "q", -0.5, r"\(0, inf\)"), ("aul", "a", 1.0, r"\(1, inf\)"),
    ("aul", "q", 0.0, r"\(0, inf\)"), ("ael", "a", 0.0, r"\(0, inf\)"), ("nce_agce", "beta", -1.0, r"\[0, inf\)"),
    ("nce_aul", "a", 0.5, r"\(1, inf\)"), ("nce_ael", "alpha", -0.1, r"\[0, inf\)"),
    ("js", "pi1", 0.0, r"\(0, 1\)"), ("js", "pi1", 1.0, r"\(0, 1\)"), ("taylor_ce", "t", 0, r"\[1, inf\)"),
    ("taylor_ce", "t", 2.5, r"not an integer"), ("asl", "gamma_neg", -1.0, r"\[0, inf\)"),
    ("asl", "eps", 1.5, r"\[0, 1\]"),
    ("ce", "reweight_beta", 1.0, r"\[0, 1\)"), ("ce", "reweight_from_epoch", -1, r"\[0, inf\)"),
    ("ce", "logit_clip", 0.0, r"\(0, inf\)"), ("ce", "logz_penalty", -1e-4, r"\[0, inf\)"),
    ("ce", "posthoc_tau", -1.0, r"\[0, inf\)"), ("focal", "gamma", "two", r"not a number"),
    ("cb_sigmoid", "beta", 1.0, r"\[0, 1\)"), ("cb_focal", "gamma", -1.0, r"\[0, inf\)"),
    ("eql", "gamma", 1.5, r"\[0, 1\]"), ("eql", "lambda_", -0.1, r"\[0, 1\]"), ("seesaw", "p", -0.8, r"\[0, inf\)"),
    ("seesaw", "q", -2.0, r"\[0, inf\)"), ("seesaw", "eps", 0.0, r"\(0, 1\]"), ("lade", "alpha", -0.1, r"\[0, inf\)"),
    ("lade", "lambda_", -0.01, r"\[0, inf\)"), ("label_aware_smoothing", "eps_head", 1.5, r"\[0, 1\]"),
    ("label_aware_smoothing", "eps_tail", -0.1, r"\[0, 1\]"),
    ("mmce", "lambda_", -1.0, r"\[0, inf\)"), ("mmce", "bandwidth", 0.0, r"\(0, inf\)"),
    ("mdca", "beta", -0.5, r"\[0, inf\)"), ("mbls", "margin", -1.0, r"\[0, inf\)"),
    ("mbls", "alpha", -0.1, r"\[0, inf\)"), ("flsd", "gamma_low", -1.0, r"\[0, inf\)"),
    ("flsd", "gamma_mid", -1.0, r"\[0, inf\)"), ("flsd", "gamma", -1.0, r"\[0, inf\)"),
    ("square", "k", 0.0, r"\(0, inf\)"), ("square", "M", -1.0, r"\(0, inf\)"),
    ("spherical_z", "a", 0.0, r"\(0, inf\)"), ("spherical_z", "b", float("nan"), r"\(-inf, inf\)"),
    ("bi_tempered", "t1", 1.5, r"\[0, 1\]"), ("bi_tempered", "t2", 0.5, r"\[1, inf\)"),
    ("bi_tempered", "num_iters", 0, r"\[1, inf\)"), ("bi_tempered", "num_iters", 2.5, r"\[1, inf\)"),
    ("ib", "alpha", 0.0, r"\(0, inf\)"), ("ib", "epsilon", 0.0, r"\(0, inf\)"), ("ib", "start_epoch", -1, r"\[0, inf\)"),
    ("ib_focal", "gamma", -1.0, r"\[0, inf\)"), ("elr", "lambda_", -1.0, r"\[0, inf\)"),
    ("elr", "beta", 1.5, r"\[0, 1\]"), ("elr", "num_samples", 0, r"\[1, inf\)"),
    ("elr", "num_samples", 2.5, "not an integer"),
    ("anl_ce", "alpha", -1.0, r"\[0, inf\)"), ("anl_ce", "delta", -1e-5, r"\[0, inf\)"),
    ("anl_ce", "min_prob", 0.0, r"\(0, 0.2\)"), ("anl_ce", "min_prob", 0.5, r"\(0, 0.2\)"),
    ("pairwise_margin", "tau", -0.5, r"\[0, inf\)"),
]


@pytest.mark.parametrize("name,param,value,allowed", OUT_OF_RANGE, ids=[f"{n}-{p}={v}" for n, p, v, _ in OUT_OF_RANGE])
def test_out_of_range_parameter_is_a_value_error_naming_it_and_its_range(name, param, value, allowed):
    with pytest.raises(ValueError, match=rf"^{param}=.*{allowed}"):
        build_loss(name, num_classes=C, class_counts=COUNTS, **{param: value})


def test_bad_choices_and_unknown_names_are_value_errors():
    with pytest.raises(ValueError, match="reweight='balanced' is not one of 'none', 'class_balanced', 'inverse'"):
        build_loss("ce", num_classes=C, class_counts=COUNTS, reweight="balanced")
    with pytest.raises(ValueError, match="second='max' is not one of"):
        build_loss("dual_focal", num_classes=C, second="max")
    with pytest.raises(ValueError, match="weighting='cb' is not one of 'inverse', 'class_balanced', 'none'"):
        build_loss("ib", num_classes=C, class_counts=COUNTS, weighting="cb")
    with pytest.raises(ValueError, match="profile='exp' is not one of 'concave', 'linear', 'convex'"):
        build_loss("label_aware_smoothing", num_classes=C, class_counts=COUNTS, profile="exp")
    with pytest.raises(ValueError, match="margin='ldam' is not one of 'none', 'adaptive', 'equalised', 'logit_adjusted'"):
        build_loss("pairwise_margin", num_classes=C, class_counts=COUNTS, margin="ldam")
    with pytest.raises(ValueError, match=r"no parameter 'gama' \(did you mean 'gamma'\?\).*parameters are: gamma"):
        build_loss("focal", num_classes=C, gama=1.0)
    with pytest.raises(ValueError, match=r"unknown loss 'focall'\. Did you mean 'focal'\?"):
        build_loss("focall", num_classes=C)
    with pytest.raises(ValueError, match="num_classes=1 is out of range"):
        build_loss("ce", num_classes=1)
    with pytest.raises(ValueError, match="alpha must be null or a list of 5"):
        build_loss("focal", num_classes=C, alpha=[1.0, 2.0])
    with pytest.raises(TypeError):
        losses.FocalLoss(2.0, num_classes=C)  # parameters are keyword-only


@pytest.mark.parametrize("num_classes,k,m", [(2, 1.0, 1.0), (10, 1.0, 1.0), (41, 1.0, 1.0), (42, 1.0, 15.0),
                                             (100, 1.0, 15.0), (999, 1.0, 15.0), (1000, 15.0, 30.0)])
def test_square_defaults_are_hui_and_belkins_settings_for_the_class_count(num_classes, k, m):
    loss_fn = build_loss("square", num_classes=num_classes)
    assert (loss_fn.k, loss_fn.M) == (k, m)
    explicit = build_loss("square", num_classes=num_classes, k=2.0, M=3.0)
    assert (explicit.k, explicit.M) == (2.0, 3.0)


# -- re-weighting and DRW -------------------------------------------------------------------------
def test_class_balanced_weights_follow_cui_et_al_and_sum_to_c():
    beta = 0.999
    loss_fn = build_loss("ce", num_classes=C, class_counts=COUNTS, reweight="class_balanced", reweight_beta=beta)
    raw = [(1 - beta) / (1 - beta ** n) for n in COUNTS]
    expected = torch.tensor([w / sum(raw) * C for w in raw], dtype=torch.float64)
    torch.testing.assert_close(loss_fn.class_weights, expected)
    assert loss_fn.class_weights.sum().item() == pytest.approx(C)


def test_inverse_weights_are_proportional_to_one_over_n_and_sum_to_c():
    loss_fn = build_loss("ce", num_classes=C, class_counts=COUNTS, reweight="inverse")
    inv = [1 / n for n in COUNTS]
    torch.testing.assert_close(loss_fn.class_weights, torch.tensor([w / sum(inv) * C for w in inv],
                                                                   dtype=torch.float64))


def test_reweighted_loss_is_pytorchs_weighted_cross_entropy():
    logits, targets = _batch(1)
    loss_fn = build_loss("ce", num_classes=C, class_counts=COUNTS, reweight="class_balanced")
    torch.testing.assert_close(loss_fn(logits, targets), F.cross_entropy(logits, targets, weight=loss_fn.class_weights))


def test_drw_switches_the_weights_on_at_reweight_from_epoch():
    logits, targets = _batch(2)
    drw = build_loss("ldam", num_classes=C, class_counts=COUNTS, reweight="class_balanced", reweight_from_epoch=3)
    plain = build_loss("ldam", num_classes=C, class_counts=COUNTS)
    per_sample = plain.per_sample(logits, targets)
    w = drw.class_weights[targets]
    for epoch, weighted in [(0, False), (2, False), (3, True), (4, True), (200, True)]:
        drw.set_epoch(epoch)
        expected = (per_sample * w).sum() / w.sum() if weighted else per_sample.mean()
        torch.testing.assert_close(drw(logits, targets), expected)
    assert not torch.allclose((per_sample * w).sum() / w.sum(), per_sample.mean())


@pytest.mark.parametrize("name", sorted(set(TABLE) - {"ib", "ib_focal"} - BINARY - MULTILABEL))  # IB's start_epoch: a schedule
def test_set_epoch_is_a_no_op_without_a_schedule(name, needs_inputs):
    logits, targets = _batch(3)
    loss_fn = build_loss(name, num_classes=C, class_counts=COUNTS)
    loss_fn.eval()  # seesaw's and elr's state changes in training mode only; this test is about set_epoch
    inputs = needs_inputs(loss_fn, logits)
    before = loss_fn(logits, targets, **inputs)
    loss_fn.set_epoch(160)
    assert loss_fn(logits, targets, **inputs) == before


def test_focal_with_p_from_weighted_ce_is_the_ldam_drw_reference_focal():
    logits, targets = _batch(4)
    gamma = 1.0
    loss_fn = build_loss("focal", num_classes=C, class_counts=COUNTS, gamma=gamma, reweight="class_balanced",
                         reweight_from_epoch=1, p_from_weighted_ce=True)
    # kaidic/LDAM-DRW losses.py: focal_loss(F.cross_entropy(x, y, reduction='none', weight=w), gamma)
    wce = F.cross_entropy(logits, targets, reduction="none", weight=loss_fn.class_weights)
    expected = ((1 - torch.exp(-wce)) ** gamma * wce).mean()
    loss_fn.set_epoch(1)
    torch.testing.assert_close(loss_fn(logits, targets), expected)
    loss_fn.set_epoch(0)  # before DRW it is the plain focal loss
    torch.testing.assert_close(loss_fn(logits, targets), build_loss("focal", num_classes=C, gamma=gamma)(logits, targets))


# -- logit_clip, logz_penalty, posthoc_tau -----------------------------------------------------------
def test_logit_clip_bounds_the_l2_norm_before_the_loss():
    logits, targets = _batch(5)
    clip = 2.0
    norms = logits.norm(dim=1, keepdim=True)
    clipped = torch.where(norms > clip, logits * clip / norms, logits)
    assert (norms > clip).all()  # every row is clipped here; the unclipped case is checked below
    for name in ("ce", "gce", "squentropy"):
        expected = build_loss(name, num_classes=C)(clipped, targets)
        torch.testing.assert_close(build_loss(name, num_classes=C, logit_clip=clip)(logits, targets), expected)
    small = logits / norms  # norm 1 < clip: untouched
    torch.testing.assert_close(build_loss("ce", num_classes=C, logit_clip=clip)(small, targets),
                               F.cross_entropy(small, targets))


def test_logz_penalty_adds_coeff_times_squared_log_partition():
    logits, targets = _batch(6)
    coeff = 1e-2
    log_z = torch.log(torch.exp(logits).sum(dim=1))
    value = build_loss("focal", num_classes=C, logz_penalty=coeff)(logits, targets)
    expected = build_loss("focal", num_classes=C)(logits, targets) + coeff * (log_z ** 2).mean()
    torch.testing.assert_close(value, expected)


def test_posthoc_tau_subtracts_tau_log_prior_at_evaluation_only():
    logits, targets = _batch(7)
    tau = 1.5
    loss_fn = build_loss("ce", num_classes=C, class_counts=COUNTS, posthoc_tau=tau)
    prior = torch.tensor(COUNTS, dtype=torch.float64) / sum(COUNTS)
    torch.testing.assert_close(loss_fn.adjust_eval_logits(logits), logits - tau * torch.log(prior))
    torch.testing.assert_close(loss_fn(logits, targets), F.cross_entropy(logits, targets))  # training is plain CE
    plain = build_loss("ce", num_classes=C)
    assert plain.adjust_eval_logits(logits) is logits
    # On a tie the adjusted prediction is the rarest class (the largest -log pi).
    assert loss_fn.adjust_eval_logits(torch.zeros(1, C, dtype=torch.float64)).argmax().item() == COUNTS.index(min(COUNTS))


def test_label_smoothing_with_reweighting_weights_whole_samples():
    logits, targets = _batch(8)
    loss_fn = build_loss("ce", num_classes=C, class_counts=COUNTS, reweight="inverse", label_smoothing=0.2)
    per_sample = F.cross_entropy(logits, targets, reduction="none", label_smoothing=0.2)
    w = loss_fn.class_weights[targets]
    torch.testing.assert_close(loss_fn(logits, targets), (per_sample * w).sum() / w.sum())


def test_ldam_evaluates_the_scaled_softmax_it_trains():
    logits, _ = _batch(9)
    cosines = logits / logits.norm(dim=1, keepdim=True)  # a cosine head's logits, in [-1, 1]
    loss_fn = build_loss("ldam", num_classes=C, class_counts=COUNTS, scale=30.0)
    torch.testing.assert_close(loss_fn.adjust_eval_logits(cosines), 30.0 * cosines)
    assert torch.equal(loss_fn.adjust_eval_logits(cosines).argmax(1), cosines.argmax(1))  # accuracy unchanged
    tau = 1.0
    with_posthoc = build_loss("ldam", num_classes=C, class_counts=COUNTS, posthoc_tau=tau)
    prior = torch.tensor(COUNTS, dtype=torch.float64) / sum(COUNTS)
    torch.testing.assert_close(with_posthoc.adjust_eval_logits(cosines), 30.0 * cosines - tau * torch.log(prior))
