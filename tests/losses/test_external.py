"""losses/external.py: a loss of your own, by import path or as a plugin. A plain nn.Module or
function is wrapped (PlainLoss) with the shared options that need no per-sample losses; a
ClassificationLoss subclass gets all of them; the overrides that name one are rewritten into the
`external` config."""
from __future__ import annotations

import sys
import types

import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from torch import nn

from lossbench.losses.base import ClassificationLoss
from lossbench.losses.external import PlainLoss, build_from_config, expand_loss_overrides, is_path

C = 5


class TemperedCE(nn.Module):
    """CE of logits / t."""

    def __init__(self, t: float = 1.0):
        super().__init__()
        self.t = t

    def forward(self, logits, targets):
        return F.cross_entropy(logits / self.t, targets)


class CountsAware(nn.Module):
    def __init__(self, num_classes, class_counts, scale=1.0):
        super().__init__()
        self.seen = (num_classes, class_counts)
        self.register_buffer("log_prior", torch.log(torch.tensor(class_counts, dtype=torch.float64)
                                                    / sum(class_counts)))
        self.scale = scale

    def forward(self, logits, targets):  # balanced softmax, per sample
        return F.cross_entropy(logits + self.log_prior.to(logits.dtype), targets, reduction="none") * self.scale


class Weighted(ClassificationLoss):
    def per_sample(self, logits, targets, **inputs):
        return F.cross_entropy(logits, targets, reduction="none")


def margin_hinge(logits, targets, margin=1.0):
    z_y = logits.gather(1, targets[:, None])
    return F.relu(margin - (z_y - logits)).sum(1).mean() - margin  # the target's own term is `margin`


@pytest.fixture(autouse=True)
def userpkg(monkeypatch):
    """A module `userpkg` importable by name, holding the losses above."""
    module = types.ModuleType("userpkg")
    for obj in (TemperedCE, CountsAware, Weighted, margin_hinge):
        setattr(module, obj.__name__, obj)
    monkeypatch.setitem(sys.modules, "userpkg", module)
    return module


def _batch(seed=0, n=16):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, C, generator=g, dtype=torch.float64) * 3, torch.randint(0, C, (n,), generator=g)


def _build(target, **params):
    return build_from_config(OmegaConf.create({"_target_": target, **params}), num_classes=C,
                             class_counts=[50, 20, 10, 5, 2])


def test_a_plain_module_is_wrapped_and_gets_its_own_keywords():
    loss = _build("userpkg.TemperedCE", t=3.0)
    assert isinstance(loss, PlainLoss) and isinstance(loss.inner, TemperedCE) and loss.inner.t == 3.0
    z, y = _batch()
    z.requires_grad_(True)
    value = loss(z, y)
    expected = -torch.log_softmax(z.detach() / 3.0, dim=1).gather(1, y[:, None]).mean()
    torch.testing.assert_close(value.detach(), expected)
    (grad,) = torch.autograd.grad(value, z)
    p = torch.softmax(z.detach() / 3.0, dim=1)
    torch.testing.assert_close(grad, (p - F.one_hot(y, C)) / 3.0 / len(y))


def test_num_classes_and_class_counts_reach_only_a_constructor_that_names_them():
    loss = _build("userpkg.CountsAware", scale=2.0)
    assert loss.inner.seen == (C, [50, 20, 10, 5, 2])
    z, y = _batch(1)
    prior = torch.log(torch.tensor([50, 20, 10, 5, 2], dtype=torch.float64) / 87)
    expected = 2.0 * -torch.log_softmax(z + prior, dim=1).gather(1, y[:, None]).mean()  # per-sample -> mean
    torch.testing.assert_close(loss(z, y), expected)
    assert "inner.log_prior" in dict(loss.named_buffers())  # the plain module's state is the job's


