"""overrides.py: keys, values, merging, file-name slugs and the runs root, read one way everywhere."""
from __future__ import annotations

from pathlib import Path

import pytest

from lossbench.overrides import merge_overrides, override_key, override_value, runs_root, slug


@pytest.mark.parametrize("override,key,value", [
    ("loss.gamma=2", "loss.gamma", "2"), ("+loss.gamma=2", "loss.gamma", "2"), ("~loss.gamma", "loss.gamma", None),
    ("++trainer.x=a=b", "trainer.x", "a=b"), ("data=cifar10_lt", "data", "cifar10_lt"),
])
def test_key_and_value(override, key, value):
    assert override_key(override) == key and override_value(override) == value


def test_merge_keeps_the_last_value_of_each_key_in_its_first_place():
    assert merge_overrides(["a=1", "b=2"], ["+a=3", "c=4"], ["~b"]) == ["+a=3", "~b", "c=4"]


@pytest.mark.parametrize("text,expected", [("C10-LT rho=100", "C10-LT_rho_100"), ("ldam+DRW", "ldam+DRW"),
                                           ("tau=0.5", "tau_0.5"), ("///", "x"), ("a  b", "a_b")])
def test_slug(text, expected):
    assert slug(text) == expected


def test_runs_root_prefers_the_override_then_the_environment_then_runs():
    assert runs_root(["runs_root=/a", "runs_root=/b"], {"LOSSBENCH_RUNS": "/env"}) == (Path("/b"), "runs_root")
    assert runs_root(["loss=ce"], {"LOSSBENCH_RUNS": "/env"}) == (Path("/env"), "LOSSBENCH_RUNS")
    assert runs_root([], {}) == (Path("runs"), "runs_root (default)")
    assert runs_root(["runs_root=~/r"], {})[0] == Path("~/r").expanduser()
