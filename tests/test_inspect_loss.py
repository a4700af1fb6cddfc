"""lossbench inspect-loss: the properties the issue binds, measured on the shipped losses (the
oracles below are the literature's), the JSON keys, bad input, and docs/LOSS_PROPERTIES.md fresh."""
from __future__ import annotations

import json

import pytest
import yaml

from lossbench import inspect_loss
from lossbench.cli import main
from lossbench.inspect_command import loss_factory
from lossbench.paths import PACKAGE_DIR

KEYS = {"finite", "gradcheck", "proper", "properness_error", "calibrated", "symmetric", "bounded",
        "prior_dependent", "time_vs_ce", "memory_vs_ce"}


def _measure(*overrides):
    return inspect_loss.inspect(loss_factory(list(overrides))[1])


@pytest.fixture(scope="module")
def every_loss(tmp_path_factory):
    """`lossbench inspect-loss --all --markdown PATH --json`: (the Markdown it wrote, the JSON it printed)."""
    import contextlib
    import io

    path = tmp_path_factory.mktemp("props") / "LOSS_PROPERTIES.md"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["inspect-loss", "--all", "--markdown", str(path), "--json"]) == 0
    return path.read_text(), json.loads(out.getvalue().split("\n", 1)[1])


@pytest.fixture(scope="module")
def measured(every_loss):
    """The oracles' losses: shipped ones at their defaults (focal gamma = 2, gce q = 0.7) from --all,
    the others measured here."""
    _, results = every_loss
    out = {name: results[name] for name in ("ce", "brier", "focal", "mae", "nce", "nce_rce", "gce", "poly1",
                                            "logit_adjust", "balanced_softmax")}
    defaults = {name: yaml.safe_load((PACKAGE_DIR / "conf" / "loss" / f"{name}.yaml").read_text())
                for name in ("focal", "gce")}
    assert (defaults["focal"]["gamma"], defaults["gce"]["q"]) == (2.0, 0.7)  # the oracles' parameters
    out["rce"] = _measure("loss=sce", "loss.alpha=0")
    out["ls"] = _measure("loss=ce", "loss.label_smoothing=0.1")
    return out


def test_proper_losses(measured):
    for name in ("ce", "brier"):
        assert measured[name]["proper"] and measured[name]["properness_error"] < 1e-3, name


def test_focal_is_not_proper_but_classification_calibrated(measured):
    # Charoenphakdee, Vongkulbhisal, Chairatanakul & Sugiyama, CVPR 2021
    assert not measured["focal"]["proper"] and measured["focal"]["calibrated"]


def test_label_smoothing_is_not_proper(measured):
    # its minimiser is (1 - eps) p + eps / C: |softmax(z*) - p| = eps |1/C - p_k| reaches 0.1 * |0.2 - p_k|
    assert not measured["ls"]["proper"] and 0.01 < measured["ls"]["properness_error"] < 0.1


def test_symmetric_and_bounded_losses(measured):
    for name in ("mae", "nce", "nce_rce", "rce"):
        assert measured[name]["symmetric"], name
    for name in ("mae", "nce", "gce"):
        assert measured[name]["bounded"], name
    assert not measured["gce"]["symmetric"]
    for name in ("ce", "focal", "poly1"):
        assert not measured[name]["symmetric"] and not measured[name]["bounded"], name


def test_prior_dependence_and_properness_against_the_reweighted_prior(measured):
    for name in ("logit_adjust", "balanced_softmax"):
        # CE of z + log(pi): proper in the adjusted logits, so softmax(z*) = p / pi normalised
        assert measured[name]["prior_dependent"] and measured[name]["proper"], name
    assert not any(measured[name]["prior_dependent"] for name in ("ce", "focal", "mae", "ls"))


def test_every_loss_is_finite_and_costs_are_ratios_to_ce(measured):
    assert all(r["finite"] and r["gradcheck"] for r in measured.values())
    assert measured["ce"]["memory_vs_ce"] == pytest.approx(1.0)  # the same graph as F.cross_entropy
    assert all(r["time_vs_ce"] > 0 and r["memory_vs_ce"] > 0 for r in measured.values())