def test_a_function_gets_its_keywords_bound():
    loss = _build("userpkg.margin_hinge", margin=2.0)
    z, y = _batch(2)
    z_y = z.gather(1, y[:, None])
    torch.testing.assert_close(loss(z, y), F.relu(2.0 - (z_y - z)).sum(1).mean() - 2.0)


def test_shared_options_that_need_no_per_sample_losses_apply_to_a_plain_loss():
    z, y = _batch(3)
    plain = _build("userpkg.TemperedCE", t=1.0, logz_penalty=0.1, logit_clip=2.0)
    norms = z.norm(dim=1, keepdim=True)
    clipped = z * (2.0 / norms).clamp(max=1.0)
    expected = F.cross_entropy(clipped, y) + 0.1 * torch.logsumexp(clipped, dim=1).pow(2).mean()
    torch.testing.assert_close(plain(z, y), expected)


@pytest.mark.parametrize("option", [{"reweight": "class_balanced"}, {"reweight_from_epoch": 5}])
def test_reweighting_a_plain_loss_is_refused_with_why(option):
    with pytest.raises(ValueError, match="re-weighting needs the loss of each sample.*Subclass"):
        _build("userpkg.TemperedCE", **option)


def test_a_classification_loss_subclass_gets_every_shared_option():
    loss = _build("userpkg.Weighted", reweight="inverse")
    assert isinstance(loss, Weighted) and not isinstance(loss, PlainLoss)
    z, y = _batch(4)
    w = 1.0 / torch.tensor([50, 20, 10, 5, 2], dtype=torch.float64)
    w = w / w.sum() * C
    per = F.cross_entropy(z, y, reduction="none")
    torch.testing.assert_close(loss(z, y), (per * w[y]).sum() / w[y].sum())


def test_bad_targets_and_parameters_say_what_to_do():
    with pytest.raises(ValueError, match="takes no parameter 'tt'; its parameters are: t"):
        _build("userpkg.TemperedCE", tt=3.0)
    with pytest.raises(ValueError, match="cannot import 'nopkg.Loss'.*PYTHONPATH"):
        _build("nopkg.Loss")
    missing = OmegaConf.create({"_target_": "???"})
    with pytest.raises(ValueError, match="loss=package.module:Name"):
        build_from_config(missing, num_classes=C, class_counts=None)


def test_a_plain_loss_returning_a_wrong_shape_is_named():
    with pytest.raises(TypeError, match=r"bad returned \(3, 5\); a loss returns a scalar"):
        PlainLoss(lambda z, y: z[:3], "bad", num_classes=C)(*_batch())


@pytest.mark.parametrize("value,expected", [("mypkg.losses:MyLoss", True), ("a:B", True), ("focal", False),
                                            ("mypkg.losses.MyLoss", False), ("a:", False), (":B", False),
                                            ("a-b:C", False)])
def test_is_path(value, expected):
    assert is_path(value) is expected


def test_expansion_of_a_path_and_its_keywords():
    out = expand_loss_overrides(["loss=mypkg.losses:MyLoss", "loss.t=3", "loss.reweight=inverse", "seed=1",
                                 "+loss.extra=1"], ["ce", "focal"])
    assert out == ["loss=external", "loss._target_=mypkg.losses.MyLoss", "+loss.t=3", "loss.reweight=inverse",
                   "seed=1", "+loss.extra=1"]
    same = ["loss=focal", "loss.gamma=1"]
    assert expand_loss_overrides(same, ["ce", "focal"]) == same


def test_a_plugin_name_is_expanded_unless_a_config_option_has_it(monkeypatch):
    import lossbench.losses.external as external

    monkeypatch.setattr(external, "plugins", lambda: {"tempered": "userpkg:TemperedCE", "focal": "userpkg:X"})
    assert expand_loss_overrides(["loss=tempered", "loss.t=2"], ["ce", "focal"]) == [
        "loss=external", "loss._target_=userpkg.TemperedCE", "+loss.t=2"]
    assert expand_loss_overrides(["loss=focal"], ["ce", "focal"]) == ["loss=focal"]  # shipped wins
