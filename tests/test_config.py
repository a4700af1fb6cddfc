"""Every option of every config group composes, builds, and is documented as the style asks."""
from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate

from lossbench.paths import CONF_DIR, CONFIG_GROUPS, group_options

ALL_OPTIONS = [(group, option) for group in CONFIG_GROUPS for option in group_options(group)]
YAMLS = sorted(p for p in CONF_DIR.rglob("*.yaml"))


def _compose(overrides: list[str]):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=overrides)


@pytest.mark.parametrize("group,option", ALL_OPTIONS, ids=[f"{g}={o}" for g, o in ALL_OPTIONS])
def test_every_option_composes_and_builds(group, option, tmp_path):
    extra = []
    if (group, option) == ("data", "image_folder"):  # its classes are the folder names under data.root
        for name in ("cat", "dog"):
            (tmp_path / name).mkdir()
        extra = [f"data.root={tmp_path}"]
    cfg = _compose([f"{group}={option}", *extra])
    if group == "debug":  # a debug config changes the trainer and keeps every output on
        assert cfg.trainer.max_epochs <= 20 and "fast_dev_run" not in cfg.trainer
        return
    node = cfg[group]
    if group == "data":
        datamodule = instantiate(node)  # constructing a data module loads nothing
        assert datamodule.name == option == node.name
    elif group == "loss":
        from lossbench.losses import get_loss_class

        c = 10 if "multiclass" in get_loss_class(option).tasks else 2  # a binary loss: two classes
        loss = instantiate(node, num_classes=c, class_counts=[100 - 9 * i for i in range(c)])
        assert loss.name == option
    elif group == "model":
        import torch

        model = instantiate(node, num_classes=10, in_channels=1, image_size=8)
        model.eval()
        assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    elif group == "optimizer":
        import torch

        optimizer = instantiate(node)(params=[torch.nn.Parameter(torch.zeros(1))])
        assert optimizer.defaults["lr"] == node.lr
    elif group == "scheduler" and node:
        import torch

        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        assert instantiate(node)(optimizer, max_epochs=10).get_last_lr()[0] > 0
    elif group == "trainer":
        assert node._target_.startswith("lightning.pytorch.")
    elif group in ("logger", "callbacks"):  # each entry sits under its own name, so that several compose
        for entry in (node or {}).values():
            assert entry._target_.startswith("lightning.pytorch.")
        if group == "callbacks":
            assert [type(instantiate(e)).__name__ for e in (node or {}).values()] == \
                [e._target_.rsplit(".", 1)[1] for e in (node or {}).values()]


@pytest.mark.parametrize("path", YAMLS, ids=[str(p.relative_to(CONF_DIR)) for p in YAMLS])
def test_every_yaml_opens_with_what_it_is_and_an_example(path):
    lines = path.read_text().splitlines()
    assert lines[0].startswith("# "), f"{path} must open with a comment saying what it is"
    header = [line for line in lines[: next(i for i, l in enumerate(lines + [""]) if not l.startswith("#"))]]
    assert any(line.startswith("# Example:") and "lossbench " in line for line in header), \
        f"{path} needs an example command in its opening comment"


def test_default_is_the_embedded_digits_lt_job():
    cfg = _compose([])
    assert cfg.data.name == "digits_lt" and cfg.seed == 0
    assert cfg.trainer.precision == "auto" and cfg.trainer.accelerator == "auto"


def test_long_tail_recipe_schedule_matches_ldam_drw():
    import torch

    cfg = _compose(["scheduler=multistep"])
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    schedule = instantiate(cfg.scheduler)(optimizer, max_epochs=200)
    factors = [schedule.lr_lambdas[0](e) for e in (0, 4, 5, 159, 160, 179, 180, 199)]
    # kaidic/LDAM-DRW adjust_learning_rate: lr*(e+1)/5 for e+1 <= 5, x0.01 after 160, x0.0001 after 180.
    assert factors == pytest.approx([0.2, 1.0, 1.0, 1.0, 0.01, 0.01, 1e-4, 1e-4])


def test_cosine_schedule_reaches_zero_at_the_end():
    import math

    import torch

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    schedule = instantiate(_compose(["scheduler=cosine"]).scheduler)(optimizer, max_epochs=10)
    factor = schedule.lr_lambdas[0]
    assert factor(0) == 1.0 and factor(5) == pytest.approx(0.5) and factor(10) == pytest.approx(0.0)
    assert factor(3) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.3)))


def test_step_schedule_is_the_legendretron_authors_steplr():
    import torch

    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=0.01)
    schedule = instantiate(_compose(["scheduler=step", "scheduler.gamma=0.95"]).scheduler)(optimizer, max_epochs=240)
    # torch's StepLR(step_size=4 epochs, gamma) as lt_libsvm.py steps it: x gamma at epochs 4, 8, ...
    reference = torch.optim.lr_scheduler.StepLR(torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=0.01),
                                                step_size=4, gamma=0.95)
    for epoch in range(12):
        assert schedule.get_last_lr()[0] == pytest.approx(reference.get_last_lr()[0], rel=1e-12), epoch
        optimizer.step()
        schedule.step()
        reference.optimizer.step()
        reference.step()
    with pytest.raises(ValueError, match="scheduler.step_size=0 is out of range"):
        instantiate(_compose(["scheduler=step", "scheduler.step_size=0"]).scheduler)(optimizer, max_epochs=3)


def test_adam_is_torch_adam_with_coupled_l2_weight_decay():
    cfg = _compose(["optimizer=adam", "optimizer.weight_decay=0.01"])
    import torch

    w = torch.nn.Parameter(torch.tensor([2.0]))
    opt = instantiate(cfg.optimizer)([w])
    assert type(opt) is torch.optim.Adam and opt.defaults["weight_decay"] == 0.01
    # The authors' 0.5 wd |w|^2 added to the loss gives the same first step as Adam's coupled decay.
    v = torch.nn.Parameter(torch.tensor([2.0]))
    ref = torch.optim.Adam([v], lr=cfg.optimizer.lr)
    (w * 3).sum().backward()
    ((v * 3).sum() + 0.5 * 0.01 * (v ** 2).sum()).backward()
    opt.step()
    ref.step()
    torch.testing.assert_close(w.detach(), v.detach())
