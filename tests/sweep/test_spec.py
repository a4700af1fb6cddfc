"""Sweep definitions: every shipped experiment parses, and the grid expands as the format says."""
from __future__ import annotations

from pathlib import Path

import pytest

from lossbench.errors import UsageError
from lossbench.paths import EXPERIMENTS_DIR
from lossbench.overrides import merge_overrides
from lossbench.sweep.spec import load_experiment, parse_experiment

SHIPPED = sorted(p.stem for p in EXPERIMENTS_DIR.glob("*.yaml"))
REQUIRED = {"ldam_drw_cifar_lt", "polyloss", "noisy_labels", "calibration", "fashion_mnist_lt", "demo"}


def test_the_issue_experiments_are_shipped():
    assert REQUIRED <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_experiment_header_names_the_question_command_and_run_time(name):
    exp = load_experiment(name)
    assert exp.header[0].startswith(f"{name}: ")
    text = " ".join(exp.header)
    assert f"lossbench sweep {name}" in text and "Run time" in text
    assert len({j.name for j in exp.jobs()}) == len(exp.jobs()) == len(exp.methods) * len(exp.settings) * len(exp.seeds)


def test_ldam_drw_expected_block_is_the_papers_table_2():
    """Transcription check: the published top-1 errors of Cao et al. 2019, Table 2, as the issue lists them."""
    exp = load_experiment("ldam_drw_cifar_lt")
    (block,) = exp.expected
    assert (block["metric"], block["form"], block["epoch"]) == ("test_acc", "error_percent", "best")
    table = {"CE": (29.64, 13.61, 61.68, 44.30), "Focal": (29.62, 13.34, 61.59, 44.22),
             "LDAM": (26.65, 13.04, 60.40, 43.09), "CB Focal": (25.43, 12.90, 63.98, 42.01),
             "LDAM-DRW": (22.97, 11.84, 57.96, 41.29)}
    columns = ("C10-LT rho=100", "C10-LT rho=10", "C100-LT rho=100", "C100-LT rho=10")
    assert {m: tuple(block["values"][m][c] for c in columns) for m in table} == table
    assert set(block["unpublished"]) == {"CE+DRW", "poly1", "logit_adjust"}
    assert set(exp.methods) == set(table) | set(block["unpublished"])


def test_ldam_drw_recipe_follows_the_reference_code():
    exp = load_experiment("ldam_drw_cifar_lt")
    job = next(j for j in exp.jobs() if j.method == "LDAM-DRW" and j.setting == "C100-LT rho=10" and j.seed == 1)
    assert set(job.overrides) >= {
        "model=resnet32", "optimizer.lr=0.1", "optimizer.momentum=0.9", "optimizer.weight_decay=2e-4",
        "scheduler=multistep", "scheduler.warmup_epochs=5", "scheduler.milestones=[160,180]", "scheduler.gamma=0.01",
        "trainer.max_epochs=200", "data.batch_size=128", "data=cifar100_lt", "data.imbalance_ratio=10", "loss=ldam",
        "loss.max_margin=0.5", "loss.scale=30.0", "model.classifier=cosine", "loss.reweight=class_balanced",
        "loss.reweight_beta=0.9999", "loss.reweight_from_epoch=160", "seed=1"}
    focal = next(j for j in exp.jobs() if j.method == "Focal")
    assert "loss.gamma=1.0" in focal.overrides


