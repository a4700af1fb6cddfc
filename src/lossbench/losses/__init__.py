"""The loss library: `build_loss(name, num_classes=..., class_counts=..., **params)`.

Importing this package registers every loss (one module per loss or family); `list_losses()` then
names them all. See docs/LOSSES.md for the formulas, papers and defaults.
"""
from lossbench.losses.base import ClassificationLoss
from lossbench.losses.registry import build_loss, get_loss_class, list_losses, register_loss

# Registration happens on import: keep one import per loss module here.
from lossbench.losses import (  # noqa: E402,F401  isort: skip
    alf, asl, ce, comp_sum, dual_focal, encouraging, focal, js, ldam, ldr, logit_adjust, poly, squentropy, symmetric,
    taylor, vs)

from lossbench.losses.alf import AELLoss, AGCELoss, AULLoss, NCEandAELLoss, NCEandAGCELoss, NCEandAULLoss  # noqa: E402
from lossbench.losses.asl import AsymmetricSingleLabelLoss  # noqa: E402
from lossbench.losses.ce import CrossEntropyLoss  # noqa: E402
from lossbench.losses.comp_sum import CompSumLoss, GeneralizedCrossEntropyLoss  # noqa: E402
from lossbench.losses.dual_focal import DualFocalLoss  # noqa: E402
from lossbench.losses.encouraging import EncouragingLoss  # noqa: E402
from lossbench.losses.focal import FocalLoss  # noqa: E402
from lossbench.losses.js import JensenShannonLoss  # noqa: E402
from lossbench.losses.ldam import LDAMLoss  # noqa: E402
from lossbench.losses.ldr import LDRKLLoss  # noqa: E402
from lossbench.losses.logit_adjust import BalancedSoftmaxLoss, LogitAdjustedLoss  # noqa: E402
from lossbench.losses.poly import Poly1CrossEntropyLoss, Poly1FocalLoss  # noqa: E402
from lossbench.losses.squentropy import SquentropyLoss  # noqa: E402
from lossbench.losses.symmetric import MAELoss, NCEandRCELoss, NormalizedCrossEntropyLoss, SymmetricCrossEntropyLoss  # noqa: E402,E501
from lossbench.losses.taylor import TaylorCrossEntropyLoss  # noqa: E402
from lossbench.losses.vs import VSLoss  # noqa: E402

__all__ = ["ClassificationLoss", "build_loss", "get_loss_class", "list_losses", "register_loss",
           "AELLoss", "AGCELoss", "AULLoss", "AsymmetricSingleLabelLoss", "BalancedSoftmaxLoss", "CompSumLoss",
           "CrossEntropyLoss", "DualFocalLoss", "EncouragingLoss", "FocalLoss", "GeneralizedCrossEntropyLoss",
           "JensenShannonLoss", "LDAMLoss", "LDRKLLoss", "LogitAdjustedLoss", "MAELoss", "NCEandAELLoss",
           "NCEandAGCELoss", "NCEandAULLoss", "NCEandRCELoss", "NormalizedCrossEntropyLoss", "Poly1CrossEntropyLoss",
           "Poly1FocalLoss", "SquentropyLoss", "SymmetricCrossEntropyLoss", "TaylorCrossEntropyLoss", "VSLoss"]
