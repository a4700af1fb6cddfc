"""Airtight configs: every YAML field is read by something, and `precision: auto` (lossbench's own
value) is shown resolved by `lossbench train --cfg job`."""
from __future__ import annotations

import inspect
import re

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import get_object

from lossbench.paths import CONF_DIR, CONFIG_GROUPS, PACKAGE_DIR, group_options

ALL_OPTIONS = [(g, o) for g in CONFIG_GROUPS for o in group_options(g)]
HYDRA_KEYS = {"_target_", "_partial_", "_recursive_", "_convert_"}
# Keys lossbench itself takes out of a group before instantiating it (train.py: _set_threads, _precision).
POPPED = {"trainer": {"threads", "compile", "channels_last"}}
# Logger fields Lightning passes on through **kwargs to the logging library (wandb.init's entity,
# group, tags; train.py also reads group).
FORWARDED = {"wandb": {"entity", "group", "tags"}}
BUILD_ARGS = {"loss": {"num_classes": 10, "class_counts": [100 - 9 * i for i in range(10)]},
              "model": {"num_classes": 10, "in_channels": 1, "image_size": 8},
              # SAM hands its base optimizer's fields on through **kwargs, and refuses any the base lacks
              "optimizer": {"params": [torch.nn.Parameter(torch.zeros(2))], "_partial_": False}}


def _compose(overrides):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=overrides)


def accepted_parameters(target) -> tuple[set[str], bool]:
    """(names a callable accepts, whether it also takes **kwargs nobody names). A **kwargs
    constructor that passes them to its base class's __init__ (data modules' **common) is followed."""
    names: set[str] = set()
    functions = [c.__init__ for c in inspect.getmro(target) if "__init__" in vars(c)] if inspect.isclass(target) \
        else [target]
    for function in functions:
        params = inspect.signature(function).parameters.values()
        names |= {p.name for p in params if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)} - {"self"}
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            return names, False
    return names, True


@pytest.mark.parametrize("group,option", ALL_OPTIONS, ids=[f"{g}={o}" for g, o in ALL_OPTIONS])
def test_every_field_of_every_option_is_read(group, option):
    if group == "debug":
        return  # debug options set keys of the other groups (trainer, data), each checked there
    node = _compose([f"{group}={option}"])[group]
    if group in ("logger", "callbacks") and node:
        node = node[option]  # these groups compose as a list: each option sits under its own name
    if not node:
        return  # scheduler=none, a logger that adds nothing
    target = get_object(node._target_)
    accepted, open_kwargs = accepted_parameters(target)
    # SAM's **kwargs go to its base optimizer, not to its own base class
    forwards = group == "optimizer" and any(p.kind == p.VAR_KEYWORD for p in inspect.signature(target).parameters.values())
    if (open_kwargs or forwards) and group in BUILD_ARGS:
        # A **kwargs constructor (the losses' base class, ResNet32): it must refuse a key it does not
        # read, so that building every option (test_config.py) proves each of its fields is read.
        from hydra.utils import instantiate
        from omegaconf import open_dict

        with open_dict(node):
            node["lossbench_unread_field"] = 1
        args = dict(BUILD_ARGS[group])
        if group == "loss" and "multiclass" not in get_object(node._target_).tasks:
            args.update(num_classes=2, class_counts=[2, 1])  # a binary loss
        with pytest.raises(Exception, match="lossbench_unread_field"):
            instantiate(node, **args)
        return
    unread = set(node.keys()) - HYDRA_KEYS - accepted - POPPED.get(group, set()) - FORWARDED.get(option, set())
    assert not unread, f"{group}={option}: {sorted(unread)} reach no parameter of {node._target_}"


def test_accepted_parameters_sees_through_kwargs_to_the_base_class():
    from lossbench.data import SyntheticDataModule

    names, open_kwargs = accepted_parameters(SyntheticDataModule)
    assert {"train_per_class", "val_source", "val_per_class", "batch_size"} <= names and "bogus" not in names
    assert not open_kwargs


def test_popped_trainer_keys_are_popped():
    source = (PACKAGE_DIR / "train.py").read_text()
    for key in POPPED["trainer"]:
        assert f'trainer_cfg.pop("{key}"' in source


def test_every_top_level_key_is_read():
    cfg = _compose([])
    sources = "\n".join(p.read_text() for p in PACKAGE_DIR.rglob("*.py")) + (CONF_DIR / "config.yaml").read_text()
    for key in set(cfg.keys()) - set(CONFIG_GROUPS):
        pattern = rf"cfg\.{key}\b|cfg\.get\(\"{key}\"|\$\{{{key}\}}"
        assert re.search(pattern, sources), f"top-level key {key!r} is read nowhere"


def test_cfg_job_shows_what_precision_auto_resolves_to(runs_root):
    import torch

    from tests.conftest import run_cli

    from lossbench import hardware

    proc = run_cli(["train", "--cfg", "job"], runs_root)
    assert proc.returncode == 0, proc.stderr
    # bf16-mixed on a GPU and on a CPU with native bf16 (AMX, AVX512-BF16), else 32-true: this machine's answer
    expected = "bf16-mixed" if torch.cuda.is_available() or hardware.cpu_has_native_bf16() else "32-true"
    assert "precision: auto" in proc.stdout
    assert f"# trainer.precision: auto resolves to {expected} on this machine" in proc.stdout
    assert not list(runs_root.rglob("results.json"))  # --cfg runs nothing


def test_image_data_yamls_share_the_protocol_keys_and_repeat_none():
    import yaml

    protocol = yaml.safe_load((CONF_DIR / "data_options" / "protocol.yaml").read_text())
    assert len(protocol) == 16
    from lossbench.data.base import ImageDataModule

    with_target = [p for p in sorted((CONF_DIR / "data").glob("*.yaml"))
                   if issubclass(get_object(yaml.safe_load(p.read_text()).get("_target_", "builtins.object")),
                                 ImageDataModule)]
    assert len(with_target) >= 6
    sharing, own_protocol = [], []
    for path in with_target:
        own = yaml.safe_load(path.read_text())
        if "defaults" not in own:  # gaussian2d: 2-D points, not images; none of the image protocol keys
            own_protocol.append(path.stem)
            continue
        if own["defaults"][0] != "/data_options/protocol@_here_":  # cifar100, wine: variants of cifar10, iris
            continue
        sharing.append(path.stem)
        assert own["defaults"] == ["/data_options/protocol@_here_", "_self_"], path.name
        repeated = [k for k, v in own.items() if k in protocol and protocol[k] == v]
        assert not repeated, f"{path.name} repeats protocol defaults {repeated}"
    assert sharing == ["cifar10", "digits_lt", "fashion_mnist", "image_folder", "iris", "mnist", "synthetic",
                       "synthetic_multilabel"]
    assert own_protocol == ["gaussian2d"]
