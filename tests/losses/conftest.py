"""The keywords a loss with `needs` takes, for the shared harnesses (stability, gradcheck, options):
fixed inputs of the right kind, so every registered loss runs through them."""
from __future__ import annotations

import pytest
import torch

FEATURE_DIM = 16
NUM_SAMPLES = 64  # elr's per-sample buffer: rows 0..N-1 are the batch's samples (N <= 64 here)


def needs_inputs(loss_fn, logits: torch.Tensor, seed: int = 0) -> dict:
    """features: Gaussian [N, 16] in the logits' dtype (bf16 stays bf16, as under autocast);
    indices: 0..N-1 (sizing elr's buffer first); model: a Linear(16, C) in the logits' float dtype."""
    needs, n = getattr(loss_fn, "needs", frozenset()), logits.shape[0]
    g = torch.Generator().manual_seed(seed)
    inputs = {}
    if "features" in needs:
        inputs["features"] = torch.randn(n, FEATURE_DIM, generator=g, dtype=torch.float64).to(logits.dtype)
    if "indices" in needs:
        if loss_fn.ema_targets.shape[0] == 0:
            loss_fn.bind_training_set(num_samples=NUM_SAMPLES)
        inputs["indices"] = torch.arange(n)
    if "model" in needs:
        torch.manual_seed(seed)
        dtype = torch.float64 if logits.dtype == torch.float64 else torch.float32
        inputs["model"] = torch.nn.Linear(FEATURE_DIM, logits.shape[1]).to(dtype)
    return inputs


@pytest.fixture(name="needs_inputs")
def needs_inputs_fixture():
    return needs_inputs
