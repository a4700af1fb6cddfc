"""module.py's optimizer set-up: the fused CUDA kernel is asked for where it exists and the config
leaves it open, and never on a CPU or against the config."""
from __future__ import annotations

import functools

import torch

from lossbench.module import fused_on_cuda

CUDA, CPU = torch.device("cuda", 0), torch.device("cpu")


def test_sgd_and_adamw_are_fused_on_a_gpu_when_the_config_leaves_it_open():
    for optimizer in (torch.optim.SGD, torch.optim.AdamW):
        assert fused_on_cuda(functools.partial(optimizer, lr=0.1, fused=None), CUDA) == {"fused": True}
        assert fused_on_cuda(functools.partial(optimizer, lr=0.1), CUDA) == {"fused": True}


def test_never_fused_on_a_cpu_against_the_config_or_without_a_fused_kernel():
    assert fused_on_cuda(functools.partial(torch.optim.SGD, lr=0.1, fused=None), CPU) == {}
    assert fused_on_cuda(functools.partial(torch.optim.SGD, lr=0.1, fused=False), CUDA) == {}
    assert fused_on_cuda(functools.partial(torch.optim.LBFGS, lr=0.1), CUDA) == {}


def test_the_fused_flag_reaches_the_optimizer():
    params = [torch.nn.Parameter(torch.zeros(3))]
    factory = functools.partial(torch.optim.SGD, lr=0.1, fused=None)
    assert factory(params=params, **fused_on_cuda(factory, CPU)).defaults["fused"] is None
