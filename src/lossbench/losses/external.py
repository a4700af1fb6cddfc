"""Losses from outside lossbench: your own package, by import path or as an installed plugin.

Three ways in, all ending in `build_from_config`:
  - `loss=mypkg.losses:MyLoss` on the command line (or in a sweep): `expand_loss_overrides` turns it
    into `loss=external loss._target_=mypkg.losses.MyLoss`, and `loss.KEY=V` into `+loss.KEY=V` for
    the keys the class takes (conf/loss/external.yaml has only the shared options);
  - an installed package that declares the entry-point group `lossbench.losses` (NAME =
    "pkg.module:Class"): `loss=NAME` is expanded the same way, and `lossbench list losses` lists it;
  - a YAML of your own in a `-cd` folder whose `_target_` names the class.

What is built:
  - a subclass of `ClassificationLoss`: as any shipped loss, with every shared option (reweight,
    DRW, logit_clip, logz_penalty, posthoc_tau);
  - anything else callable as `(logits, targets) -> scalar` (an `nn.Module` class, a class whose
    instances are callable, or a function): constructed with the `loss.*` keywords it takes, and
    `num_classes` / `class_counts` only when its signature names them, then wrapped in `PlainLoss`.
    logit_clip, logz_penalty and posthoc_tau apply to it as to any loss; the options that weight
    per-sample losses (reweight, reweight_from_epoch) are refused in one paragraph, since a
    plain loss returns the batch's scalar. A plain loss may also return per-sample losses [N]:
    their mean is the loss.
"""
from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping

import torch
from torch import Tensor, nn

from lossbench.losses.base import ClassificationLoss

EXTERNAL = "external"  # the loss config that a path or a plugin name becomes (conf/loss/external.yaml)
ENTRY_POINT_GROUP = "lossbench.losses"
# The options of ClassificationLoss every loss config carries (conf/loss_options/common.yaml).
SHARED_OPTIONS = ("reweight", "reweight_beta", "reweight_from_epoch", "logit_clip", "logz_penalty", "posthoc_tau")
PER_SAMPLE_OPTIONS = {"reweight": "none", "reweight_from_epoch": 0}


def is_path(value: str) -> bool:
    """`pkg.module:Name`: an import path, not the name of a config option."""
    module, sep, name = value.partition(":")
    return bool(sep and module and name) and all(part.isidentifier() for part in (*module.split("."), *name.split(".")))


def plugins() -> dict[str, str]:
    """Installed plugin losses: name -> "pkg.module:Class" (entry-point group `lossbench.losses`)."""
    from importlib.metadata import entry_points

    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def expand_loss_overrides(overrides: Iterable[str], config_options: Iterable[str] | None = None) -> list[str]:
    """The overrides with a loss given by import path (or by a plugin's name that no config
    option in `config_options` has; default: the shipped ones) turned into the `external` loss
    config; its `loss.KEY=V` become `+loss.KEY=V` except for the shared options the config already
    has. Other overrides are returned as they are."""
    from lossbench.overrides import override_key, override_value

    overrides = list(overrides)
    loss = [o for o in overrides if override_key(o) == "loss" and not o.startswith(("+", "~"))]
    value = override_value(loss[-1]) if loss else None
    if value is None:
        return overrides
    if config_options is None:
        from lossbench.paths import group_options

        config_options = group_options("loss")
    known = set(config_options)
    path = value if is_path(value) else (plugins().get(value) if value not in known else None)
    if path is None:
        return overrides
    target = path.replace(":", ".")
    out = []
    for o in overrides:
        key = override_key(o)
        if o is loss[-1]:
            out += [f"loss={EXTERNAL}", f"loss._target_={target}"]
        elif key.startswith("loss.") and key != "loss._target_" and key.split(".")[1] not in SHARED_OPTIONS \
                and not o.startswith(("+", "~")):
            out.append(f"+{o}")
        else:
            out.append(o)
    return out


def _locate(target: str):
    from hydra.utils import get_object

    try:
        return get_object(target)
    except Exception as err:  # noqa: BLE001 -- ImportError, AttributeError: the user's path
        raise ValueError(f"cannot import {target!r} ({type(err).__name__}: {' '.join(str(err).split())}). Give the loss as "
                         f"loss=package.module:Name, with the package importable here (installed, or its folder "
                         f"on PYTHONPATH).") from None


def describe_target(path: str) -> tuple[str, dict]:
    """(the first line of its docstring, {parameter: default}) of the loss at `pkg.module:Name`:
    what `lossbench list losses` shows of a plugin. ValueError if it cannot be imported."""
    target = _locate(path.replace(":", "."))
    doc = (inspect.getdoc(target) or "").strip().splitlines()
    try:
        params = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):
        params = []
    defaults = {p.name: p.default for p in params if p.default is not p.empty
                and p.name not in ("num_classes", "class_counts", *SHARED_OPTIONS)}
    return (doc[0] if doc else "a plugin loss"), defaults