def test_json_has_the_binding_keys(capsys):
    assert main(["inspect-loss", "loss=focal", "loss.gamma=2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    (name,) = out
    assert name == "focal loss.gamma=2" and KEYS <= set(out[name])
    assert out[name]["proper"] is False and out[name]["calibrated"] is True


def test_a_loss_of_your_own_is_inspected_by_path(tmp_path, monkeypatch, capsys):
    (tmp_path / "ownloss.py").write_text(
        "import torch.nn.functional as F\nfrom torch import nn\n\n\nclass Tempered(nn.Module):\n"
        "    def __init__(self, t=1.0):\n        super().__init__()\n        self.t = t\n\n"
        "    def forward(self, z, y):\n        return F.cross_entropy(z / self.t, y)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["inspect-loss", "loss=ownloss:Tempered", "loss.t=2", "--json"]) == 0
    (result,) = json.loads(capsys.readouterr().out).values()
    # CE of z / 2 is CE in the logits z / 2: proper (softmax(z*/2) = p, so softmax(z*) = p^2 normalised: not p)
    assert result["proper"] is False and result["calibrated"] is True and result["symmetric"] is False


@pytest.mark.parametrize("args,words", [
    (["loss=focall"], "not an option"), (["loss=focal", "loss.gamma=-1"], "gamma"),
    (["loss=focal", "seed=3"], "the loss and its options only"), (["--markdown"], "--all"),
])
def test_bad_input_is_one_paragraph(args, words, capsys):
    assert main(["inspect-loss", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lossbench: error:") and words in err and "Traceback" not in err


def test_loss_properties_md_is_fresh(every_loss):
    """docs/LOSS_PROPERTIES.md is what `lossbench inspect-loss --all --markdown` writes now."""
    written, results = every_loss
    committed = (PACKAGE_DIR.parents[1] / "docs" / "LOSS_PROPERTIES.md").read_text()
    assert written == committed, "docs/LOSS_PROPERTIES.md is stale: run lossbench inspect-loss --all --markdown"
    assert len(results) == 47 and all(set(r) >= KEYS for r in results.values())


def _fake_run(tmp_path, num_classes_in_results: int):
    """A run directory as a finished job leaves it (config.yaml, results.json, checkpoints/last.ckpt) whose
    legendretron link was trained away from its initialisation (perturbed here), at C = 4."""
    import torch
    from omegaconf import OmegaConf

    from lossbench.losses import build_loss
    from lossbench.sweep.compose import compose, hydra_context

    with hydra_context():
        cfg = compose(["loss=legendretron", "loss.blocks=2"])
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    OmegaConf.save(cfg, run / "config.yaml")
    (run / "results.json").write_text(json.dumps({"num_classes": num_classes_in_results}))
    torch.manual_seed(7)
    loss = build_loss("legendretron", num_classes=4, blocks=2).train()
    loss(torch.randn(32, 4) * 3, torch.randint(0, 4, (32,)))  # the ActNorms' first-batch initialisation
    with torch.no_grad():
        for p in loss.parameters():
            p.add_(torch.randn_like(p))
    state = {f"loss_fn.{k}": v for k, v in loss.state_dict().items()}
    state["model.classifier.weight"] = torch.zeros(3, 2)
    torch.save({"state_dict": state}, run / "checkpoints" / "last.ckpt")
    return run, loss


def test_inspect_loss_of_a_run_measures_the_learned_state_at_the_runs_classes(tmp_path):
    from lossbench.inspect_command import run_loss_factory

    run, trained = _fake_run(tmp_path, 4)
    label, factory, num_classes = run_loss_factory(str(run))
    assert num_classes == 4 and label.endswith("(last.ckpt)")
    loaded = factory(4, [1, 1, 1, 1])
    for (name, mine), (_, theirs) in zip(loaded.state_dict().items(), trained.state_dict().items()):
        assert torch_equal(mine, theirs), name
    result = inspect_loss.inspect(factory, num_classes)
    # Proper at any fixed link, so at the learned one too; never symmetric or bounded (a log loss).
    assert result["proper"] and result["calibrated"] and result["finite"] and result["gradcheck"]
    assert not result["symmetric"] and not result["bounded"]


def test_inspect_loss_refuses_a_run_whose_checkpoint_does_not_fit_its_config(tmp_path, capsys):
    run, _ = _fake_run(tmp_path, 5)  # results.json says 5 classes, the link was trained at 4
    assert main(["inspect-loss", "--run", str(run)]) == 2
    err = capsys.readouterr().err
    assert "does not fit the loss its config builds" in err and "Traceback" not in err
    assert main(["inspect-loss", "--run", str(tmp_path / "nowhere")]) == 2
    assert "checkpoints/last.ckpt not found" in capsys.readouterr().err


def torch_equal(a, b) -> bool:
    import torch

    return torch.equal(a.to(b.dtype), b)


@pytest.mark.parametrize("name,task", [("hinge", "binary"), ("db", "multilabel")])
def test_a_binary_or_multilabel_loss_is_refused_with_the_multiclass_list(name, task):
    from lossbench.errors import UsageError

    with pytest.raises(UsageError, match=f"loss={name} is a loss for {task} tasks; inspect-loss measures multi-class"):
        loss_factory([f"loss={name}"])
    _, factory = loss_factory([f"loss={name}"], multiclass_only=False)  # the factory takes that task's classes
    assert factory(2 if task == "binary" else 5, [3] * (2 if task == "binary" else 5)).tasks == {task}