def test_noisy_labels_uses_each_datasets_reference_loss_parameters():
    exp = load_experiment("noisy_labels")
    jobs = {(j.method, j.setting): j.overrides for j in exp.jobs(seeds=[0])}
    assert len(exp.settings) == 12
    c10, c100 = jobs[("NCE+RCE", "CIFAR-10 sym-0.8")], jobs[("NCE+RCE", "CIFAR-100 asym-0.2")]
    assert {"loss.alpha=1.0", "loss.beta=1.0", "model=cnn8", "optimizer.lr=0.01", "trainer.max_epochs=120"} <= set(c10)
    assert {"loss.alpha=10.0", "loss.beta=0.1", "model=resnet50", "optimizer.lr=0.1", "optimizer.weight_decay=1e-5",
            "trainer.max_epochs=200", "data.label_noise.type=asymmetric", "data.label_noise.rate=0.2"} <= set(c100)
    assert {"loss.alpha=6.0", "loss.beta=0.1"} <= set(jobs[("SCE", "CIFAR-100 sym-0.2")])
    assert "trainer.gradient_clip_val=5.0" in c10 and "data.val_fraction=0" in c100


def _parse(raw: dict):
    return parse_experiment(raw, "t", Path("t.yaml"), ["t: test"])


def test_product_settings_when_and_param_expand_as_documented():
    exp = _parse({"fixed": ["model=mlp", "loss.gamma=9"],
                  "settings": [{"A": ["data=digits"], "B": ["data=digits_lt"]}, {"r1": ["x=1"], "r2": ["x=2"]}],
                  "methods": {"m": {"overrides": ["loss=focal"], "when": {"B": ["loss.gamma=3"]}},
                              "p": {"overrides": ["loss=poly1"], "param": {"key": "loss.epsilon", "values": [0, 2]}}},
                  "seeds": [0, 1]})
    assert list(exp.settings) == ["A r1", "A r2", "B r1", "B r2"]
    assert list(exp.methods) == ["m", "p epsilon=0", "p epsilon=2"]
    jobs = exp.jobs(extra=["trainer.max_epochs=3"])
    assert len(jobs) == 2 * 4 * 3 and [j.seed for j in jobs[:12]] == [0] * 12  # seed-major
    by = {(j.method, j.setting, j.seed): j for j in jobs}
    # `when` applies in the settings made of B only; a later value of a key replaces the earlier one in place.
    assert by[("m", "A r1", 0)].overrides == ["model=mlp", "loss.gamma=9", "data=digits", "x=1", "loss=focal",
                                               "trainer.max_epochs=3", "seed=0"]
    assert by[("m", "B r2", 1)].overrides == ["model=mlp", "loss.gamma=3", "data=digits_lt", "x=2", "loss=focal",
                                               "trainer.max_epochs=3", "seed=1"]
    assert by[("p epsilon=2", "A r1", 0)].param == {"key": "loss.epsilon", "value": 2}
    assert "loss.epsilon=2" in by[("p epsilon=2", "A r1", 0)].overrides
    assert by[("m", "B r2", 1)].name == "B_r2__m__seed1"
    assert exp.smoke_settings == ["A r1"]


def test_merge_overrides_keeps_the_last_value_of_each_key():
    assert merge_overrides(["a=1", "b=2"], ["+a=3", "c=4"]) == ["+a=3", "b=2", "c=4"]


@pytest.mark.parametrize("raw, message", [
    ({"settings": {"s": []}, "methods": {"m": []}, "seeds": [0], "expected": {
        "source": "x", "metric": "test_acc", "form": "error", "epoch": "best"}}, "form='error' is not one of"),
    ({"settings": {"s": []}, "methods": {"m": []}, "seeds": [0], "expected": {
        "source": "x", "metric": "test_acc", "form": "percent", "epoch": "final", "values": {"n": {"s": 1}}}},
     "values name method 'n'"),
    ({"settings": {"s": []}, "methods": {"m": ["loss"]}, "seeds": [0]}, "expected a list of overrides"),
    ({"settings": {"s": []}, "methods": {"m": []}, "seeds": []}, "seeds must be a non-empty list"),
    ({"settings": {"s": []}, "methods": {"m": []}, "seeds": [0], "smoke": {"settings": ["t"]}}, "smoke.settings"),
    ({"settings": {"s": []}, "methods": {"m": []}, "seeds": [0], "methdos": {}}, "Did you mean 'methods'"),
])
def test_bad_definitions_are_rejected_with_a_clear_reason(raw, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _parse(raw)