def _accepts(signature: inspect.Signature) -> tuple[set[str], bool]:
    params = signature.parameters.values()
    named = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return named, any(p.kind is p.VAR_KEYWORD for p in params)


def build_from_config(node: Mapping, *, num_classes: int, class_counts) -> nn.Module:
    """The loss a config node describes (its `_target_` and parameters), for a job with
    `num_classes` classes and these training `class_counts`."""
    from hydra.utils import instantiate

    from omegaconf import OmegaConf

    if OmegaConf.is_missing(node, "_target_"):
        raise ValueError("loss=external is what loss=package.module:Name becomes: name your loss that way (or give "
                         "loss._target_=package.module.Name).")
    params = {k: v for k, v in OmegaConf.to_container(node, resolve=True).items() if k != "_target_"}
    target_name = str(node["_target_"])
    target = _locate(target_name)
    if isinstance(target, type) and issubclass(target, ClassificationLoss):
        return instantiate(node, num_classes=num_classes, class_counts=class_counts)
    shared = {k: params.pop(k) for k in SHARED_OPTIONS if k in params}
    return PlainLoss(_plain(target, target_name, params, num_classes, class_counts), target_name,
                     num_classes=num_classes, class_counts=class_counts, **shared)


def _plain(target, name: str, params: dict, num_classes: int, class_counts):
    """Construct a plain loss (a class) or bind a loss function's extra keywords."""
    import functools

    if not callable(target):
        raise ValueError(f"{name} is not a loss: give a class (an nn.Module, or any class whose instances are "
                         f"called as loss(logits, targets)) or a function loss(logits, targets) -> scalar.")
    is_class = isinstance(target, type)
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        signature = None
    if signature is not None:
        named, var_kw = _accepts(signature)
        unknown = sorted(set(params) - named) if not var_kw else []
        if unknown:
            raise ValueError(f"{name} takes no parameter {', '.join(map(repr, unknown))}; its parameters are: "
                             f"{', '.join(sorted(named - {'self', 'logits', 'targets', 'input', 'target'}))}.")
        if is_class:  # the job's facts, passed only when the constructor names them
            facts = {"num_classes": num_classes, "class_counts": None if class_counts is None else list(class_counts)}
            params = {**{k: v for k, v in facts.items() if k in named}, **params}
    if is_class:
        loss = target(**params)
        if not callable(loss):
            raise ValueError(f"{name} instances are not callable: a loss is called as loss(logits, targets).")
        return loss
    return functools.partial(target, **params) if params else target


class PlainLoss(ClassificationLoss):
    """A loss of your own that is not a ClassificationLoss: `inner(logits, targets)` returns the
    batch's loss (a scalar) or per-sample losses [N] (then their mean is the loss). The shared
    options that act on the logits or the whole batch (logit_clip, logz_penalty, posthoc_tau) apply
    as for any loss; re-weighting (reweight, reweight_from_epoch) needs per-sample losses and is
    refused. The logits reach `inner` in float32 (float64 stays float64), as every loss gets them."""

    def __init__(self, inner, target: str, *, num_classes: int, class_counts=None, **shared):
        wanted = {k: shared[k] for k, default in PER_SAMPLE_OPTIONS.items() if shared.get(k, default) != default}
        if wanted:
            given = ", ".join(f"loss.{k}={v}" for k, v in wanted.items())
            raise ValueError(f"{given}: re-weighting needs the loss of each sample, and {target} returns the batch's "
                             f"loss, so lossbench cannot weight it. Subclass lossbench.losses.ClassificationLoss and "
                             f"implement per_sample(logits, targets) -> [N] to get every shared option, or weight "
                             f"inside your loss.")
        self.name = target
        super().__init__(num_classes=num_classes, class_counts=class_counts, **shared)
        self.inner = inner if isinstance(inner, nn.Module) else None  # its parameters and buffers: the job's
        self._function = None if isinstance(inner, nn.Module) else inner

    def per_sample(self, logits: Tensor, targets: Tensor, **inputs) -> Tensor:
        """The plain loss's output, which `reduce` averages: a scalar is its own mean."""
        out = (self.inner if self.inner is not None else self._function)(logits, targets)
        if not isinstance(out, Tensor) or out.dim() > 1 or (out.dim() == 1 and len(out) != len(targets)):
            shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise TypeError(f"loss {self.name} returned {shape}; a loss returns a scalar tensor (or one loss per "
                            f"sample, shape [N]).")
        return out.to(torch.promote_types(out.dtype, torch.float32))

    def sample_losses(self, logits: Tensor, targets: Tensor, **inputs) -> Tensor:
        """Each example's loss: the plain loss called on one example at a time (it averages a batch)."""
        return torch.cat([super(PlainLoss, self).sample_losses(logits[i:i + 1], targets[i:i + 1]).reshape(1)
                          for i in range(len(targets))])

    def extra_repr(self) -> str:
        return f"{self.name}, num_classes={self.num_classes}"
