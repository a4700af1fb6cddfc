"""`lossbench doctor --losses`: every shipped loss, forward and backward, on this machine's device and
resolved precision, against float64 on the CPU.

For each loss at its defaults and C in SIZES: N = 256 logits of scale LOGIT_SCALE (seeded) and random
targets. Under bf16-mixed (or 16-mixed) the logits reach the loss in bf16 (fp16), as a model's output
does under autocast, and the loss runs inside autocast, as in training; the float64 reference gets
the same rounded logits, so what is measured is the loss's own error, not the input's rounding.
    max_rel_err_value = |l - l64| / |l64|
    max_rel_err_grad  = max |g - g64| / max |g64|   (g: the gradient w.r.t. the logits)
each the larger over the two sizes; `finite`: value and gradient finite at both. Schedules are
switched on and a loss with extra inputs gets fixed ones, as in inspect_loss.py. A loss that draws
random numbers (eql) draws them from the device's generator, which on a GPU differs from the CPU's.
"""
from __future__ import annotations

import copy
import math

import torch

SIZES = (10, 100)
N = 256
LOGIT_SCALE = 2.0
TINY = 1e-30


def _autocast_dtype(precision: str):
    return {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(precision)


def _value_and_grad(loss, z: torch.Tensor, y: torch.Tensor, device: torch.device, dtype) -> tuple:
    from lossbench.inspect_loss import loss_inputs

    inputs = {k: v.to(device) for k, v in loss_inputs(loss, len(y), torch.float32).items()}
    z = z.to(device).requires_grad_(True)
    torch.manual_seed(0)  # a loss that draws (eql): the same draws on every call
    with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        value = loss.to(device)(z.to(dtype) if dtype is not None else z, y.to(device), **inputs)
    (grad,) = torch.autograd.grad(value, z)
    return value.detach().double().cpu(), grad.double().cpu()


def check_one(factory, device: torch.device, precision: str) -> dict:
    """{"finite", "max_rel_err_value", "max_rel_err_grad"} of one loss (factory as in inspect_loss)."""
    from lossbench.inspect_loss import long_tail_counts, ready_loss
    from lossbench.losses.base import learned_parameters

    dtype = _autocast_dtype(precision)
    finite, err_value, err_grad = True, 0.0, 0.0
    for c in SIZES:
        g = torch.Generator().manual_seed(c)
        z = torch.randn(N, c, generator=g) * LOGIT_SCALE
        if dtype is not None:
            z = z.to(dtype).float()  # the logits as the model hands them over under autocast
        y = torch.randint(0, c, (N,), generator=g)
        counts = long_tail_counts(c)
        loss = ready_loss(factory, c, counts)
        # A learned loss computes in its parameters' dtype: its reference is the same link in float64.
        reference = copy.deepcopy(loss).double() if learned_parameters(loss) else ready_loss(factory, c, counts)
        value, grad = _value_and_grad(loss, z, y, device, dtype)
        ref_value, ref_grad = _value_and_grad(reference, z.double(), y, torch.device("cpu"), None)
        if not (torch.isfinite(value).all() and torch.isfinite(grad).all()):
            finite = False
            continue
        err_value = max(err_value, float((value - ref_value).abs() / ref_value.abs().clamp_min(TINY)))
        err_grad = max(err_grad, float((grad - ref_grad).abs().max() / ref_grad.abs().max().clamp_min(TINY)))
    return {"finite": finite, "max_rel_err_value": err_value if finite else math.nan,
            "max_rel_err_grad": err_grad if finite else math.nan}


def doctor_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def check_losses(precision: str, names: list[str] | None = None) -> dict[str, dict]:
    """name -> check_one(...) for every shipped loss (or `names`), on doctor_device()."""
    from lossbench.inspect_command import loss_factory
    from lossbench.losses import list_losses

    device = doctor_device()
    out = {}
    for name in names or list_losses("multiclass"):  # every one has its config (tests/losses/test_options.py)
        _, factory = loss_factory([f"loss={name}"], checked=False)  # registry names: nothing to misspell
        out[name] = check_one(factory, device, precision)
    return out
