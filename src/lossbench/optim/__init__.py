"""Optimizers lossbench adds to torch.optim: sharpness-aware minimisation (sam.py)."""
from lossbench.optim.sam import SAM

__all__ = ["SAM"]
